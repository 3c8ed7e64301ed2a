"""`gitops configure`: rewrite this fork's repository URL and image name everywhere, then validate.

When the validation fails, every rewritten file is restored.
"""

from __future__ import annotations

import argparse
import os
import re
from collections.abc import Callable
from pathlib import Path

from .. import console, files, oci
from ..deploy import Log
from ..errors import FAILED, GitopsError
from ..file_schemas import REPO_URL_RE
from ..repo import Repo

CONFIGURE_ROOTS = ("gitops.yaml", "apps", "addons", "clusters", "argocd", ".github", "README.md")
SUFFIXES = (".yaml", ".yml", ".md")


def plan_configure(repo: Repo, repo_url: str | None, image: str | None) -> list[files.Change]:
    """The files that change when the repository URL and image name are rewritten everywhere; nothing is written."""
    if repo_url is not None and not REPO_URL_RE.fullmatch(repo_url):
        raise GitopsError(f"--repo {repo_url!r}: expected https://host/owner/name(.git) or git@host:owner/name")
    if image is not None:
        oci.image_name(image)
        host = image.split("/", 1)[0]
        if "/" not in image or not ("." in host or ":" in host or host == "localhost"):
            raise GitopsError(
                f"--image {image!r}: name its registry (registry.example.com/owner/name): "
                "the add-ons' mirrors sit beside it (docs/addons.md)"
            )
        for addon in repo.addons:
            if image == addon.mirror(image):
                raise GitopsError(f"--image {image!r}: that is add-on {addon.name}'s mirror; give the app its own name")
    replacements: list[tuple[str, str]] = []
    if repo_url is not None and repo_url != repo.repo_url:
        replacements.append((repo.repo_url, repo_url))
        old_web, new_web = repo.repo_url.removesuffix(".git"), repo_url.removesuffix(".git")
        if old_web != repo.repo_url:
            replacements.append((old_web, new_web))
        old_api, new_api = github_api(old_web), github_api(new_web)
        if old_api and new_api:  # the notifications' repository_dispatch URL
            replacements.append((old_api, new_api))
    if image is not None and image != repo.image:
        replacements.append((repo.image, image))
        # Each add-on's mirror sits beside the app's image (repo.Addon.mirror): same registry and owner.
        replacements += [
            (addon.mirror(repo.image), addon.mirror(image))
            for addon in repo.addons
            if addon.mirror(repo.image) != addon.mirror(image) and "/" in repo.image
        ]
    if not replacements:
        return []
    # One pass, longest match first: a new URL that extends the old one
    # (flask-gitops -> flask-gitops2) is never rewritten a second time.
    mapping = dict(replacements)
    pattern = re.compile("|".join(re.escape(old) for old in sorted(mapping, key=len, reverse=True)))
    changes: list[files.Change] = []
    for path in _candidates(repo):
        where = repo.rel(path)
        old = files.read_bytes(path, where)
        text = files.decode(old, where)
        new = pattern.sub(lambda match: mapping[match.group(0)], text)
        if new != text:
            changes.append(files.Change(path, old, new.encode("utf-8"), where))
    return changes


def github_api(web_url: str) -> str | None:
    """``https://api.github.com/repos/OWNER/NAME`` for a GitHub repository URL, else None."""
    for prefix in ("https://github.com/", "git@github.com:"):
        if web_url.startswith(prefix):
            return "https://api.github.com/repos/" + web_url.removeprefix(prefix)
    return None


def leftovers(repo: Repo, old_url: str) -> list[str]:
    """The files that still hold the old repository's OWNER/NAME after the rewrite."""
    path = old_url.removesuffix(".git").split("://", 1)[-1].split(":", 1)[-1].split("/", 1)[-1]
    if path.count("/") < 1:
        return []
    found = []
    for candidate in _candidates(repo):
        where = repo.rel(candidate)
        if path in files.decode(files.read_bytes(candidate, where), where):
            found.append(where)
    return found


def _candidates(repo: Repo) -> list[Path]:
    """Every YAML and Markdown file under CONFIGURE_ROOTS (symbolic links to folders are not followed)."""
    out: list[Path] = []
    for top in CONFIGURE_ROOTS:
        base = repo.root / top
        if base.is_symlink() or not base.exists():
            if base.is_symlink() and base.suffix in SUFFIXES:
                out.append(base)  # refused when it has to change
            continue
        if base.is_file():
            out.append(base)
            continue
        for dirpath, dirnames, filenames in os.walk(base, onerror=_walk_error):
            dirnames.sort()
            out += [Path(dirpath) / name for name in sorted(filenames) if name.endswith(SUFFIXES)]
    return out


def _walk_error(exc: OSError) -> None:
    raise GitopsError(f"{exc.filename}: cannot list: {exc.strerror}")


def configure(
    repo: Repo,
    repo_url: str | None,
    image: str | None,
    log: Log = console.say,
    after_write: Callable[[list[files.Change]], None] | None = None,
) -> list[files.Change]:
    """Rewrite the repository URL and image name everywhere; returns the changes made.

    Under the repository lock; ``after_write`` (the validation) runs once the files are
    written, and when it (or anything) fails every file is restored.
    """
    with files.repo_lock(repo.root):
        changes = plan_configure(repo, repo_url, image)
        if not changes:
            log("configure: already configured")
            return []
        files.apply(changes, repo.root)
        try:
            for change in changes:
                log(f"configure: rewrote {change.label}")
            if repo_url is not None:
                for where in leftovers(repo, repo.repo_url):
                    log(f"configure: note: {where} still names the old repository (not a URL form configure knows)")
            if after_write is not None:
                after_write(changes)
        except BaseException:
            files.revert(changes)
            raise
    return changes


def run(repo: Repo, args: argparse.Namespace) -> int:
    if args.repo_url is None and args.image is None:
        raise GitopsError("configure: give --repo URL, --image NAME, or both")
    plan_configure(repo, args.repo_url, args.image)  # bad input fails here, before the lock
    summary: list[str] = []

    def check(changes: list[files.Change]) -> None:
        from ..validation import validate

        report = validate(Repo.load(repo.root))
        if report.errors:
            for line in report.errors:
                console.say(line)
            raise GitopsError("configure: validation failed after the rewrite; every file restored", FAILED)
        summary.append(report.summary())

    configure(repo, args.repo_url, args.image, after_write=None if args.no_validate else check)
    for line in summary:
        console.say(line)
    return 0
