"""`make bench`: the project's figures, side by side, from one run.

Service throughput and latency (wrk on 127.0.0.1, bounded), start-to-ready, graceful
shutdown under load, and repository operations. Prints a Markdown table and writes it
to bench/results/latest.md. Every figure comes from this run; ratios compare figures
measured in this same run.
"""

from __future__ import annotations

import os
import platform
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench import argocd
from gitops import settings
from gitops.testing import server as srv
from gitops.testing.repo import copy_repo

ROOT = settings.repo_root()
DURATION = int(os.environ.get("BENCH_SECONDS", "4"))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "5"))
LOOP_PUSHES = int(os.environ.get("BENCH_PUSHES", "5"))
CONNECTIONS = (16, 64)
PATHS = ("/livez", "/")
BIN = Path(sys.executable).parent


def log(msg: str) -> None:
    print(f"bench: {msg}", file=sys.stderr, flush=True)


# --- servers ----------------------------------------------------------------------
def start(kind: str, tmp: Path, **env: str) -> srv.Server:
    """One server on 127.0.0.1: the service, the bare-WSGI ceiling, or the seed's dev server."""
    common = {"WEB_CONCURRENCY": "2", "APP_ENV": "bench", **env}
    if kind == "service":
        return srv.start(tmp, **common)
    if kind == "bare-wsgi":
        return srv.start(tmp, app="bench.bare_wsgi:app", **common)
    if kind == "flask-dev-server":
        port = srv.free_port()
        server = srv.start(tmp, command=[sys.executable, "-m", "bench.seed_server"], **common, PORT=str(port))
        server.port = port
        return server
    raise ValueError(kind)


def started(kind: str, tmp: Path, **env: str) -> srv.Server:
    server = start(kind, tmp, **env)
    if kind == "bare-wsgi":
        wait_status(server, "/livez")  # the bare callable answers every path
    else:
        server.wait_ready()
    return server


def wait_status(server: srv.Server, path: str, timeout: float = 15) -> float:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if srv.get(server.port, path, timeout=1)[0] == 200:
                return time.monotonic() - server.started
        except OSError:
            time.sleep(0.005)
    raise TimeoutError(server.log())


# --- wrk -------------------------------------------------------------------------
_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3}


def _ms(text: str) -> float:
    value, unit = re.fullmatch(r"([\d.]+)(us|ms|s)", text).groups()
    return float(value) * _UNITS[unit]


