"""`gitops diff`: the rendered diff of every cluster between a git ref and the working tree."""

from __future__ import annotations

import argparse
import difflib
import subprocess
import tarfile
import tempfile
from pathlib import Path

from .. import gitutil
from ..errors import GitopsError
from ..kustomize import Rendered, build_many
from ..repo import Repo


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


def run(repo: Repo, args: argparse.Namespace) -> int:
    diffs = rendered_diffs(repo, args.base)
    if not diffs:
        print(f"No rendered changes against {args.base}.")
        return 0
    for cluster, diff in diffs.items():
        print(f"### clusters/{cluster}")
        print(diff, end="" if diff.endswith("\n") else "\n")
    return 1
