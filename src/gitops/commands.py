"""The pure-ish functions behind each subcommand (the CLI is a thin layer over these)."""

from __future__ import annotations

import difflib
import json
import subprocess
import tarfile
import tempfile
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

from . import gitutil, images, refs
from .errors import GitopsError
from .render import Rendered, build_many, write_atomic
from .repo import Repo

Log = Callable[[str], None]


# --- set-image -----------------------------------------------------------------
def set_image(
    repo: Repo,
    env: str,
    tag: str,
    digest: str | None = None,
    image: str | None = None,
    log: Log = print,
) -> bool:
    """Point ``env`` at an image; True when the file changed. Validates before touching anything."""
    refs.tag(tag)
    if digest is not None:
        refs.digest(digest)
    if image is not None:
        refs.image_name(image)
    path = repo.kustomization(env)
    where = repo.rel(path)
    if env in repo.digest_required and digest is None:
        raise GitopsError(f"{where}: images[name={repo.app}].digest: {env} must be pinned by digest (--digest)")
    current = images.read(path, repo.app, where)
    want = {"newTag": tag, "digest": digest}
    if image is not None:
        want["newName"] = image
    target = images.ImageRef(image or current.name, tag, digest)
    if current == target:
        log(f"{env}: already at {target}")
        return False
    text = path.read_bytes().decode("utf-8")  # no newline translation: CRLF stays CRLF
    new_text = images.edit_text(text, repo.app, want, where)
    write_atomic(path, new_text)
    log(f"{env}: {current} -> {target}")
    return True


def deploy_message(env: str, app: str, ref: images.ImageRef) -> str:
    return f"deploy({env}): {app} {ref.tag}" + (f" ({ref.digest[:19]})" if ref.digest else "")


def commit_and_push(repo: Repo, env: str, apply: Callable[[], bool], push: bool, log: Log) -> None:
    path = repo.kustomization(env)
    ref = images.read(path, repo.app)
    message = deploy_message(env, repo.app, ref)
    if gitutil.commit(repo.root, [path], message):
        log(f"committed: {message}")
    if push:

        def reapply() -> bool:
            apply()
            return gitutil.commit(repo.root, [path], message)

        gitutil.push(repo.root, reapply, log=log)
        log("pushed")


# --- promote -------------------------------------------------------------------
def check_order(repo: Repo, source: str, target: str, force: bool) -> None:
    for env in (source, target):
        repo.overlay(env)
    order = repo.environments
    if order.index(target) != order.index(source) + 1 and not force:
        raise GitopsError(
            f"gitops.yaml: environments: {source} -> {target} is not the next stage "
            f"(order: {' -> '.join(order)}); use --force to skip stages"
        )


def promote(repo: Repo, source: str, target: str, force: bool = False, log: Log = print) -> bool:
    check_order(repo, source, target, force)
    ref = images.read(repo.kustomization(source), repo.app, repo.rel(repo.kustomization(source)))
    if not ref.tag:
        raise GitopsError(f"{repo.rel(repo.kustomization(source))}: images[name={repo.app}].newTag: missing")
    return set_image(repo, target, ref.tag, ref.digest, ref.name, log=log)


def _commit_of(repo: Repo, tag: str | None) -> str | None:
    """The commit a `sha-<hex>` tag was built from, if this repository has it."""
    if not tag or not tag.startswith("sha-"):
        return None
    result = gitutil.git(repo.root, "rev-parse", "--verify", "--quiet", f"{tag[4:]}^{{commit}}", check=False)
    return result.stdout.strip() or None


def pr_body(
    repo: Repo,
    source: str,
    target: str,
    before: images.ImageRef,
    after: images.ImageRef,
    diffs: dict[str, str],
) -> str:
    title = f"promote({target}): {repo.app} {after.tag} from {source}"
    lines = [
        title,
        "",
        f"Promotes **{repo.app}** from `{source}` to `{target}`.",
        "",
        "| | image |",
        "|---|---|",
        f"| {target} now | `{before}` |",
        f"| {target} after merge | `{after}` |",
        "",
    ]
    old, new = _commit_of(repo, before.tag), _commit_of(repo, after.tag)
    lines.append("### Commits")
    if old and new:
        log = gitutil.git(
            repo.root,
            "log",
            "--oneline",
            "--no-decorate",
            f"{old}..{new}",
            "--",
            "src",
            "Dockerfile",
            "gunicorn.conf.py",
            "requirements",
        ).stdout.strip()
        lines += ["```", log or "(no service changes between the two images)", "```"]
    else:
        lines.append("(the commits of one or both images are not in this repository's history)")
    lines += ["", "### Rendered changes per cluster"]
    if not diffs:
        lines.append("No rendered change.")
    for cluster, diff in diffs.items():
        lines += [
            "",
            f"<details><summary>{cluster}</summary>",
            "",
            "```diff",
            diff.rstrip(),
            "```",
            "",
            "</details>",
        ]
    return "\n".join(lines) + "\n"


