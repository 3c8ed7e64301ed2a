"""Every endpoint and error path through Flask's test client."""

from __future__ import annotations

import io
import json
import logging
import re
import socket

import pytest

from flask_app import create_app
from flask_app.jsonlog import ACCESS_FIELDS, AccessLog, JsonFormatter
from flask_app.lifecycle import Lifecycle


def test_index_names_service_version_environment(monkeypatch):
    monkeypatch.setenv("APP_ENV", "staging")
    monkeypatch.setenv("APP_VERSION", "1.4.2")
    response = create_app().test_client().get("/")
    assert response.status_code == 200
    assert response.get_json() == {
        "service": "flask-app",
        "version": "1.4.2",
        "environment": "staging",
    }


def test_version_reports_build_and_pod(monkeypatch):
    for name, value in {
        "APP_VERSION": "2.0.0",
        "GIT_SHA": "1a2b3c4d",
        "BUILD_DATE": "2026-11-26T10:00:00Z",
        "IMAGE_TAG": "sha-1a2b3c4",
        "APP_ENV": "prod",
        "POD_NAME": "flask-app-abc",
        "POD_NAMESPACE": "flask-app-prod",
        "NODE_NAME": "node-1",
    }.items():
        monkeypatch.setenv(name, value)
    body = create_app().test_client().get("/version").get_json()
    assert body == {
        "service": "flask-app",
        "version": "2.0.0",
        "commit": "1a2b3c4d",
        "build_date": "2026-11-26T10:00:00Z",
        "image_tag": "sha-1a2b3c4",
        "environment": "prod",
        "pod": "flask-app-abc",
        "namespace": "flask-app-prod",
        "node": "node-1",
    }


def test_defaults_without_environment(client):
    body = client.get("/version").get_json()
    assert body["version"] == "0.0.0-dev"
    assert body["commit"] == "unknown"
    assert body["environment"] == "local"
    assert body["pod"] is None


def test_debug_cannot_be_enabled_from_environment(monkeypatch):
    monkeypatch.setenv("FLASK_DEBUG", "1")
    app = create_app()
    assert app.debug is False
    assert app.config["DEBUG"] is False


def test_livez_is_ok_even_when_not_ready():
    app = create_app({"DEFER_READY": True})
    client = app.test_client()
    assert client.get("/livez").status_code == 200
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.get_json() == {"status": "unavailable", "reason": "starting"}


def test_readyz_ok_when_ready(client):
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok"}


def test_readyz_503_while_draining(app, client):
    app.extensions["lifecycle"].begin_drain()
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.get_json()["reason"] == "draining"
    # Draining is not dying: everything else still answers.
    assert client.get("/").status_code == 200
    assert client.get("/livez").status_code == 200


def test_probes_skip_flask_but_answer_like_its_routes(app, client):
    """GET and HEAD on the probes are answered before Flask; other methods still get Flask's 405."""

    @app.before_request
    def refuse():
        return {"refused": True}, 418

    assert client.get("/").status_code == 418  # an app route goes through Flask's hooks
    metrics = app.wsgi_app.metrics.exposition().decode()
    assert _sample(metrics, "http_requests_total", method="GET", route="/", status="418") == 1  # the route matched
    for path in ("/livez", "/readyz"):
        response = client.get(path)
        assert (response.status_code, response.get_json()) == (200, {"status": "ok"})
        assert response.headers["Content-Type"] == "application/json"
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        head = client.head(path)
        assert (head.status_code, head.data) == (200, b"")
        assert head.headers["Content-Length"] == str(len(response.data))
        assert client.post(path).status_code == 418  # not a probe: Flask (and its hooks) answer
    app.extensions["lifecycle"].begin_drain()
    assert client.head("/readyz").status_code == 503
    # The Flask views give the same answers (a caller that bypasses the middleware).
    with app.test_request_context("/readyz"):
        view = app.view_functions["health.readyz"]()
        assert (view.status_code, view.get_json()) == (503, {"status": "unavailable", "reason": "draining"})


def test_probe_metrics_still_count_by_route(monkeypatch):
    app = create_app()
    client = app.test_client()
    client.get("/livez")
    client.head("/readyz")
    text = client.get("/metrics").get_data(as_text=True)
    assert _sample(text, "http_requests_total", method="GET", route="/livez", status="200") == 1
    assert _sample(text, "http_requests_total", method="HEAD", route="/readyz", status="200") == 1


