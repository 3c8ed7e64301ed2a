"""The command line's error boundary: every failure is one line on stderr and exit 1 or 2, never a traceback."""

from __future__ import annotations

import os
import subprocess

from gitops.cli import main
from tests.gitops.conftest import gitops, one_error_line, refused, state


def test_root_that_is_not_a_folder(repo, capsys):
    before = state(repo)
    assert main(["-C", str(repo / "gitops.yaml"), "status"]) == 2
    one_error_line(capsys.readouterr().err, "not a folder")
    assert main(["-C", "a\0b", "status"]) == 2
    one_error_line(capsys.readouterr().err, "not a path")
    assert state(repo) == before


def test_argparse_errors_are_one_line(repo, capsys):
    refused(repo, capsys, 2, ["set-image", "--env", "dev"], "the following arguments are required: --tag")
    refused(repo, capsys, 2, ["status", "--output", "xml"], "invalid choice: 'xml'")
    refused(repo, capsys, 2, ["no-such-command"], "invalid choice")


def test_status_into_a_closed_pipe(repo):
    read, write = os.pipe()
    os.close(read)
    try:
        result = gitops(repo, "status", "--output", "json", stdout=write, stderr=subprocess.PIPE)
    finally:
        os.close(write)
    assert result.stderr == ""
    assert result.returncode == 0
