"""The GitOps loop's own figures, on the local stack (real Argo CD, one API server per cluster).

- push -> live: `gitops set-image --env dev --commit --push` until Argo CD reports the dev
  Application Synced + Healthy at the pushed revision (the remote's hook sends the push
  webhook, as GitHub would); several pushes, median and spread;
- new cluster folder -> Application Healthy: a pushed `clusters/<new>/` folder (plus its
  AppProject destination) until the ApplicationSet's new Application is Synced + Healthy.
"""

from __future__ import annotations

import functools
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

from gitops import gate, images, toolchain
from gitops.repo import Repo
from harness.stack.stack import Stack, app_state

ROOT = toolchain.repo_root()


def _git(work: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=work, check=True, capture_output=True, text=True).stdout.strip()


def _push(work: Path, message: str) -> None:
    _git(work, "add", "-A")
    _git(work, "-c", "user.name=bench", "-c", "user.email=bench@flask-gitops.invalid", "commit", "-qm", message)
    _git(work, "push", "-q", "origin", "HEAD:main")


def _live(stack: Stack, app: str, revision: str, timeout: float = 180) -> None:
    def done(a: dict) -> bool:
        sync, health, rev = app_state(a)
        running = ((a.get("status") or {}).get("operationState") or {}).get("phase") == "Running"
        return (sync, health, rev) == ("Synced", "Healthy", revision) and not running

    stack.wait_app(app, done, timeout)


def _deployed(stack: Stack) -> str:
    return _git(stack.bare, "rev-parse", "refs/heads/deploy/local")


def run(cache: Path, tools_bin: Path, pushes: int = 5, log=print) -> dict[str, list[float]]:
    tmp = Path(tempfile.mkdtemp(prefix="flask-gitops-bench-stack-"))
    started = time.monotonic()
    stack = Stack.up(
        tmp / "state",
        ROOT,
        cache,
        tools_bin,
        toolchain.pins(),
        log=lambda _: None,
        worktree=True,
        tied=True,
        spare=True,
    )
    figures: dict[str, list[float]] = {"stack up to settled (s)": [time.monotonic() - started]}
    try:
        work = tmp / "work"
        _git(tmp, "clone", "-q", "--branch", "main", str(stack.bare), str(work))
        times, allowed = [], []
        for i in range(pushes):
            t0 = time.monotonic()
            tag = f"bench-{i}-{int(t0)}"
            command = [sys.executable, "-m", "gitops", "set-image", "--env", "dev", "--tag", tag, "--commit", "--push"]
            subprocess.run(command, cwd=work, check=True, capture_output=True)
            _live(stack, "flask-app-dev", _deployed(stack))
            times.append(time.monotonic() - t0)
            # The promotion gate, as `gitops promote dev staging` runs it (stable health: 30 s).
            repo = Repo.load(work)
            ref = images.read(repo.kustomization("dev"), repo.app)
            allowed_now = functools.partial(gate.refusal, repo, stack.api, "dev", ref)
            stack.procs.until("promotion allowed", lambda check=allowed_now: check() is None, 180)
            allowed.append(time.monotonic() - t0)
            log(f"argocd: push {i + 1}/{pushes} -> dev live in {times[-1]:.1f}s, promotion allowed {allowed[-1]:.1f}s")
        figures["git push -> dev Synced + Healthy (s)"] = times
        figures["git push -> promotion dev -> staging allowed by the gate (s)"] = allowed

        # A new cluster folder, on a cluster Argo CD already knows (registered as "bench"). The
        # order is the reviewed one: first the AppProject destination (an admin applies it),
        # then the folder; the clock runs from the folder's push.
        stack.register_cluster("bench", on="spare")
        namespace = yaml.safe_load((work / "clusters" / "dev" / "config.yaml").read_text())["namespace"]
        project = work / "argocd" / "projects" / "appproject.yaml"
        doc = yaml.safe_load(project.read_text())
        doc["spec"]["destinations"].append({"name": "bench", "namespace": namespace})
        project.write_text(yaml.safe_dump(doc, sort_keys=False))
        addons = work / "argocd" / "projects" / "appproject-addons.yaml"  # and its add-ons', in kube-system
        doc = yaml.safe_load(addons.read_text())
        doc["spec"]["destinations"].append({"name": "bench", "namespace": "kube-system"})
        addons.write_text(yaml.safe_dump(doc, sort_keys=False))
        _push(work, "bench: the AppProject destination of a new cluster")
        stack.apply_projects()
        shutil.copytree(work / "clusters" / "dev", work / "clusters" / "bench")
        config = work / "clusters" / "bench" / "config.yaml"
        config.write_text(config.read_text().replace("name: dev", "name: bench"))
        kustomization = work / "clusters" / "bench" / "kustomization.yaml"
        kustomization.write_text(
            kustomization.read_text().replace("flask-gitops/cluster: dev", "flask-gitops/cluster: bench")
        )
        t0 = time.monotonic()
        _push(work, "bench: a new cluster folder")
        _live(stack, "flask-app-bench", _deployed(stack), timeout=300)
        seconds = time.monotonic() - t0
        figures["new cluster folder pushed -> Application Synced + Healthy (s)"] = [seconds]
        log(f"argocd: new cluster folder -> Healthy in {seconds:.1f}s")
        return figures
    finally:
        stack.down()
        shutil.rmtree(tmp, ignore_errors=True)


def table(figures: dict[str, list[float]]) -> str:
    rows = ["| loop (real Argo CD, local stack) | median | min-max | runs |", "|---|---:|---:|---:|"]
    for name, values in figures.items():
        rows.append(
            f"| {name} | {statistics.median(values):.1f} | {min(values):.1f}-{max(values):.1f} | {len(values)} |"
        )
    return "\n".join(rows)
