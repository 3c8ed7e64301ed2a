"""The service against its baselines, with a method that holds on a shared 2-core machine.

- The servers run on CPU 0 and wrk on CPU 1 (taskset), so the load generator never takes
  the servers' CPU; on a machine with one CPU both share it and the report says so.
- Every round starts each server once, in a rotating order, and measures it on every path
  and connection count; ratios are taken within a round (the service against a baseline
  measured minutes apart on the same machine), then summarised over the rounds.
- Each figure is a median with its spread (min-max over the rounds). A ratio whose spread
  is larger than the difference it claims (its distance from 100%) is flagged ``~``: that
  row cannot tell the two servers apart.

Baselines: a bare WSGI callable under the same gunicorn.conf.py (the ceiling: gunicorn's
own cost), a minimal Flask app under plain ``gunicorn -w 2`` (what a user gets from
Flask and gunicorn's defaults), the same minimal app under the service's
gunicorn.conf.py (Flask alone on the same server: what the service's logs, metrics and
headers cost, and what any Flask route costs against the ceiling), and Flask's
development server (the seed's way).
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

from harness.testing import server as srv

SERVICE = "service"
BARE = "bare-wsgi"
MINIMAL = "minimal-flask"
SAME_SERVER = "minimal-flask-same-server"
DEV = "flask-dev-server"
KINDS = (SERVICE, BARE, MINIMAL, SAME_SERVER, DEV)
# The servers run with the service's own gunicorn.conf.py, and their apps.
ON_SERVICE_CONFIG = {SERVICE: "flask_app.wsgi:app", BARE: "bench.bare_wsgi:app", SAME_SERVER: "bench.minimal_flask:app"}
PATHS = ("/livez", "/")
CONNECTIONS = (16, 64)


def cpus() -> tuple[list[str], list[str], str]:
    """taskset prefixes for the servers and for wrk, and a sentence saying which."""
    available = sorted(os.sched_getaffinity(0))
    if len(available) < 2:
        return [], [], "servers and wrk share one CPU"
    server, load = available[0], available[1]
    return (
        ["taskset", "-c", str(server)],
        ["taskset", "-c", str(load)],
        f"servers pinned to CPU {server}, wrk to CPU {load} (taskset)",
    )


SERVER_CPU, LOAD_CPU, PINNING = cpus()


# --- servers ----------------------------------------------------------------------
def start(kind: str, tmp: Path, **env: str) -> srv.Server:
    """One server on 127.0.0.1, pinned to the servers' CPU."""
    common = {"WEB_CONCURRENCY": "2", "APP_ENV": "bench", **env}
    gunicorn = str(srv.GUNICORN)
    if kind in ON_SERVICE_CONFIG:
        command = [*SERVER_CPU, gunicorn, "--config", "gunicorn.conf.py", ON_SERVICE_CONFIG[kind]]
        return srv.start(tmp, command=command, **common)
    port = srv.free_port()
    if kind == MINIMAL:
        plain = ["--config", "bench/plain.gunicorn.conf.py"]  # not ./gunicorn.conf.py: gunicorn's defaults
        command = [*SERVER_CPU, gunicorn, *plain, "-w", "2", "-b", f"127.0.0.1:{port}", "bench.minimal_flask:app"]
    elif kind == DEV:
        command = [*SERVER_CPU, sys.executable, "-m", "bench.seed_server"]
    else:
        raise ValueError(kind)
    server = srv.start(tmp, command=command, **common, PORT=str(port))
    server.port = port
    return server


def started(kind: str, tmp: Path, **env: str) -> srv.Server:
    server = start(kind, tmp, **env)
    if kind == SERVICE:
        server.wait_ready()
    else:
        wait_status(server, "/livez")
    return server


def stop(kind: str, server: srv.Server) -> None:
    """gunicorn's quick stop (SIGINT); SIGTERM for the dev server, which a shell may start with SIGINT ignored."""
    try:
        server.stop(signal.SIGTERM if kind == DEV else signal.SIGINT, timeout=30)
    except subprocess.TimeoutExpired:
        server.process.kill()
        server.process.wait()
        raise


def wait_status(server: srv.Server, path: str, timeout: float = 15) -> float:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"server exited with {server.process.returncode}: {server.log()}")
        try:
            if srv.get(server.port, path, timeout=1)[0] == 200:
                return time.monotonic() - server.started
        except OSError:
            pass
        time.sleep(0.005)
    raise TimeoutError(server.log())


