"""The service under a real gunicorn process with gunicorn.conf.py (2 workers)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
import time
from collections import Counter

import pytest

from gitops.toolchain import repo_root
from harness.testing import server as srv
from tests.app.test_endpoints import _sample

ROOT = repo_root()

pytestmark = pytest.mark.slow


def check_config(**env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(srv.GUNICORN), "--config", "gunicorn.conf.py", "--check-config", "flask_app.wsgi:app"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, **env},
    )


def test_check_config_passes():
    result = check_config()
    assert result.returncode == 0, result.stderr


def test_check_config_rejects_bad_port():
    result = check_config(PORT="x")
    assert result.returncode != 0
    assert "PORT='x'" in result.stderr + result.stdout


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"REQUEST_HEAD_TIMEOUT": "0"}, "REQUEST_HEAD_TIMEOUT"),
        ({"PROBE_MAX_CONNECTIONS": "0"}, "PROBE_MAX_CONNECTIONS"),
        ({"MAX_IDLE_CONNECTIONS": "1000"}, "MAX_IDLE_CONNECTIONS=1000"),
        ({"MAX_IDLE_CONNECTIONS": "64", "GUNICORN_WORKER_CONNECTIONS": "64"}, "GUNICORN_WORKER_CONNECTIONS=64"),
        ({"READINESS_TRAFFIC_TIMEOUT_MS": "x"}, "READINESS_TRAFFIC_TIMEOUT_MS='x'"),
        ({"GRACEFUL_TIMEOUT": "²"}, "GRACEFUL_TIMEOUT='²' is not a non-negative integer"),
    ],
)
def test_check_config_rejects_bad_abuse_bounds(env, named):
    result = check_config(**env)
    assert result.returncode != 0
    assert named in result.stderr + result.stdout


@pytest.fixture
def running(tmp_path):
    server = srv.start(tmp_path, WEB_CONCURRENCY="2", APP_ENV="test", APP_VERSION="9.9.9")
    server.wait_ready()
    yield server
    server.stop(signal.SIGINT)


def test_endpoints_answer(running):
    assert srv.get(running.port, "/livez")[0] == 200
    assert srv.get(running.port, "/readyz")[0] == 200
    status, body = srv.get(running.port, "/version")
    assert status == 200
    assert json.loads(body)["version"] == "9.9.9"
    assert srv.get(running.port, "/nope")[0] == 404


def test_metrics_totals_across_workers(running):
    metrics_dir = running.log_path.parent / f"flask-app-{running.port}" / "metrics"

    def serving_pids() -> set[str]:
        return {name.rsplit("_", 1)[1] for name in os.listdir(metrics_dir) if name.startswith("counter_")}

    sent = 0
    # Concurrent clients until both workers have served (bounded), then check the sum.
    while sent < 2000 and (sent < 120 or len(serving_pids()) < 2):
        threads = [threading.Thread(target=lambda: srv.get(running.port, "/")) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        sent += len(threads)
    assert len(serving_pids()) == 2, "both workers served requests"
    status, body = srv.get(running.port, "/metrics")
    assert status == 200
    text = body.decode()
    assert _sample(text, "http_requests_total", method="GET", route="/", status="200") == sent
    assert _sample(text, "app_build_info", version="9.9.9", commit="unknown", environment="test") == 1


def test_logs_are_json_lines(running):
    srv.get(running.port, "/version")
    time.sleep(0.2)
    lines = [json.loads(line) for line in running.log().splitlines() if line.strip()]
    loggers = Counter(entry["logger"] for entry in lines)
    assert loggers["gunicorn.error"] >= 2  # "Starting gunicorn", "Booting worker"
    access = [entry for entry in lines if entry["logger"] == "flask_app.access"]
    assert [entry["path"] for entry in access] == ["/version"]


def test_dead_worker_is_replaced_and_counts_survive(running):
    for _ in range(10):
        srv.get(running.port, "/")
    workers = subprocess.run(
        ["pgrep", "-P", str(running.process.pid)], capture_output=True, text=True, check=True
    ).stdout.split()
    os.kill(int(workers[0]), signal.SIGKILL)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        replaced = subprocess.run(
            ["pgrep", "-P", str(running.process.pid)], capture_output=True, text=True, check=False
        ).stdout.split()
        if len(replaced) == 2 and workers[0] not in replaced:
            break
        time.sleep(0.05)
    running.wait_ready()
    text = srv.get(running.port, "/metrics")[1].decode()
    # Counters keep what the dead worker served; the live gauge forgets it.
    assert _sample(text, "http_requests_total", method="GET", route="/", status="200") == 10
    assert _sample(text, "http_requests_in_flight") == 1


def test_sigterm_under_load_loses_no_request(tmp_path):
    drain, graceful = 2, 10
    server = srv.start(
        tmp_path,
        app="tests.app.slow_wsgi:app",
        WEB_CONCURRENCY="2",
        # Spare threads, so the two slow requests held in flight never starve the fast ones.
        GUNICORN_THREADS="4",
        DRAIN_SECONDS=str(drain),
        GRACEFUL_TIMEOUT=str(graceful),
    )
    server.wait_ready()
    results: list[object] = []
    lock = threading.Lock()
    stop_at = time.monotonic() + 1.5  # load ends inside the drain window

    def load(path: str, limit: int) -> None:
        for _ in range(limit):
            if time.monotonic() > stop_at:
                return
            try:
                status, _ = srv.get(server.port, path, timeout=15)
            except OSError as exc:
                status = repr(exc)
            with lock:
                results.append(status)

    slow = [threading.Thread(target=load, args=("/slow", 1)) for _ in range(2)]
    fast = [threading.Thread(target=load, args=("/", 400)) for _ in range(4)]
    for thread in slow + fast:
        thread.start()
    time.sleep(0.4)
    signalled = time.monotonic()
    server.process.send_signal(signal.SIGTERM)
    time.sleep(0.2)
    ready_status, ready_body = srv.get(server.port, "/readyz")
    for thread in slow + fast:
        thread.join(timeout=30)
    code = server.process.wait(timeout=drain + graceful + 5)
    took = time.monotonic() - signalled

    assert ready_status == 503
    assert json.loads(ready_body)["reason"] == "draining"
    assert code == 0, server.log()
    assert len(results) > 50
    assert Counter(results) == Counter({200: len(results)}), Counter(results)
    assert took < drain + graceful, took
