"""The bad-release figures, on the real node (dev's pods in real containers, real Argo CD).

Each a median of several runs, beside the kwok stack's figures (bench/loop.py):

- push -> live: `gitops set-image --env dev --push` (a new tag of the built image) until
  Argo CD reports dev Synced + Healthy at the pushed revision: a real rollout, new pods
  Ready through the kubelet's probes;
- push -> promotable: until the promotion gate passes (stable health: 30 s by default);
- time to detect: push of a crash-looping release (a log level the app cannot start with)
  until the gate's refusal names the reason (CrashLoopBackOff);
- time to recover: `gitops rollback dev --push` until dev is Synced + Healthy again.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.loop import _deployed, _git, _live, _push
from gitops import gate, images, toolchain
from gitops.repo import Repo
from harness.stack.stack import Stack

ROOT = toolchain.repo_root()
OVERLAY = "apps/flask-app/overlays/dev/kustomization.yaml"


def _gitops(work: Path, stack: Stack, *args: str, token: str | None = None) -> None:
    env = {**os.environ, "ARGOCD_SERVER": stack.argo.url, "ARGOCD_AUTH_TOKEN": token or stack.reader_token}
    done = subprocess.run([sys.executable, "-m", "gitops", *args], cwd=work, capture_output=True, text=True, env=env)
    if done.returncode != 0:
        raise RuntimeError(f"gitops {' '.join(args[:3])}: {done.stderr.strip()}")


def _refusal(work: Path, stack: Stack) -> str | None:
    repo = Repo.load(work)
    return gate.refusal(repo, stack.api, "dev", images.read(repo.kustomization("dev"), repo.app))


def run(cache: Path, tools_bin: Path, runs: int = 5, log=print) -> dict[str, list[float]]:
    tmp = Path(tempfile.mkdtemp(prefix="flask-gitops-bench-node-"))
    started = time.monotonic()
    stack = Stack.up(tmp / "state", ROOT, cache, tools_bin, toolchain.pins(), log=lambda _: None, worktree=True,
                     tied=True, real_node=True)  # fmt: skip
    figures: dict[str, list[float]] = {"real node: stack up to settled (s)": [time.monotonic() - started]}
    live, promotable, detect, recover = [], [], [], []
    try:
        work = tmp / "work"
        _git(tmp, "clone", "-q", "--branch", "main", str(stack.bare), str(work))
        digest = stack.release["digest"]
        for i in range(runs):
            t0 = time.monotonic()
            _gitops(work, stack, "set-image", "--env", "dev", "--tag", f"bench-{i}", "--digest", digest, "--push")
            # What Argo CD syncs is the remote's deploy/local (main plus a repoURL commit, rebuilt
            # on each push): fetched now, so a later rollback finds the revision it deployed.
            _git(work, "fetch", "-q", "origin")
            _live(stack, "flask-app-dev", _deployed(stack))
            live.append(time.monotonic() - t0)
            allowed = functools.partial(_refusal, work, stack)
            stack.procs.until("promotion allowed", lambda check=allowed: check() is None, 240)
            promotable.append(time.monotonic() - t0)

            path = work / OVERLAY
            path.write_text(path.read_text().replace("LOG_LEVEL=DEBUG", "LOG_LEVEL=NOPE"))
            t0 = time.monotonic()
            _push(work, f"bench: a crash-looping release ({i})")
            named = functools.partial(_refusal, work, stack)
            stack.procs.until("the gate naming the crash loop",
                              lambda check=named: "CrashLoopBackOff" in (check() or ""), 180, interval=0.5)  # fmt: skip
            detect.append(time.monotonic() - t0)
            _git(work, "fetch", "-q", "origin")
            t0 = time.monotonic()
            _gitops(work, stack, "rollback", "dev", "--push", token=stack.api.token)
            _live(stack, "flask-app-dev", _deployed(stack))
            recover.append(time.monotonic() - t0)
            log(f"real node: run {i + 1}/{runs}: live {live[-1]:.1f}s, promotable {promotable[-1]:.1f}s, "
                f"crash loop named {detect[-1]:.1f}s, rollback -> Healthy {recover[-1]:.1f}s")  # fmt: skip
        figures["real node: git push -> dev Synced + Healthy (s)"] = live
        figures["real node: git push -> promotion allowed (stable 30 s) (s)"] = promotable
        figures["real node: crash-looping push -> gate names the reason (s)"] = detect
        figures["real node: rollback push -> dev Healthy (s)"] = recover
        return figures
    finally:
        stack.down()
        shutil.rmtree(tmp, ignore_errors=True)
