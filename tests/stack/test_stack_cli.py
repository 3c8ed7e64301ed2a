"""`make up` failures are one line with the cause and what to do (issue 27 item 6), and waits scale with the load."""

from __future__ import annotations

import subprocess

import pytest

from harness.stack import __main__ as stack_cli
from harness.stack import procs


@pytest.mark.parametrize(
    "error",
    [
        subprocess.TimeoutExpired(["kubectl", "apply", "--server-side", "-k", "crds"], 120),
        TimeoutError("timed out after 180s waiting for dev: kube-apiserver ready: ..."),
        subprocess.CalledProcessError(1, ["openssl", "req"]),
    ],
)
def test_a_failed_up_is_one_line_with_what_to_do(monkeypatch, capsys, tmp_path, error):
    monkeypatch.setenv("STACK_DIR", str(tmp_path / "state"))

    def fail(root, real_node=False):
        raise error

    monkeypatch.setattr(stack_cli, "up", fail)
    assert stack_cli.main(["up"]) == 1
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1, err
    assert err.startswith("error: ")
    assert "Traceback" not in err
    if isinstance(error, (TimeoutError, subprocess.TimeoutExpired)):
        assert "STACK_TIMEOUT_SCALE=3" in err


def test_waits_scale_with_the_load_and_the_setting(monkeypatch):
    monkeypatch.delenv(procs.SCALE_ENV, raising=False)
    monkeypatch.setattr(procs.os, "getloadavg", lambda: (0.1, 0.1, 0.1))
    assert procs.scaled(100) == 100
    monkeypatch.setattr(procs.os, "getloadavg", lambda: (3.0 * (procs.os.cpu_count() or 1), 0, 0))
    assert procs.scaled(100) == pytest.approx(300)
    monkeypatch.setattr(procs.os, "getloadavg", lambda: (50.0 * (procs.os.cpu_count() or 1), 0, 0))
    assert procs.scaled(100) == 400  # at most four times
    monkeypatch.setenv(procs.SCALE_ENV, "2.5")
    assert procs.scaled(100) == 250
    for bad in ("fast", "0.5"):
        monkeypatch.setenv(procs.SCALE_ENV, bad)
        with pytest.raises(RuntimeError, match=procs.SCALE_ENV):
            procs.scaled(100)
