"""`gitops diff`: the rendered diff of every cluster between a git ref and the working tree."""

from __future__ import annotations

import difflib
import re
import shutil
import tarfile
import tempfile
from pathlib import Path

from . import gitutil
from .errors import GitopsError
from .kustomize import Rendered, build_many
from .repo import Repo

# A revision as git reads it (HEAD, HEAD~2, origin/main, a commit id), never an option.
REF_RE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._/@{}~^-]{0,254}")


def check_ref(ref: str) -> str:
    if not REF_RE.fullmatch(ref) or ".." in ref:
        raise GitopsError(f"--base {ref!r}: not a git revision (e.g. HEAD, HEAD~1, origin/main, a commit id)")
    return ref


def _tree_at(repo: Repo, ref: str, dest: Path) -> Path:
    """Extract the repository at ``ref`` into ``dest`` (read-only use, no worktree state)."""
    check_ref(ref)
    commit = gitutil.git(repo.root, "rev-parse", "--verify", "--quiet", "--end-of-options", f"{ref}^{{commit}}")
    tar_path = dest / "tree.tar"
    # Run in the repository root: git archives that folder (the whole tree when it is the top).
    tar_path.write_bytes(gitutil.git_bytes(repo.root, "archive", "--format=tar", commit.stdout.strip()))
    out = dest / "tree"
    try:
        with tarfile.open(tar_path) as tar:
            tar.extractall(out, filter=_data_or_skip)  # noqa: S202 - git's own archive, data filter
    except (tarfile.TarError, OSError) as exc:
        raise GitopsError(f"git archive {ref}: cannot extract: {exc}", 1) from None
    return out


def _data_or_skip(member: tarfile.TarInfo, path: str) -> tarfile.TarInfo | None:
    """tarfile's "data" filter, skipping (not failing on) links that point outside the tree."""
    try:
        return tarfile.data_filter(member, path)
    except tarfile.FilterError:
        return None


def rendered_diffs(
    repo: Repo, base: str, clusters: list[str] | None = None, proposed: dict[Path, bytes | None] | None = None
) -> dict[str, str]:
    """Unified diff per cluster between ``base`` and the working tree (only changed ones).

    With ``proposed`` (file -> new bytes, or None to delete it), between ``base`` and
    ``base`` with those files replaced, in a temporary folder: the working tree is not
    read or written.
    """
    names = [c.path.name for c in repo.clusters()]
    if clusters is not None:
        names = [n for n in names if n in clusters]
    with tempfile.TemporaryDirectory(prefix="gitops-diff-") as tmp:
        old_root = _tree_at(repo, base, Path(tmp))
        clusters_rel = repo.clusters_dir.relative_to(repo.root)
        old_targets = [old_root / clusters_rel / n for n in names]
        new_root = repo.root
        if proposed is not None:
            new_root = Path(tmp) / "proposed"
            shutil.copytree(old_root, new_root, symlinks=True)
            for path, data in proposed.items():
                target = new_root / path.relative_to(repo.root)
                if data is None:
                    target.unlink(missing_ok=True)
                else:
                    target.parent.mkdir(parents=True, exist_ok=True)
                    target.write_bytes(data)
        new_targets = [new_root / clusters_rel / n for n in names]
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
                tofile=f"{'proposed' if proposed is not None else 'working-tree'}/clusters/{name}",
            )
        )
    return out


def markdown(diffs: dict[str, str]) -> list[str]:
    """The pull-request body's section of rendered changes, one folded diff per cluster."""
    lines = ["### Rendered changes per cluster"]
    if not diffs:
        lines.append("No rendered change.")
    for cluster, diff in diffs.items():
        lines += ["", f"<details><summary>{cluster}</summary>", "", "```diff", diff.rstrip(), "```", "", "</details>"]
    return lines