def wrk(port: int, path: str, connections: int, duration: int) -> dict[str, float]:
    out = subprocess.run(
        [
            "wrk",
            "-t2",
            f"-c{connections}",
            f"-d{duration}s",
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


def throughput(tmp: Path) -> dict[tuple[str, str, int], dict[str, float]]:
    kinds = ("service", "bare-wsgi", "flask-dev-server")
    samples: dict[tuple[str, str, int], list[dict[str, float]]] = {}
    for round_ in range(ROUNDS):
        for kind in kinds:  # interleaved: every kind once per round
            server = started(kind, tmp / f"{kind}-{round_}")
            try:
                for path in PATHS:
                    wrk(server.port, path, 16, 1)  # warm-up, discarded
                    for conns in CONNECTIONS:
                        log(f"round {round_ + 1}/{ROUNDS}: {kind} {path} c={conns}")
                        samples.setdefault((kind, path, conns), []).append(wrk(server.port, path, conns, DURATION))
            finally:
                server.stop(signal.SIGINT, timeout=30)
    return {
        key: {metric: statistics.median(s[metric] for s in runs) for metric in runs[0]} for key, runs in samples.items()
    }


def start_to_ready(tmp: Path, runs: int = 5) -> dict[str, float]:
    out = {}
    for kind in ("service", "flask-dev-server"):
        times = []
        for i in range(runs):
            server = start(kind, tmp / f"ready-{kind}-{i}")
            try:
                times.append(server.wait_ready())
            finally:
                server.stop(signal.SIGINT, timeout=30)
        out[kind] = statistics.median(times)
    return out


def graceful_shutdown(tmp: Path) -> dict[str, float]:
    drain, graceful = 3, 10
    server = start("service", tmp / "shutdown", DRAIN_SECONDS=str(drain), GRACEFUL_TIMEOUT=str(graceful))
    server.wait_ready()
    load = subprocess.Popen(
        ["wrk", "-t2", "-c16", "-d2s", "--latency", f"http://127.0.0.1:{server.port}/"],
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


# --- repository operations --------------------------------------------------------
def timed(cmd: list[str], cwd: Path, ok: tuple[int, ...] = (0,), runs: int = 3) -> float:
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        result = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, check=False)
        times.append(time.perf_counter() - t0)
        if result.returncode not in ok:
            raise RuntimeError(f"{cmd}: exit {result.returncode}: {result.stdout[-500:]} {result.stderr[-500:]}")
    return statistics.median(times)


def with_clusters(dest: Path, count: int) -> Path:
    """A copy of the repository with ``count`` dev-like clusters (the 4 real ones included)."""
    copy_repo(dest)
    project = dest / "argocd" / "projects" / "appproject.yaml"
    extra = []
    for i in range(count - 4):
        name = f"gen-{i:03d}"
        folder = dest / "clusters" / name
        shutil.copytree(dest / "clusters" / "dev", folder)
        config = folder / "config.yaml"
        config.write_text(config.read_text().replace("name: dev ", f"name: {name} "))
        kustomization = folder / "kustomization.yaml"
        kustomization.write_text(kustomization.read_text().replace("cluster: dev", f"cluster: {name}"))
        extra.append(f"    - name: {name}\n      namespace: flask-app-dev\n")
    text = project.read_text()
    project.write_text(text.replace("  clusterResourceWhitelist:", "".join(extra) + "  clusterResourceWhitelist:", 1))
    return dest


def repository_ops(tmp: Path) -> dict[str, float]:
    gitops = str(BIN / "gitops")
    work = copy_repo(tmp / "ops")
    out = {
        "validate": timed([gitops, "validate"], ROOT),
        "diff": timed([gitops, "diff"], work),
    }
    digest = "sha256:" + "ab" * 32
    tags = iter(f"sha-{i:07d}" for i in range(10))
    out["set-image"] = statistics.median(
        timed([gitops, "set-image", "--env", "dev", "--tag", next(tags), "--digest", digest], work, runs=1)
        for _ in range(5)
    )
    out["set-image (python -c pass)"] = timed([sys.executable, "-c", "pass"], work)
    for count in (4, 40, 200):
        repo = with_clusters(tmp / f"clusters-{count}", count)
        log(f"validate with {count} clusters")
        out[f"validate-{count}"] = timed([gitops, "validate"], repo, runs=1 if count == 200 else 3)
    return out


# --- report --------------------------------------------------------------------------
def versions() -> str:
    def first_line(cmd: list[str]) -> str:
        try:
            result = subprocess.run(cmd, capture_output=True, text=True, check=False)
            return (result.stdout or result.stderr).strip().splitlines()[0]
        except (OSError, IndexError):
            return "?"

    from importlib.metadata import version

    return ", ".join(
        [
            f"Python {platform.python_version()}",
            f"gunicorn {version('gunicorn')}",
            f"Flask {version('flask')}",
            first_line(["wrk", "--version"]).split(" [")[0],
            "kustomize " + first_line([settings.tool("kustomize"), "version"]),
            "kubeconform " + settings.pins()["KUBECONFORM_VERSION"],
        ]
    )


def report(tput, ready, shutdown, ops, seconds) -> str:
    cpu = os.cpu_count()
    lines = [
        f"# flask-gitops benchmarks ({time.strftime('%Y-%m-%d', time.gmtime())})",
        "",
        f"Machine: {cpu} CPUs, {platform.machine()}, {platform.system()}. {versions()}.",
        f"wrk -t2, {DURATION}s per run, medians of {ROUNDS} interleaved rounds, 127.0.0.1 only; "
        "every server runs gunicorn.conf.py with WEB_CONCURRENCY=2 (the dev server: one threaded process).",
        "",
        "## Service throughput and latency",
        "",
        "| server | path | conns | req/s | p50 ms | p99 ms | errors | vs bare WSGI | vs dev server |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for path in PATHS:
        for conns in CONNECTIONS:
            bare = tput[("bare-wsgi", path, conns)]["rps"]
            dev = tput[("flask-dev-server", path, conns)]["rps"]
            for kind in ("service", "bare-wsgi", "flask-dev-server"):
                r = tput[(kind, path, conns)]
                lines.append(
                    f"| {kind} | `{path}` | {conns} | {r['rps']:.0f} | {r['p50']:.2f} | {r['p99']:.2f} | "
                    f"{r['errors']:.0f} | {r['rps'] / bare:.0%} | {r['rps'] / dev:.1f}x |"
                )
    svc = tput[("service", "/livez", 16)]
    lines += [
        "",
        f"Targets (`/livez`, 16 connections): service >= 60% of bare WSGI: "
        f"**{svc['rps'] / tput[('bare-wsgi', '/livez', 16)]['rps']:.0%}**; >= 3x the dev server: "
        f"**{svc['rps'] / tput[('flask-dev-server', '/livez', 16)]['rps']:.1f}x**; "
        f"p99 < 10 ms: **{svc['p99']:.2f} ms**.",
        "",
        "## Start to ready (process start to first 200 on /readyz, median of 5)",
        "",
        "| server | seconds |",
        "|---|---:|",
        f"| service (gunicorn, 2 workers) | {ready['service']:.3f} |",
        f"| flask-dev-server | {ready['flask-dev-server']:.3f} |",
        "",
        "## Graceful shutdown under load (SIGTERM 0.5 s into a 2 s wrk run, c=16)",
        "",
        "| requests | non-2xx + socket errors | exit code | SIGTERM to exit (s) | drain window (s) |",
        "|---:|---:|---:|---:|---:|",
        f"| {shutdown['requests']} | {shutdown['errors']} | {shutdown['exit_code']} | {shutdown['exit_s']:.2f} | "
        f"{shutdown['drain_s']} |",
        "",
        "## Repository operations (median)",
        "",
        "| operation | seconds | per cluster (s) |",
        "|---|---:|---:|",
        f"| gitops validate (this repository: 4 clusters, 3 overlays, argocd/) | {ops['validate']:.2f} | |",
        f"| gitops diff (all clusters, against HEAD) | {ops['diff']:.2f} | |",
        f"| gitops set-image (no push) | {ops['set-image']:.3f} | |",
        f"| python -c pass (interpreter start, for scale) | {ops['set-image (python -c pass)']:.3f} | |",
    ]
    for count in (4, 40, 200):
        lines.append(
            f"| gitops validate, {count} clusters | {ops[f'validate-{count}']:.2f} | "
            f"{ops[f'validate-{count}'] / count:.4f} |"
        )
    per40, per200 = ops["validate-40"] / 40, ops["validate-200"] / 200
    lines += [
        "",
        f"Per-cluster cost from 40 to 200 clusters: {per200 / per40:.2f}x (target: within 1.25x, linear or better).",
        "",
        f"Total benchmark time: {seconds:.0f} s.",
    ]
    return "\n".join(lines) + "\n"


def main() -> int:
    if shutil.which("wrk") is None:
        print("bench: wrk is not installed (make bench installs the Debian package)", file=sys.stderr)
        return 2
    t0 = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="flask-gitops-bench-") as tmp:
        tmp_path = Path(tmp)
        for sub in ("t", "r", "s", "o"):
            (tmp_path / sub).mkdir()
        log("repository operations")
        ops = repository_ops(tmp_path / "o")
        log("start to ready")
        ready = start_to_ready(tmp_path / "r")
        log("graceful shutdown under load")
        shutdown = graceful_shutdown(tmp_path / "s")
        tput = throughput(tmp_path / "t")
    log("the GitOps loop on the local stack (real Argo CD)")
    loop = argocd.run(settings.build_cache(), settings.tools_dir() / "bin", pushes=LOOP_PUSHES, log=log)
    text = report(tput, ready, shutdown, ops, time.monotonic() - t0) + "\n" + argocd.table(loop) + "\n"
    results = ROOT / "bench" / "results"
    results.mkdir(exist_ok=True)
    (results / "latest.md").write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
