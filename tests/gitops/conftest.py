"""Real temporary git repositories holding a copy of this repository's manifests, and the
helpers the command tests share: run a command in-process (``run``) or as its own process
(``gitops``), and check that a refusal is one line and changed nothing (``refused``)."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from gitops.cli import main
from harness.testing.repo import GIT_IDENTITY, copy_repo, git

__all__ = [
    "DEV",
    "DIGEST",
    "PROD",
    "clone",
    "copy_repo",
    "git",
    "gitops",
    "one_error_line",
    "refused",
    "run",
    "snapshot",
    "state",
]
# The overlays the command tests edit, and a digest of the right form.
DEV = "apps/flask-app/overlays/dev/kustomization.yaml"
PROD = "apps/flask-app/overlays/prod/kustomization.yaml"
DIGEST = "sha256:" + "ab" * 32
GIT = shutil.which("git") or "git"  # state() still works when a test takes git off PATH


def run(repo: Path, *args: str) -> int:
    return main(["-C", str(repo), *args])


def gitops(
    cwd: Path, *args: str, timeout: float = 60, env: dict | None = None, **kwargs
) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "gitops", "-C", str(cwd), *args],
        capture_output="stdout" not in kwargs,
        text=True,
        check=False,
        timeout=timeout,
        env=env,
        **kwargs,
    )


def state(repo: Path) -> tuple:
    """Every file's bytes and mode, symbolic links, HEAD and the index: what must not change after an error."""
    files = {}
    for path in sorted(repo.rglob("*")):
        rel = path.relative_to(repo)
        if ".git" in rel.parts:
            continue
        if path.is_symlink():
            files[str(rel)] = ("link", os.readlink(path))
        elif path.is_file():
            files[str(rel)] = (stat.S_IMODE(path.stat().st_mode), path.read_bytes())
    if not (repo / ".git").exists():
        return files, None, None
    head = subprocess.run([GIT, "rev-parse", "HEAD"], cwd=repo, capture_output=True, text=True, check=False).stdout
    index = subprocess.run([GIT, "ls-files", "-s"], cwd=repo, capture_output=True, text=True, check=False).stdout
    return files, head, index


def one_error_line(err: str, *fragments: str) -> None:
    assert err.count("\n") == 1, err
    assert err.startswith("gitops: error: "), err
    assert "Traceback" not in err
    for fragment in fragments:
        assert fragment in err, err


def refused(repo: Path, capsys, code: int, args: list[str], *fragments: str) -> None:
    """``args`` exits ``code`` with one error line holding ``fragments``, and nothing changed."""
    before = state(repo)
    capsys.readouterr()
    assert run(repo, *args) == code
    one_error_line(capsys.readouterr().err, *fragments)
    assert state(repo) == before


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
