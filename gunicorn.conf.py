"""gunicorn settings, all from environment variables.

Used by `make run`, the container image and the tests alike:
    gunicorn --config gunicorn.conf.py flask_app.wsgi:app

Shutdown, lined up with the Deployment (apps/flask-app/base/deployment.yaml):
  1. Kubernetes runs the preStop hook (sleep PRESTOP_SECONDS) while endpoints are removed.
  2. SIGTERM reaches this master. The drain file appears at once, so /readyz answers
     503 in every worker, and for DRAIN_SECONDS new connections are still served.
  3. Then a graceful stop: listeners close, workers finish in-flight requests within
     GRACEFUL_TIMEOUT, and the master exits 0.
  terminationGracePeriodSeconds >= PRESTOP_SECONDS + DRAIN_SECONDS + GRACEFUL_TIMEOUT.

Abuse: idle and slow clients (flask_app/worker.py reads request heads in each worker's
main loop, so a connection reaches a thread only with a whole request head):
  REQUEST_HEAD_TIMEOUT (s, default 10): a traffic connection that has not sent a whole
      request head this long after it was accepted (or after the first byte of its next
      request, when kept alive) is closed. Between requests, GUNICORN_KEEPALIVE applies.
  MAX_IDLE_CONNECTIONS (per worker, default 512): idle traffic connections, those still
      sending a head and those kept alive between requests. A new connection beyond it
      closes the oldest idle one (head-less ones first): idle clients cannot keep new
      ones out. Below GUNICORN_WORKER_CONNECTIONS (default 1000, gunicorn's hard cap on a
      worker's connections, busy ones included: beyond it, the worker stops accepting).
  PROBE_HEAD_TIMEOUT_MS (default 1000) and PROBE_MAX_CONNECTIONS (per worker, default 16):
      the same for the probe port, short and few (the kubelet sends its request at once,
      and opens at most one connection per probe).
  READINESS_TRAFFIC_TIMEOUT_MS (default 1000; 0: off): with a probe port, /readyz asked
      there also sends GET /livez to the traffic port and answers 503 unless it gets
      200 within this time: readiness turns false when the port cannot take a request
      (all threads busy, accept queue stalled) and true again when it can. Below the
      readinessProbe's timeoutSeconds (2).
"""

import os
import shutil
import signal
import sys
import tempfile


def _int(name, default):
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    if not (raw.isascii() and raw.isdigit()):  # "²" is a digit to isdigit(), not to int()
        raise ValueError(f"environment variable {name}={raw!r} is not a non-negative integer")
    return int(raw)


port = _int("PORT", 5000)
# The kubelet's probes have a port of their own, served by threads of their own (see
# flask_app/worker.py): clients holding every request thread never delay a probe.
# The image sets it (5001); unset or 0, there is none and probes share PORT. (No default
# next to PORT: a neighbour of a free port is often some client's ephemeral port.)
probe_port = _int("PROBE_PORT", 0)
if probe_port == port:
    raise ValueError(f"PROBE_PORT={probe_port} must differ from PORT")
os.environ["PROBE_PORT"] = str(probe_port)  # the worker tells probe connections apart by it
_host = os.environ.get("HOST", "0.0.0.0")
bind = [f"{_host}:{port}"] + ([f"{_host}:{probe_port}"] if probe_port else [])

# Workers: WEB_CONCURRENCY if set (the Deployment sets it to match its CPU), else the CPUs.
workers = _int("WEB_CONCURRENCY", max(2, os.cpu_count() or 1))
# Two threads per worker: enough to overlap I/O, few enough that threads rarely queue
# behind the GIL (p99 under 10 ms at 16 connections in `make bench`; 4+ threads doubled it).
threads = _int("GUNICORN_THREADS", 2)
switch_interval_ms = _int("GIL_SWITCH_INTERVAL_MS", 1)
# gthread, plus the probe listener's threads and JSON instead of gunicorn's HTML error pages.
worker_class = "flask_app.worker.ServiceWorker"
backlog = _int("GUNICORN_BACKLOG", 2048)
worker_connections = _int("GUNICORN_WORKER_CONNECTIONS", 1000)
# Read by the worker (flask_app/worker.py) from the environment, checked here first.
_abuse = {
    "REQUEST_HEAD_TIMEOUT": _int("REQUEST_HEAD_TIMEOUT", 10),
    "MAX_IDLE_CONNECTIONS": _int("MAX_IDLE_CONNECTIONS", 512),
    "PROBE_HEAD_TIMEOUT_MS": _int("PROBE_HEAD_TIMEOUT_MS", 1000),
    "PROBE_MAX_CONNECTIONS": _int("PROBE_MAX_CONNECTIONS", 16),
    "READINESS_TRAFFIC_TIMEOUT_MS": _int("READINESS_TRAFFIC_TIMEOUT_MS", 1000),
}
for _name in ("REQUEST_HEAD_TIMEOUT", "MAX_IDLE_CONNECTIONS", "PROBE_HEAD_TIMEOUT_MS", "PROBE_MAX_CONNECTIONS"):
    if _abuse[_name] == 0:
        raise ValueError(f"{_name} must be at least 1")
