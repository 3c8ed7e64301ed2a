"""`make bench`: the project's figures, side by side, from one run.

Service throughput and latency (wrk on 127.0.0.1, bounded), start-to-ready, graceful
shutdown under load, and repository operations. Prints a Markdown table and writes it
to bench/results/latest.md. Every figure comes from this run; ratios compare figures
measured in this same run.
"""

from __future__ import annotations

import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench import loop, real_node, service
from gitops import toolchain
from harness.testing.repo import copy_repo

ROOT = toolchain.repo_root()
ALL_PARTS = ("service", "abuse", "repo", "argocd", "node")


def _setting(name: str, default: str) -> int:
    raw = os.environ.get(name, default).strip()
    if not raw.isdigit() or int(raw) < 1:
        raise SystemExit(f"bench: {name}={raw!r} is not a positive integer")
    return int(raw)


DURATION = _setting("BENCH_SECONDS", "4")
ROUNDS = _setting("BENCH_ROUNDS", "5")
LOOP_PUSHES = _setting("BENCH_PUSHES", "5")
# Which parts run (all by default): service, abuse, repo, argocd, node. A partial run writes its own file.
PARTS = [p for p in os.environ.get("BENCH_PARTS", ",".join(ALL_PARTS)).replace(" ", "").split(",") if p]
BIN = Path(sys.executable).parent


def log(msg: str) -> None:
    print(f"bench: {msg}", file=sys.stderr, flush=True)


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
    # After the last destination: the next key of the project is its destinationServiceAccounts.
    anchor = "  # Argo CD syncs as this service account"
    project.write_text(text.replace(anchor, "".join(extra) + anchor, 1))
    # The cluster add-ons' project lists every cluster too (in kube-system).
    addons = dest / "argocd" / "projects" / "appproject-addons.yaml"
    extra = [line.replace("namespace: flask-app-dev", "namespace: kube-system") for line in extra]
    addons.write_text(addons.read_text().replace(anchor, "".join(extra) + anchor, 1))
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
            "kustomize " + first_line([toolchain.tool("kustomize"), "version"]),
            "kubeconform " + toolchain.pins()["KUBECONFORM_VERSION"],
        ]
    )


def report(parts: dict, seconds: float) -> str:
    lines = [
        f"# flask-gitops benchmarks ({time.strftime('%Y-%m-%d', time.gmtime())})",
        "",
        f"Machine: {os.cpu_count()} CPUs, {platform.machine()}, {platform.system()}. {versions()}.",
    ]
    if "service" in parts:
        tput, ready, shutdown = parts["service"]
        lines += [
            "",
            "## Service throughput and latency",
            "",
            f"wrk -t1, {DURATION}s per run, {ROUNDS} interleaved rounds, 127.0.0.1 only; {service.PINNING}. "
            "Figures: median (min-max over the rounds); ratios are taken within each round. "
            "`~`: the spread is larger than the difference the ratio claims (no difference shown). "
            "The service and bare WSGI run gunicorn.conf.py with WEB_CONCURRENCY=2.",
            "",
            *service.table(tput),
            "",
            "### Goals",
            "",
            *service.goals(tput, ready, shutdown),
            "",
            "## Start to ready (process start to first 200 on /readyz, median (min-max) of 5)",
            "",
            "| server | seconds |",
            "|---|---:|",
        ]
        for kind, label in ((service.SERVICE, "service (gunicorn, 2 workers)"), (service.DEV, "flask-dev-server")):
            mid, low, high = service.median_spread(ready[kind])
            lines.append(f"| {label} | {mid:.3f} ({low:.3f}-{high:.3f}) |")
        lines += [
            "",
            "## Graceful shutdown under load (SIGTERM 0.5 s into a 2 s wrk run on `/`, c=16)",
            "",
            "| requests | non-2xx + socket errors | exit code | SIGTERM to exit (s) | drain window (s) |",
            "|---:|---:|---:|---:|---:|",
            f"| {shutdown['requests']} | {shutdown['errors']} | {shutdown['exit_code']} | {shutdown['exit_s']:.2f} | "
            f"{shutdown['drain_s']} |",
        ]
    if "abuse" in parts:
        lines += [
            "",
            "## Idle and slow clients (the service's defaults, 2 workers, clients held open on 127.0.0.1)",
            "",
            *service.abuse_table(parts["abuse"]),
        ]
    if "repo" in parts:
        ops = parts["repo"]
        lines += [
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
            f"Per-cluster cost from 40 to 200 clusters: {per200 / per40:.2f}x "
            "(target: within 1.25x, linear or better).",
        ]
    if "argocd" in parts:
        lines += ["", "## The GitOps loop", "", loop.table(parts["argocd"])]
    if "node" in parts:
        lines += ["", "## Bad releases on the real node", "", loop.table(parts["node"])]
    lines += ["", f"Total benchmark time: {seconds:.0f} s."]
    return "\n".join(lines) + "\n"


def main() -> int:
    unknown = set(PARTS) - set(ALL_PARTS)
    if unknown or not PARTS:
        what = f"unknown part(s) {sorted(unknown)}" if unknown else "no part named"
        print(f"bench: BENCH_PARTS: {what} (parts: {', '.join(ALL_PARTS)})", file=sys.stderr)
        return 2
    if "service" in PARTS and shutil.which("wrk") is None:
        print("bench: wrk is not installed (make bench installs the Debian package)", file=sys.stderr)
        return 2
    t0 = time.monotonic()
    parts: dict = {}
    with tempfile.TemporaryDirectory(prefix="flask-gitops-bench-") as tmp:
        tmp_path = Path(tmp)
        if "repo" in PARTS:
            log("repository operations")
            parts["repo"] = repository_ops(tmp_path / "o")
        if "service" in PARTS:
            log("start to ready")
            ready = service.start_to_ready(tmp_path / "r")
            log("graceful shutdown under load")
            shutdown = service.graceful_shutdown(tmp_path / "s")
            tput = service.throughput(tmp_path / "t", ROUNDS, DURATION, log)
            parts["service"] = (tput, ready, shutdown)
        if "abuse" in PARTS:
            log("idle and slow clients")
            parts["abuse"] = service.abuse(tmp_path / "a", log=log)
    if "argocd" in PARTS:
        log("the GitOps loop on the local stack (real Argo CD)")
        parts["argocd"] = loop.run(toolchain.build_cache(), toolchain.tools_dir() / "bin", pushes=LOOP_PUSHES, log=log)
    if "node" in PARTS:
        log("bad releases on the real node (real Argo CD)")
        parts["node"] = real_node.run(toolchain.build_cache(), toolchain.tools_dir() / "bin", runs=LOOP_PUSHES, log=log)
    text = report(parts, time.monotonic() - t0)
    results = ROOT / "bench" / "results"
    results.mkdir(exist_ok=True)
    name = "latest.md" if set(PARTS) == set(ALL_PARTS) else f"latest-{'-'.join(sorted(set(PARTS)))}.md"
    (results / name).write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