def test_drain_file_shared_between_processes(tmp_path):
    marker = tmp_path / "draining"
    lifecycle = Lifecycle(str(marker))
    lifecycle.mark_ready()
    assert lifecycle.state == "ready"
    marker.write_text("1")
    assert lifecycle.state == "draining"


def test_readyz_reports_failed_dependency():
    with socket.socket() as sock:  # a port that was free a moment ago: nothing listens
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    app = create_app({"READINESS_TCP_CHECKS": [f"127.0.0.1:{port}"]})
    response = app.test_client().get("/readyz")
    assert response.status_code == 503
    assert response.get_json()["reason"].startswith(f"dependency 127.0.0.1:{port} unreachable")


def test_readyz_passes_when_dependency_listens(monkeypatch):
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        monkeypatch.setenv("READINESS_TCP_CHECKS", f"127.0.0.1:{server.getsockname()[1]}")
        response = create_app().test_client().get("/readyz")
    assert response.status_code == 200


def test_bad_readiness_target_is_rejected(monkeypatch):
    monkeypatch.setenv("READINESS_TCP_CHECKS", "no-port-here")
    with pytest.raises(ValueError, match="READINESS_TCP_CHECKS entry 'no-port-here'"):
        create_app()


@pytest.mark.parametrize("value", ["ten", "-1"])
def test_bad_integer_setting_is_a_clear_error(monkeypatch, value):
    monkeypatch.setenv("MAX_CONTENT_LENGTH", value)
    with pytest.raises(ValueError, match="MAX_CONTENT_LENGTH"):
        create_app()


def _assert_json_error(response, status):
    assert response.status_code == status
    assert response.mimetype == "application/json"
    body = response.get_json()
    assert set(body) == {"error", "status", "request_id"}
    assert body["status"] == status
    assert body["request_id"] == response.headers["X-Request-ID"]
    assert b"<html" not in response.data.lower()
    return body


def test_404_is_json(client):
    _assert_json_error(client.get("/does-not-exist"), 404)


def test_405_is_json_with_allow_header(client):
    response = client.post("/livez")
    _assert_json_error(response, 405)
    assert "GET" in response.headers["Allow"]


def test_413_for_body_over_limit():
    client = create_app({"MAX_CONTENT_LENGTH": 16}).test_client()
    _assert_json_error(client.post("/", data=b"x" * 17), 413)


def test_413_for_chunked_body_over_limit():
    """A body of undeclared length is measured too, even where no view reads it."""
    client = create_app({"MAX_CONTENT_LENGTH": 16}).test_client()
    chunked = {"Transfer-Encoding": "chunked"}
    _assert_json_error(client.get("/", input_stream=io.BytesIO(b"x" * 17), headers=chunked), 413)
    assert client.get("/", input_stream=io.BytesIO(b"x" * 16), headers=chunked).status_code == 200


def test_500_hides_the_traceback(caplog):
    app = create_app()

    @app.get("/boom")
    def boom():
        raise RuntimeError("secret internals")

    with caplog.at_level(logging.ERROR, logger="flask_app"):
        app.logger  # noqa: B018 - make sure Flask's logger exists before the request
        logging.getLogger("flask_app").propagate = True
        response = app.test_client().get("/boom")
    body = _assert_json_error(response, 500)
    assert "secret internals" not in response.get_data(as_text=True)
    assert body["error"].startswith("The server encountered an internal error")
    assert any("unhandled exception" in r.getMessage() for r in caplog.records)


def test_security_headers_on_every_response(client):
    for path in ("/", "/livez", "/readyz", "/version", "/metrics", "/missing"):
        headers = client.get(path).headers
        assert headers["X-Content-Type-Options"] == "nosniff"
        assert headers["X-Frame-Options"] == "DENY"
        assert headers["Cache-Control"] == "no-store"
        assert "default-src 'none'" in headers["Content-Security-Policy"]


def test_request_id_is_honoured_or_generated(client):
    assert client.get("/", headers={"X-Request-ID": "abc-123"}).headers["X-Request-ID"] == "abc-123"
    generated = client.get("/").headers["X-Request-ID"]
    assert re.fullmatch(r"[0-9a-f]{32}", generated)
    assert client.get("/").headers["X-Request-ID"] != generated
    # A hostile id (newlines, too long) is replaced, never echoed.
    hostile = client.get("/", headers={"X-Request-ID": "a\tb" + "x" * 200})
    assert hostile.headers["X-Request-ID"] != "a\tb" + "x" * 200
    assert len(hostile.headers["X-Request-ID"]) == 32


