"""validate on files that broke it: a lone ']' crashes yamllint itself; a FIFO blocks whoever opens it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest


def validate(repo, *paths: str, timeout: float = 120) -> subprocess.CompletedProcess:
    """`gitops validate` in its own process group: on a time-out the group is killed (a reader blocked
    on a FIFO included) and the test fails."""
    command = [sys.executable, "-m", "gitops", "-C", str(repo), "validate", *paths]
    with subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True
    ) as proc:
        try:
            out, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
            pytest.fail(f"gitops validate {' '.join(paths)} still running after {timeout}s")
    return subprocess.CompletedProcess(command, proc.returncode, out, err)


def test_a_file_yamllint_crashes_on_is_a_finding(repo):
    bad = repo / "clusters" / "dev" / "extra.yaml"
    bad.write_text("]\n")
    result = validate(repo, str(repo / "clusters" / "dev"))
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert "internal error" not in result.stderr
    assert "clusters/dev/extra.yaml" in result.stdout


@pytest.mark.parametrize("how", ["fifo", "symlink-to-fifo"])
@pytest.mark.parametrize("paths", [(), ("argocd",)], ids=["everything", "argocd"])
def test_a_fifo_the_applicationset_reads_is_refused_without_hanging(repo, how, paths):
    """The ApplicationSet renderer (Go) would open clusters/<name>/config.yaml and wait for a writer for ever."""
    config = repo / "clusters" / "dev" / "config.yaml"
    config.unlink()
    if how == "fifo":
        os.mkfifo(config)
    else:
        os.mkfifo(repo / "clusters" / "pipe")
        config.symlink_to("../pipe")
    result = validate(repo, *(str(repo / p) for p in paths), timeout=60)
    # A finding of the gate (exit 1), like every other file it cannot use, not an abort.
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    refusal = "clusters/dev/config.yaml: cannot read: not a regular file (an ApplicationSet's git generator reads it)"
    assert any(refusal in line for line in result.stdout.splitlines()), result.stdout