if _abuse["MAX_IDLE_CONNECTIONS"] >= worker_connections:
    raise ValueError(
        f"MAX_IDLE_CONNECTIONS={_abuse['MAX_IDLE_CONNECTIONS']} must be below "
        f"GUNICORN_WORKER_CONNECTIONS={worker_connections} (room for busy connections)"
    )
os.environ.update({_name: str(_value) for _name, _value in _abuse.items()})

timeout = _int("GUNICORN_TIMEOUT", 30)
graceful_timeout = _int("GRACEFUL_TIMEOUT", 20)
drain_seconds = _int("DRAIN_SECONDS", 3)
# Longer than the usual load balancer idle timeout (60 s), so the balancer, not
# gunicorn, closes idle connections and never sends on a socket we just closed.
keepalive = _int("GUNICORN_KEEPALIVE", 75)

# Heartbeat files in memory, and everything else writable under /tmp: works on a
# read-only root filesystem with an emptyDir at /tmp.
_tmp = os.environ.get("TMPDIR", tempfile.gettempdir())
_shm = "/dev/shm"  # noqa: S108 - gunicorn's documented choice for heartbeat files
worker_tmp_dir = _shm if os.path.isdir(_shm) and os.access(_shm, os.W_OK) else _tmp
# One state dir per port: at most one server can hold a port, and nothing piles up.
_state_dir = os.path.join(_tmp, f"flask-app-{port}")
os.environ.setdefault("PROMETHEUS_MULTIPROC_DIR", os.path.join(_state_dir, "metrics"))
os.environ["DRAIN_FILE"] = os.path.join(_state_dir, "draining")
os.makedirs(os.environ["PROMETHEUS_MULTIPROC_DIR"], exist_ok=True)

# Logs: JSON on stdout. Requests are logged by the app (one line each), so gunicorn's
# access log stays off; its error log uses the same JSON formatter.
accesslog = None
errorlog = "-"
loglevel = os.environ.get("LOG_LEVEL", "info").lower()
try:
    from flask_app.jsonlog import gunicorn_logconfig
    from flask_app.metrics import use_cached_pid
except ImportError:  # gunicorn --check-config outside the venv still reads the file
    pass
else:
    use_cached_pid()  # before any metric exists; the workers inherit it
    logconfig_dict = gunicorn_logconfig(loglevel.upper())
    logger_class = "flask_app.worker.GunicornLogger"  # no gunicorn access log: the app logs requests

proc_name = "flask-app"
# gunicorn's control socket would live under $HOME, which is read-only in the pod;
# nothing here uses it.
control_socket_disable = True
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")
limit_request_line = 4094
limit_request_fields = 100


def on_starting(server):
    """Fresh metrics and drain state for every start of the master."""
    multiproc = os.environ["PROMETHEUS_MULTIPROC_DIR"]
    shutil.rmtree(multiproc, ignore_errors=True)
    os.makedirs(multiproc, exist_ok=True)
    drain_file = os.environ["DRAIN_FILE"]
    if os.path.exists(drain_file):
        os.remove(drain_file)


def when_ready(server):
    """Replace the master's SIGTERM handling with drain-then-graceful-stop."""
    original = server.handle_term
    state = {"draining": False}

    def handle_term():
        if state["draining"] or drain_seconds == 0:
            original()  # raises StopIteration: graceful stop
            return
        state["draining"] = True
        with open(os.environ["DRAIN_FILE"], "w") as marker:
            marker.write(str(os.getpid()))
        server.log.info("SIGTERM: draining for %ss before a graceful stop", drain_seconds)

        def stop(_signum, frame):
            server.signal(signal.SIGTERM, frame)  # queue a second SIGTERM for the main loop

        signal.signal(signal.SIGALRM, stop)
        signal.alarm(drain_seconds)

    server.handle_term = handle_term


def post_worker_init(worker):
    """A worker is ready for traffic only once it has fully booted."""
    # Threads hand over the GIL every 1 ms instead of 5: a short request waiting behind
    # a busy thread waits less (lower p99 in `make bench`, same throughput).
    sys.setswitchinterval(switch_interval_ms / 1000)
    lifecycle = worker.wsgi.extensions.get("lifecycle") if hasattr(worker.wsgi, "extensions") else None
    if lifecycle is not None:
        lifecycle.mark_ready()


def child_exit(server, worker):
    """Drop a dead worker's live gauges so in-flight counts stay true."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


def on_exit(server):
    shutil.rmtree(_state_dir, ignore_errors=True)