def test_access_log_is_one_json_line(capsys):
    app = create_app()
    app.test_client().get("/version", headers={"X-Request-ID": "req-1"})
    lines = [line for line in capsys.readouterr().out.splitlines() if line]
    assert len(lines) == 1
    entry = json.loads(lines[0])
    assert entry["logger"] == "flask_app.access"
    assert entry["level"] == "info"
    assert entry["method"] == "GET"
    assert entry["path"] == "/version"
    assert entry["status"] == 200
    assert entry["request_id"] == "req-1"
    assert entry["remote_addr"] == "127.0.0.1"
    assert isinstance(entry["duration_ms"], float)
    assert entry["time"].endswith("Z")


def test_access_log_follows_the_logging_configuration(capsys):
    """The access log's fast path writes JsonFormatter's line; any other logging setup gets a LogRecord."""
    app = create_app()
    app.test_client().get("/", headers={"User-Agent": 'ua\t"x'})
    fast = json.loads(capsys.readouterr().out)
    record = logging.LogRecord("flask_app.access", logging.INFO, "", 0, "request", (), None)
    record.__dict__.update({k: v for k, v in fast.items() if k not in {"time", "level", "logger", "message"}})
    assert json.loads(JsonFormatter().format(record)).keys() == fast.keys()
    assert fast["user_agent"] == 'ua\t"x'

    captured: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.emit = captured.append
    access = logging.getLogger("flask_app.access")
    access.addHandler(handler)  # two handlers: the fast path steps aside
    try:
        app.test_client().get("/version")
    finally:
        access.removeHandler(handler)
    assert [(r.getMessage(), r.path, r.status) for r in captured] == [("request", "/version", 200)]
    assert json.loads(capsys.readouterr().out)["path"] == "/version"  # the stdout handler still wrote it
    access.setLevel(logging.WARNING)
    app.test_client().get("/")
    assert capsys.readouterr().out == ""


@pytest.mark.parametrize(
    "values",
    [
        ("GET", "/", "/", 200, 0.123, "a" * 32, "127.0.0.1", "wrk"),
        ("BREW", '/x\u00e9"\\\n\x00\ud800', "<unmatched>", 404, 1.5e-05, "req-1", None, "ua\t\u2028\U0001f600"),
        ("GET", "", "", 500, 0.0, "", "::1", ""),
        ("GET", "/big", "/big", 200, 123456789.125, "x", "10.0.0.1", "ü" * 300),
    ],
)
def test_access_line_is_json_formatters_line(values):
    """The fast line is byte for byte what JsonFormatter writes for the same request, hostile strings included."""
    created = 1764979200.0421
    record = logging.LogRecord("flask_app.access", logging.INFO, "", 0, "request", (), None)
    record.created = created
    record.__dict__.update(zip(ACCESS_FIELDS, values, strict=True))
    line = AccessLog().line(created, *values)
    assert line == JsonFormatter().format(record) + "\n"
    assert line.count("\n") == 1
    assert list(json.loads(line)) == ["time", "level", "logger", "message", *ACCESS_FIELDS]


@pytest.mark.parametrize("duration", [float("nan"), float("inf"), float("-inf")])
def test_access_line_non_finite_duration_is_json_formatters_too(duration):
    values = ("GET", "/", "/", 200, duration, "id", None, "")
    record = logging.LogRecord("flask_app.access", logging.INFO, "", 0, "request", (), None)
    record.created = 1.5
    record.__dict__.update(zip(ACCESS_FIELDS, values, strict=True))
    assert AccessLog().line(1.5, *values) == JsonFormatter().format(record) + "\n"


def test_access_log_refuses_a_wrong_number_of_values():
    create_app()
    with pytest.raises(TypeError, match="AccessLog takes 8 values"):
        AccessLog()("GET", "/", "/", 200, 1.0, "id")


def test_access_log_values_of_other_types_go_through_the_formatter(capsys):
    """A value the fast line does not encode (a test environ's odd REMOTE_ADDR) still gets logged, by JsonFormatter."""
    create_app()  # the usual logging setup, where the fast line would be written
    AccessLog()("GET", "/", "/", 200, 1.0, "id", ("127.0.0.1", 5), "ua")
    entry = json.loads(capsys.readouterr().out)
    assert entry["remote_addr"] == ["127.0.0.1", 5]
    assert entry["path"] == "/"


