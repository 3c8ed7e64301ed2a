"""`gitops configure`: rewrite this fork's repository URL and image name everywhere, then validate.

When the validation fails, every rewritten file is restored.
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

from .. import oci
from ..errors import GitopsError
from ..files import write_atomic
from ..repo import Repo
from .set_image import Log

CONFIGURE_ROOTS = ("gitops.yaml", "apps", "clusters", "argocd", ".github", "README.md")
# https anywhere, plain http only on this machine (the local remote of `make up`), or ssh.
REPO_URL_RE = re.compile(
    r"https://[A-Za-z0-9.-]+(:[0-9]+)?/[A-Za-z0-9._/-]+"
    r"|http://(127\.0\.0\.1|localhost)(:[0-9]+)?/[A-Za-z0-9._/-]+"
    r"|git@[A-Za-z0-9.-]+:[A-Za-z0-9._/-]+"
)


def configure(repo: Repo, repo_url: str | None, image: str | None, log: Log = print) -> dict[Path, bytes]:
    """Rewrite the repository URL and image name everywhere; returns each changed file's old bytes."""
    if repo_url is not None and not REPO_URL_RE.fullmatch(repo_url):
        raise GitopsError(f"--repo {repo_url!r}: expected https://host/owner/name(.git) or git@host:owner/name")
    if image is not None:
        oci.image_name(image)
    replacements: list[tuple[str, str]] = []
    if repo_url is not None and repo_url != repo.repo_url:
        replacements.append((repo.repo_url, repo_url))
        old_web, new_web = repo.repo_url.removesuffix(".git"), repo_url.removesuffix(".git")
        if old_web != repo.repo_url:
            replacements.append((old_web, new_web))
    if image is not None and image != repo.image:
        replacements.append((repo.image, image))
    if not replacements:
        log("configure: already configured")
        return {}
    # One pass, longest match first: a new URL that extends the old one
    # (flask-gitops -> flask-gitops2) is never rewritten a second time.
    mapping = dict(replacements)
    pattern = re.compile("|".join(re.escape(old) for old in sorted(mapping, key=len, reverse=True)))
    changed: dict[Path, str] = {}
    for top in CONFIGURE_ROOTS:
        base = repo.root / top
        files = [base] if base.is_file() else sorted(p for p in base.rglob("*") if p.is_file())
        for path in files:
            if path.suffix not in (".yaml", ".yml", ".md"):
                continue
            text = path.read_bytes().decode("utf-8")
            new = pattern.sub(lambda match: mapping[match.group(0)], text)
            if new != text:
                changed[path] = new
    originals = {path: path.read_bytes() for path in changed}
    try:
        for path, text in changed.items():
            write_atomic(path, text)
    except OSError:
        restore(originals)
        raise
    for path in changed:
        log(f"configure: rewrote {repo.rel(path)}")
    return originals


def restore(originals: dict[Path, bytes]) -> None:
    for path, data in originals.items():
        write_atomic(path, data)


def run(repo: Repo, args: argparse.Namespace) -> int:
    if args.repo_url is None and args.image is None:
        raise GitopsError("configure: give --repo URL, --image NAME, or both")
    originals = configure(repo, args.repo_url, args.image)
    if not originals or args.no_validate:
        return 0
    from .validate import validate

    report = validate(Repo.load(repo.root))
    if report.errors:
        restore(originals)
        for line in report.errors:
            print(line)
        raise GitopsError("configure: validation failed after the rewrite; every file restored", 1)
    print(report.summary())
    return 0
