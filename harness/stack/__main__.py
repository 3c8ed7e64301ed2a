"""`make up` / `make down`: the local GitOps loop, started in the background and stopped again.

python -m harness.stack up     # start (or say it is up), print the UI, login and next steps
python -m harness.stack down   # stop every process and remove the state folder and remote
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from gitops.errors import GitopsError
from gitops.toolchain import build_cache, pins, repo_root, tools_dir
from harness.stack import http
from harness.stack.procs import SCALE_ENV
from harness.stack.stack import Stack

REMOTE = "local"
GITOPS = ".venv/bin/gitops"
PUSH = f"git push {REMOTE} HEAD:main"
DEPLOY_DEV = f'{GITOPS} set-image --env dev --tag $TAG --digest $DIGEST && git commit -qam "dev: $TAG" && {PUSH}'


def _state(root: Path) -> Path:
    return Path(os.environ.get("STACK_DIR") or root / "build" / "stack")


def _git(root: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, check=False)


def _is_up(state: Path) -> dict | None:
    try:
        info = json.loads((state / "stack.json").read_text())
        return info if http.answers(f"{info['ui']}/healthz") else None
    except (OSError, ValueError, KeyError):
        return None


def summary(info: dict) -> str:
    release = info.get("release") or {}
    tag, digest = release.get("tag", "1.2.4"), release.get("digest", "sha256:...")
    return "\n".join(
        [
            "",
            f"Argo CD UI   {info['ui']}   (user admin, password {info['password']})",
            f"git remote   '{REMOTE}' -> {info['remote_path']}  (Argo CD reads it as {info['repo_url']})",
            f"Argo CD API  export ARGOCD_SERVER={info['ui']} ARGOCD_AUTH_TOKEN={info['token']}  (read-only)",
            f"release      export TAG={tag} DIGEST={digest}  (this checkout's service as "
            + (
                "an image built from the Dockerfile, already running in dev on the real node)"
                if info.get("node")
                else "an OCI layout)"
            ),
            "next (after the two exports):",
            *([] if info.get("node") else [f"  {DEPLOY_DEV}"]),
            f"  {GITOPS} status --live   # what Argo CD reports for every cluster",
            f'  {GITOPS} promote dev staging --wait 2m && git commit -qam "staging: $TAG" && {PUSH}',
            f'  {GITOPS} promote staging prod --wait 2m && git commit -qam "prod: $TAG" && {PUSH}',
            "  then SYNC prod-eu and prod-us in the UI (Mon-Fri 08:00-18:00 UTC; outside, Argo CD refuses)",
            "  make down      # stop everything and remove the local state",
        ]
    )


def up(root: Path, real_node: bool = False) -> int:
    state = _state(root)
    info = _is_up(state)
    if info:
        print(f"up: already up (state in {state})")
        print(summary(info))
        return 0
    if state.exists():
        print(f"up: removing the state of a stack that is no longer running ({state})")
        Stack.down_state(state)
    if _git(root, "rev-parse", "--git-dir").returncode != 0:
        print(f"error: {root} is not a git checkout: make up seeds its local remote from HEAD", file=sys.stderr)
        return 1
    remote = _git(root, "remote", "get-url", REMOTE)
    if remote.returncode == 0 and Path(remote.stdout.strip()).resolve() != (state / "git" / "flask-gitops.git"):
        print(f"error: this checkout already has a git remote '{REMOTE}' ({remote.stdout.strip()}); "
              f"remove it (git remote remove {REMOTE}) and re-run", file=sys.stderr)  # fmt: skip
        return 1
    if real_node and os.geteuid() != 0:
        print("error: NODE=real runs a kubelet, containerd and runc: it needs root (sudo make up NODE=real)",
              file=sys.stderr)  # fmt: skip
        return 1
    started = time.monotonic()
    stack = Stack.up(state, root, build_cache(), tools_dir() / "bin", pins(), log=lambda line: print(line, flush=True),
                     real_node=real_node)  # fmt: skip
    if remote.returncode != 0:
        _git(root, "remote", "add", REMOTE, str(stack.bare))
    print(f"up: the loop is up in {time.monotonic() - started:.0f}s")
    print(summary(stack.describe()))
    return 0


def down(root: Path) -> int:
    state = _state(root)
    remote = _git(root, "remote", "get-url", REMOTE)
    if remote.returncode == 0 and Path(remote.stdout.strip()).resolve() == (state / "git" / "flask-gitops.git"):
        _git(root, "remote", "remove", REMOTE)
    if not state.exists():
        print("down: nothing is up")
        return 0
    stopped = Stack.down_state(state)
    print(f"down: stopped {stopped} processes, removed {state} and the git remote '{REMOTE}'")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m harness.stack", description=__doc__.split("\n\n")[0])
    parser.add_argument("command", choices=["up", "down"])
    parser.add_argument("--real-node", action="store_true", help="run dev's pods on a real node (as root)")
    args = parser.parse_args(argv)
    root = repo_root()
    try:
        return up(root, args.real_node) if args.command == "up" else down(root)
    except KeyboardInterrupt:
        print("up: interrupted; stopped everything it had started", file=sys.stderr)
        return 130
    except (RuntimeError, TimeoutError, OSError, subprocess.SubprocessError, GitopsError) as error:
        first = str(error).splitlines()[0] if str(error) else type(error).__name__
        hint = ""
        if isinstance(error, (TimeoutError, subprocess.TimeoutExpired)) and SCALE_ENV not in first:
            hint = f"; on a loaded machine set {SCALE_ENV}=3 (waits are stretched by that factor) and re-run"
        print(
            f"error: {first} (logs were in {_state(root) / 'logs'}; everything started was stopped{hint})",
            file=sys.stderr,
        )
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