# --- wrk -------------------------------------------------------------------------
_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3}


def _ms(text: str) -> float:
    value, unit = re.fullmatch(r"([\d.]+)(us|ms|s)", text).groups()
    return float(value) * _UNITS[unit]


def wrk(port: int, path: str, connections: int, duration: float, threads: int = 1) -> dict[str, float]:
    """One wrk run on the load CPU: requests per second, p50 and p99 (ms), errors."""
    out = subprocess.run(
        [
            *LOAD_CPU,
            "wrk",
            f"-t{threads}",
            f"-c{connections}",
            f"-d{duration:g}s",
            "--latency",
            "--timeout",
            "5s",
            f"http://127.0.0.1:{port}{path}",
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=duration + 30,
    ).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    p50 = _ms(re.search(r"\s50%\s+(\S+)", out).group(1))
    p99 = _ms(re.search(r"\s99%\s+(\S+)", out).group(1))
    return {"rps": rps, "p50": p50, "p99": p99, "errors": wrk_errors(out)}


def wrk_errors(out: str) -> int:
    """Socket errors (connect, read, write, timeout) plus non-2xx/3xx responses in wrk's report."""
    errors = 0
    socket = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    if socket:
        errors += sum(int(x) for x in socket.groups())
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if non2xx:
        errors += int(non2xx.group(1))
    return errors


# --- measuring ---------------------------------------------------------------------
Samples = dict[tuple[str, str, int], list[dict[str, float]]]


def throughput(tmp: Path, rounds: int, duration: float, log) -> Samples:
    """``rounds`` interleaved rounds: every server once per round, in a rotating order."""
    samples: Samples = {}
    for round_ in range(rounds):
        order = KINDS[round_ % len(KINDS) :] + KINDS[: round_ % len(KINDS)]
        for kind in order:
            server = started(kind, tmp / f"{kind}-{round_}")
            try:
                for path in PATHS:
                    wrk(server.port, path, 16, 1)  # warm-up, discarded
                    for conns in CONNECTIONS:
                        log(f"round {round_ + 1}/{rounds}: {kind} {path} c={conns}")
                        samples.setdefault((kind, path, conns), []).append(wrk(server.port, path, conns, duration))
            finally:
                stop(kind, server)
    return samples


def start_to_ready(tmp: Path, runs: int = 5) -> dict[str, list[float]]:
    """Process start to the first 200 on /readyz (the service) or /livez (the dev server)."""
    out: dict[str, list[float]] = {}
    for kind in (SERVICE, DEV):
        for i in range(runs):
            server = start(kind, tmp / f"ready-{kind}-{i}")
            try:
                seconds = server.wait_ready() if kind == SERVICE else wait_status(server, "/livez")
                out.setdefault(kind, []).append(seconds)
            finally:
                stop(kind, server)
    return out


def graceful_shutdown(tmp: Path) -> dict[str, float]:
    """SIGTERM 0.5 s into a 2 s wrk run on `/`: every request must still succeed."""
    drain, graceful = 3, 10
    server = start(SERVICE, tmp / "shutdown", DRAIN_SECONDS=str(drain), GRACEFUL_TIMEOUT=str(graceful))
    server.wait_ready()
    load = subprocess.Popen(
        [*LOAD_CPU, "wrk", "-t1", "-c16", "-d2s", "--latency", f"http://127.0.0.1:{server.port}/"],
        stdout=subprocess.PIPE,
        text=True,
    )
    time.sleep(0.5)
    signalled = time.monotonic()
    server.process.send_signal(signal.SIGTERM)
    out, _ = load.communicate(timeout=30)
    code = server.process.wait(timeout=drain + graceful + 10)
    exit_s = time.monotonic() - signalled
    requests = int(re.search(r"(\d+) requests in", out).group(1))
    return {"requests": requests, "errors": wrk_errors(out), "exit_s": exit_s, "exit_code": code, "drain_s": drain}


# --- summarising -------------------------------------------------------------------
def median_spread(values: list[float]) -> tuple[float, float, float]:
    return statistics.median(values), min(values), max(values)


def ratios(samples: Samples, kind: str, base: str, path: str, conns: int, metric: str) -> list[float]:
    """Per-round ratios kind/base: each pair measured in the same round."""
    return [
        a[metric] / b[metric] if b[metric] else float("nan")
        for a, b in zip(samples[(kind, path, conns)], samples[(base, path, conns)], strict=True)
    ]


def fmt_ratio(values: list[float], unit: str = "%") -> str:
    """'104% (97-110) ~': median, spread, and ~ when the spread is larger than the claimed difference."""
    mid, low, high = median_spread(values)
    flag = " ~" if (high - low) > abs(mid - 1) else ""
    if unit == "x":
        return f"{mid:.2f}x ({low:.2f}-{high:.2f}){flag}"
    return f"{mid:.0%} ({low:.0%}-{high:.0%}){flag}"


def table(samples: Samples) -> list[str]:
    lines = [
        "| server | path | conns | req/s | p99 ms | errors | req/s vs minimal Flask | req/s vs bare WSGI "
        "| p99 vs bare WSGI | req/s vs minimal Flask, same server |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for path in PATHS:
        for conns in CONNECTIONS:
            for kind in KINDS:
                runs = samples[(kind, path, conns)]
                rps, rps_lo, rps_hi = median_spread([r["rps"] for r in runs])
                p99, p99_lo, p99_hi = median_spread([r["p99"] for r in runs])
                errors = sum(r["errors"] for r in runs)
                cells = [
                    fmt_ratio(ratios(samples, kind, base, path, conns, metric), unit) if kind != base else "1"
                    for base, metric, unit in (
                        (MINIMAL, "rps", "%"),
                        (BARE, "rps", "%"),
                        (BARE, "p99", "x"),
                        (SAME_SERVER, "rps", "%"),
                    )
                ]
                lines.append(
                    f"| {kind} | `{path}` | {conns} | {rps:.0f} ({rps_lo:.0f}-{rps_hi:.0f}) | "
                    f"{p99:.2f} ({p99_lo:.2f}-{p99_hi:.2f}) | {errors:.0f} | " + " | ".join(cells) + " |"
                )
    return lines


def goals(samples: Samples, ready: dict[str, list[float]], shutdown: dict[str, float]) -> list[str]:
    """The issue's goals, each with the figure that meets or misses it."""

    def med(kind: str, base: str, path: str, conns: int, metric: str) -> float:
        return statistics.median(ratios(samples, kind, base, path, conns, metric))

    def noisy(kind: str, base: str, path: str, conns: int, metric: str) -> bool:
        return fmt_ratio(ratios(samples, kind, base, path, conns, metric)).endswith("~")

    rows = []
    for path in PATHS:
        for conns in CONNECTIONS:
            args = (SERVICE, MINIMAL, path, conns, "rps")
            rows.append((f"`{path}` c={conns}: req/s >= minimal Flask", med(*args), 1.0, noisy(*args)))
    for conns in CONNECTIONS:
        args = (SERVICE, BARE, "/livez", conns, "rps")
        rows.append((f"`/livez` c={conns}: req/s >= 70% of bare WSGI", med(*args), 0.7, noisy(*args)))
    checks = [(name + (" (~)" if flag else ""), f"{value:.0%}", value >= bound) for name, value, bound, flag in rows]
    for path in PATHS:
        for conns in CONNECTIONS:
            args = (SERVICE, BARE, path, conns, "p99")
            name = f"`{path}` c={conns}: p99 <= 1.5x bare WSGI" + (" (~)" if noisy(*args) else "")
            checks.append((name, f"{med(*args):.2f}x", med(*args) <= 1.5))
    ready_s = statistics.median(ready[SERVICE])
    checks.append(("start to ready < 0.5 s", f"{ready_s:.3f} s", ready_s < 0.5))
    checks.append(("SIGTERM under load (drain window): 0 errors", f"{shutdown['errors']:.0f}", shutdown["errors"] == 0))
    lines = ["| goal | this run | met |", "|---|---:|:---:|"]
    lines += [f"| {name} | {value} | {'yes' if ok else '**no**'} |" for name, value, ok in checks]
    return [*lines, "", *flask_alone(samples)]


def flask_alone(samples: Samples) -> list[str]:
    """The p99 on `/` of the service and of Flask alone on the same server (req/s: the table's last column)."""

    def p99(kind: str, base: str, conns: int) -> str:
        return fmt_ratio(ratios(samples, kind, base, "/", conns, "p99"), "x")

    cells = [
        f"c={conns}: p99 {p99(SERVICE, SAME_SERVER, conns)} its p99, "
        f"its own p99 {p99(SAME_SERVER, BARE, conns)} bare WSGI's"
        for conns in CONNECTIONS
    ]
    return [
        "Against the minimal Flask app on the same server (gunicorn.conf.py: Flask alone, no logs, metrics or "
        "headers), the service on `/`: " + "; ".join(cells) + "."
    ]


# --- idle and slow clients -----------------------------------------------------------
ABUSE_STEPS = (2100, 4000, 8000, 16000)
ABUSE_PROBE_SLOW = 64  # slow clients on the probe port at every step (the count)


def _hold(port: int, count: int, head: bytes, socks: list) -> None:
    for _ in range(count):
        sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        if head:
            sock.sendall(head)
        sock.setblocking(False)
        socks.append(sock)


def _timed_get(port: int, path: str, timeout: float) -> float:
    """Seconds to a 200 on ``path`` (inf when it fails or takes longer than ``timeout``)."""
    t0 = time.perf_counter()
    try:
        status, _ = srv.get(port, path, timeout=timeout)
    except OSError:
        return float("inf")
    return time.perf_counter() - t0 if status == 200 else float("inf")


def abuse(tmp: Path, steps: tuple[int, ...] = ABUSE_STEPS, log=print) -> list[dict[str, float]]:
    """The service (2 workers, its defaults) while clients are held open on it, step by step.

    At each step, ``n`` clients on the traffic port, half sending nothing and half sending
    a header line every half second without ever ending the head, plus 64 such slow clients
    on the probe port; the clients are opened afresh at each step and never replaced when
    the server closes them. Measured: the slowest of 5 `/` (fresh connections), and the
    slowest /livez and /readyz on the probe port. A measurement, not a check.
    """
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    rows = []
    probe_port = srv.free_port()
    server = started(SERVICE, tmp / "abuse", PROBE_PORT=str(probe_port))
    try:
        for n in steps:
            if hard != resource.RLIM_INFINITY and n + 1024 > hard:
                log(f"abuse: {n} clients: ulimit -n hard limit {hard} too low, stopping")
                break
            resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, n + 1024), hard))
            socks: list[socket.socket] = []
            halt = threading.Event()

            def trickle(slow: list[socket.socket], halt: threading.Event = halt) -> None:
                while not halt.wait(0.5):
                    for sock in slow:
                        with contextlib.suppress(OSError):
                            sock.send(b"X-Slow: y\r\n")

            try:
                log(f"abuse: holding {n} clients on the traffic port, {ABUSE_PROBE_SLOW} on the probe port")
                t0 = time.monotonic()
                _hold(server.port, n // 2, b"", socks)
                _hold(server.port, n - n // 2, b"GET / HTTP/1.1\r\nHost: slow\r\n", socks)
                _hold(probe_port, ABUSE_PROBE_SLOW, b"GET /livez HTTP/1.1\r\nHost: slow\r\n", socks)
                opened = time.monotonic() - t0
                thread = threading.Thread(target=trickle, args=(socks[n // 2 :],), daemon=True)
                thread.start()
                time.sleep(1)
                root = [_timed_get(server.port, "/", 5) for _ in range(5)]
                livez = [_timed_get(probe_port, "/livez", 2) for _ in range(3)]
                readyz = [_timed_get(probe_port, "/readyz", 2) for _ in range(3)]
            finally:
                halt.set()
                for sock in socks:
                    sock.close()
            rows.append(
                {
                    "clients": n,
                    "open_s": opened,
                    "root_max_s": max(root),
                    "livez_max_s": max(livez),
                    "readyz_max_s": max(readyz),
                }
            )
            time.sleep(1)
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
        stop(SERVICE, server)
    return rows


def abuse_table(rows: list[dict[str, float]]) -> list[str]:
    def sec(value: float) -> str:
        return "no answer" if value == float("inf") else f"{value:.3f}"

    lines = [
        "| clients on the traffic port (half idle, half slow) | slowest of 5 `/` (s) | slowest /livez (s) "
        "| slowest /readyz (s) |",
        "|---:|---:|---:|---:|",
    ]
    lines += [
        f"| {r['clients']} | {sec(r['root_max_s'])} | {sec(r['livez_max_s'])} | {sec(r['readyz_max_s'])} |"
        for r in rows
    ]
    within = [r["clients"] for r in rows if r["root_max_s"] < 1]
    most = f"{max(within)} clients" if within else "none of the steps"
    return [
        *lines,
        "",
        f"Most clients held while `/` still answered within 1 s: {most} on the traffic port, "
        f"with {ABUSE_PROBE_SLOW} slow clients on the probe port.",
    ]
