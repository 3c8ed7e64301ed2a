"""The task runner's own contract: clear one-line errors, idempotent installs."""

from __future__ import annotations

import os
import subprocess

from gitops.toolchain import repo_root

ROOT = repo_root()


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(args, cwd=ROOT, capture_output=True, text=True, check=False, env=env)


def test_unknown_target_is_one_line_listing_the_real_ones():
    result = run("make", "deploy-everything")
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "*** unknown target 'deploy-everything' (targets: help run test lint" in lines[0]


def test_missing_go_is_one_line_saying_what_to_install(tmp_path):
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    env.update({k: v for k, v in os.environ.items() if k.endswith("_VERSION")})
    if any(os.access(os.path.join(d, "go"), os.X_OK) for d in ("/usr/bin", "/bin")):
        env["PATH"] = str(tmp_path)  # a go in the system path: hide everything but bash
        os.symlink("/bin/bash", tmp_path / "bash")
    for script in ("tools/install.sh", "tools/build-k8s.sh"):
        result = run("/bin/bash", script, str(tmp_path / "tools"), env=env)
        assert result.returncode == 1, result.stderr
        assert result.stderr.count("\n") == 1
        assert "the Go toolchain is not installed; install Go 1.24 or newer" in result.stderr


def test_second_tools_run_installs_nothing():
    result = run("make", "tools")
    assert result.returncode == 0, result.stderr
    assert "all pinned tools already installed" in result.stdout
    assert "go install" not in result.stdout


def test_help_lists_the_two_commands():
    result = run("make", "help")
    assert result.returncode == 0
    targets = [line.split("\t")[0] for line in result.stdout.splitlines()]
    assert {"run", "test", "lint", "validate", "render", "bench", "tools", "clean", "e2e"} <= set(targets)
