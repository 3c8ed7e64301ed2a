"""A real git repository holding a copy of this repository's manifests (what the commands work on)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from gitops.toolchain import repo_root

COPIED = ("gitops.yaml", ".yamllint", "apps", "addons", "clusters", "argocd")
GIT_IDENTITY = {
    "GIT_AUTHOR_NAME": "test",
    "GIT_AUTHOR_EMAIL": "test@example.invalid",
    "GIT_COMMITTER_NAME": "test",
    "GIT_COMMITTER_EMAIL": "test@example.invalid",
    "GIT_CONFIG_NOSYSTEM": "1",
}


def git(cwd: Path, *args: str) -> str:
    """Run git with a fixed identity; its stdout."""
    env = {**os.environ, **GIT_IDENTITY}
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True, env=env).stdout


def copy_repo(dest: Path) -> Path:
    """``dest``: a fresh repository (branch main, one commit) with this checkout's manifests."""
    root = repo_root()
    dest.mkdir(parents=True, exist_ok=True)
    for name in COPIED:
        src = root / name
        if src.is_dir():
            shutil.copytree(src, dest / name)
        else:
            shutil.copy2(src, dest / name)
    git(dest, "init", "--quiet", "--initial-branch=main")
    git(dest, "add", "-A")
    git(dest, "commit", "--quiet", "-m", "initial")
    return dest