# --- diff ----------------------------------------------------------------------
def _tree_at(repo: Repo, ref: str, dest: Path) -> Path:
    """Extract the repository at ``ref`` into ``dest`` (read-only use, no worktree state)."""
    gitutil.git(repo.root, "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}")
    archive = subprocess.run(["git", "archive", "--format=tar", ref], cwd=repo.root, capture_output=True, check=False)
    if archive.returncode != 0:
        raise GitopsError(f"git archive {ref} failed: {archive.stderr.decode().strip()}", 1)
    tar_path = dest / "tree.tar"
    tar_path.write_bytes(archive.stdout)
    tree = dest / "tree"
    with tarfile.open(tar_path) as tar:
        tar.extractall(tree, filter="data")
    return tree


def rendered_diffs(repo: Repo, base: str, clusters: list[str] | None = None) -> dict[str, str]:
    """Unified diff per cluster between ``base`` and the working tree (only changed ones)."""
    names = [c.path.name for c in repo.clusters()]
    if clusters is not None:
        names = [n for n in names if n in clusters]
    with tempfile.TemporaryDirectory(prefix="gitops-diff-") as tmp:
        old_root = _tree_at(repo, base, Path(tmp))
        clusters_rel = repo.clusters_dir.relative_to(repo.root)
        old_targets = [old_root / clusters_rel / n for n in names]
        new_targets = [repo.clusters_dir / n for n in names]
        exists = [t.is_dir() for t in old_targets]
        results = build_many([t for t, e in zip(old_targets, exists, strict=True) if e] + new_targets)
    old_iter = iter(results[: sum(exists)])
    new_results = results[sum(exists) :]
    out: dict[str, str] = {}
    for name, existed, new in zip(names, exists, new_results, strict=True):
        old = next(old_iter) if existed else None
        for result in (old, new):
            if isinstance(result, GitopsError):
                raise result
        old_text = old.text if isinstance(old, Rendered) else ""
        new_text = new.text if isinstance(new, Rendered) else ""
        if old_text == new_text:
            continue
        out[name] = "".join(
            difflib.unified_diff(
                old_text.splitlines(keepends=True),
                new_text.splitlines(keepends=True),
                fromfile=f"{base}/clusters/{name}",
                tofile=f"working-tree/clusters/{name}",
            )
        )
    return out


# --- status --------------------------------------------------------------------
@dataclass
class EnvStatus:
    environment: str
    clusters: list[str]
    image: str | None
    tag: str | None
    digest: str | None
    commit: str | None
    date: str | None


def status(repo: Repo) -> list[EnvStatus]:
    clusters = repo.clusters()
    rows = []
    for env in repo.environments:
        path = repo.kustomization(env)
        ref = images.read(path, repo.app, repo.rel(path))
        last = gitutil.git(repo.root, "log", "-1", "--format=%h %cs", "--", repo.rel(path), check=False)
        commit, _, date = last.stdout.strip().partition(" ")
        rows.append(
            EnvStatus(
                env,
                [c.name for c in clusters if c.environment == env],
                ref.name,
                ref.tag,
                ref.digest,
                commit or None,
                date or None,
            )
        )
    return rows


def status_table(rows: list[EnvStatus]) -> str:
    header = ("ENVIRONMENT", "CLUSTERS", "IMAGE", "TAG", "DIGEST", "CHANGED")
    table = [header] + [
        (
            r.environment,
            ",".join(r.clusters) or "-",
            r.image or "-",
            r.tag or "-",
            (r.digest or "-")[:19],
            f"{r.commit} {r.date}" if r.commit else "uncommitted",
        )
        for r in rows
    ]
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() for row in table)


def status_json(rows: list[EnvStatus]) -> str:
    return json.dumps([asdict(r) for r in rows], indent=2)


# --- configure -----------------------------------------------------------------
CONFIGURE_ROOTS = ("gitops.yaml", "apps", "clusters", "argocd", ".github", "README.md")


def _repo_url_ok(url: str) -> bool:
    import re

    return bool(
        re.fullmatch(
            r"https://[A-Za-z0-9.-]+(:[0-9]+)?/[A-Za-z0-9._/-]+|"
            r"git@[A-Za-z0-9.-]+:[A-Za-z0-9._/-]+",
            url,
        )
    )


def configure(repo: Repo, repo_url: str | None, image: str | None, log: Log = print) -> dict[Path, bytes]:
    """Rewrite the repository URL and image name everywhere; returns each changed file's old bytes."""
    if repo_url is not None and not _repo_url_ok(repo_url):
        raise GitopsError(f"--repo {repo_url!r}: expected https://host/owner/name(.git) or git@host:owner/name")
    if image is not None:
        refs.image_name(image)
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
    changed: dict[Path, str] = {}
    for top in CONFIGURE_ROOTS:
        base = repo.root / top
        files = [base] if base.is_file() else sorted(p for p in base.rglob("*") if p.is_file())
        for path in files:
            if path.suffix not in (".yaml", ".yml", ".md"):
                continue
            text = path.read_bytes().decode("utf-8")
            new = text
            for old, replacement in replacements:
                new = new.replace(old, replacement)
            if new != text:
                changed[path] = new
    originals = {path: path.read_bytes() for path in changed}
    try:
        for path, text in changed.items():
            write_atomic(path, text)
    except OSError:
        for path, text in originals.items():
            write_atomic(path, text)
        raise
    for path in changed:
        log(f"configure: rewrote {repo.rel(path)}")
    return originals