def test_probes_not_logged_unless_asked(capsys, monkeypatch):
    create_app().test_client().get("/livez")
    assert capsys.readouterr().out == ""
    monkeypatch.setenv("LOG_PROBES", "true")
    create_app().test_client().get("/livez")
    assert json.loads(capsys.readouterr().out)["path"] == "/livez"


def _sample(text: str, name: str, **labels: str) -> float:
    wanted = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        metric, _, value = line.rpartition(" ")
        metric_name, _, raw = metric.partition("{")
        found = ",".join(sorted(raw.rstrip("}").split(","))) if raw else ""
        if metric_name == name and found == wanted:
            return float(value)
    raise AssertionError(f"no sample {name}{{{wanted}}} in metrics")


def test_metrics_count_requests_by_route_and_status(monkeypatch):
    monkeypatch.setenv("APP_VERSION", "3.1.0")
    monkeypatch.setenv("GIT_SHA", "abc1234")
    monkeypatch.setenv("APP_ENV", "dev")
    client = create_app().test_client()
    for _ in range(3):
        client.get("/")
    client.get("/missing")
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/plain; version=")
    text = response.get_data(as_text=True)
    assert _sample(text, "http_requests_total", method="GET", route="/", status="200") == 3
    assert _sample(text, "http_requests_total", method="GET", route="<unmatched>", status="404") == 1
    assert _sample(text, "http_request_duration_seconds_count", method="GET", route="/", status="200") == 3
    # The scrape itself is in flight while it renders.
    assert _sample(text, "http_requests_in_flight") == 1
    assert _sample(text, "app_build_info", version="3.1.0", commit="abc1234", environment="dev") == 1


def test_unknown_methods_share_one_metric_label():
    client = create_app().test_client()
    for method in ("FROB", "BORF", "QUUX"):
        assert client.open("/", method=method).status_code == 405
    client.open("/", method="PATCH")
    text = client.get("/metrics").get_data(as_text=True)
    assert _sample(text, "http_requests_total", method="_OTHER", route="<unmatched>", status="405") == 3
    assert _sample(text, "http_requests_total", method="PATCH", route="<unmatched>", status="405") == 1
    assert "FROB" not in text


def test_two_apps_do_not_share_metrics():
    first, second = create_app().test_client(), create_app().test_client()
    first.get("/")
    text = second.get("/metrics").get_data(as_text=True)
    assert 'route="/"' not in text


def test_request_ids_differ_across_forked_processes():
    import os

    from flask_app.middleware import new_request_id

    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: report an id, then leave without running pytest's teardown
        os.write(write, new_request_id().encode())
        os._exit(0)
    os.waitpid(pid, 0)
    child = os.read(read, 64).decode()
    parent = new_request_id()
    assert child[:20] != parent[:20]
    assert len(child) == len(parent) == 32


def test_cached_pid_still_tells_forked_workers_apart(tmp_path):
    """With use_cached_pid (gunicorn.conf.py), a forked child writes its own samples, as with os.getpid."""
    script = f"""
import os
os.environ["PROMETHEUS_MULTIPROC_DIR"] = {str(tmp_path)!r}
from prometheus_client import CollectorRegistry, Counter, multiprocess, values
from flask_app.metrics import use_cached_pid
use_cached_pid()
count = Counter("forks", "x", registry=None)
count.inc()
child = os.fork()
if child == 0:
    count.inc(10)
    os._exit(0)
os.waitpid(child, 0)
registry = CollectorRegistry()
multiprocess.MultiProcessCollector(registry, path={str(tmp_path)!r})
print(registry.get_sample_value("forks_total"), sorted(os.listdir({str(tmp_path)!r})) == sorted(
    [f"counter_{{os.getpid()}}.db", f"counter_{{child}}.db"]))
"""
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=60)
    assert out.stdout.split() == ["11.0", "True"]  # 1 in the parent; the child starts from its own file: 10


def test_a_readiness_check_that_raises_answers_503():
    def broken():
        raise RuntimeError("secret detail")

    client = create_app({"READINESS_CHECKS": [broken]}).test_client()
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.get_json() == {"status": "unavailable", "reason": "broken: RuntimeError"}
