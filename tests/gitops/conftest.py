"""Real temporary git repositories holding a copy of this repository's manifests."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.testing.repo import GIT_IDENTITY, copy_repo, git

__all__ = ["clone", "copy_repo", "git", "snapshot"]


def snapshot(root: Path) -> dict[str, bytes]:
    """Every file's bytes (outside .git): compare before/after an operation."""
    return {
        str(p.relative_to(root)): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and ".git" not in p.relative_to(root).parts
    }


@pytest.fixture(autouse=True)
def _git_identity(monkeypatch, tmp_path):
    for key, value in GIT_IDENTITY.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))


@pytest.fixture
def repo(tmp_path) -> Path:
    return copy_repo(tmp_path / "repo")


@pytest.fixture
def origin(tmp_path) -> Path:
    """A bare 'origin' holding the copy, and a helper to make clones of it."""
    seed = copy_repo(tmp_path / "seed")
    bare = tmp_path / "origin.git"
    git(tmp_path, "clone", "--quiet", "--bare", str(seed), str(bare))
    return bare


def clone(origin: Path, dest: Path) -> Path:
    git(origin.parent, "clone", "--quiet", str(origin), str(dest))
    return dest
