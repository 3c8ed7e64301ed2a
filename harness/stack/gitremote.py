"""The local git remote: a bare repository that you push to and Argo CD reads.

Seeded from the working tree's HEAD. You push ``main`` to it by path (``git push local
HEAD:main``); Argo CD reads it over HTTP from ``gitserver`` on 127.0.0.1. The manifests
name the repository by URL (``gitops.yaml``'s ``repoURL``), and yours names your fork,
not this local one, so the remote's post-receive hook keeps a second branch,
``deploy/local``: each push of ``main`` plus one commit that is exactly
``gitops configure --repo-url <local URL>``. The remote's HEAD points at that branch, which
is what the Applications' ``targetRevision: HEAD`` follows. Your own tree and history
stay untouched. The hook then sends GitHub-style push webhooks to Argo CD's API server
and ApplicationSet controller, as GitHub would, so a push is picked up at once.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from harness.stack import http
from harness.stack.procs import HARNESS_ROOT
from harness.stack.webhook import github_push_payload

DEPLOY_BRANCH = "deploy/local"
CONFIG = "flask-gitops-local.json"


def _git(*args: str, cwd: Path | None = None, input: str | None = None) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    result = subprocess.run(
        ["git", *args], cwd=cwd, env=env, input=input, capture_output=True, text=True, check=False, timeout=120
    )
    if result.returncode != 0:
        raise RuntimeError(f"git {' '.join(args)}: {result.stderr.strip()}")
    return result.stdout.strip()


def worktree_commit(source: Path) -> str:
    """A commit of everything in ``source``'s working tree (tracked or not, minus ignored files) on
    top of HEAD, made with a temporary index: the checkout, its index and its refs are untouched."""
    with tempfile.TemporaryDirectory(prefix="flask-gitops-index-") as tmp:
        env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
        env["GIT_INDEX_FILE"] = str(Path(tmp) / "index")

        def run(*args: str) -> str:
            result = subprocess.run(["git", *args], cwd=source, env=env, capture_output=True, text=True, check=False)
            if result.returncode != 0:
                raise RuntimeError(f"git {' '.join(args)}: {result.stderr.strip()}")
            return result.stdout.strip()

        run("read-tree", "HEAD")
        run("add", "-A")
        tree = run("write-tree")
        if tree == run("rev-parse", "HEAD^{tree}"):
            return run("rev-parse", "HEAD")
        return run("-c", "user.name=flask-gitops local stack", "-c", "user.email=local@flask-gitops.invalid",
                   "commit-tree", tree, "-p", "HEAD", "-m", "local stack: the working tree as it was")  # fmt: skip


def create(bare: Path, source: Path, url: str, webhooks: list[str], revision: str = "HEAD") -> str:
    """A bare repository holding ``source``'s ``revision`` as main, the hook, and deploy/local; returns main's sha."""
    bare.parent.mkdir(parents=True, exist_ok=True)
    _git("init", "--quiet", "--bare", "--initial-branch=main", str(bare))
    (bare / CONFIG).write_text(json.dumps({"url": url, "webhooks": webhooks}, indent=1))
    hook = bare / "hooks" / "post-receive"
    # -I: isolated, so nothing is imported from the hook's working folder or PYTHON* variables.
    # The harness is found in this checkout (HARNESS_ROOT), named in the hook itself.
    start = (
        f"import sys, runpy; sys.path.insert(0, {HARNESS_ROOT!r}); "
        "runpy.run_module('harness.stack.gitremote', run_name='__main__')"
    )
    hook.write_text(f'#!/bin/sh\nexec {sys.executable} -I -c "{start}" hook "$@"\n')
    hook.chmod(0o755)
    sha = _git("rev-parse", revision, cwd=source)
    _git("push", "--quiet", str(bare), f"{sha}:refs/heads/main", cwd=source)
    deploy(bare, sha)
    _git("symbolic-ref", "HEAD", f"refs/heads/{DEPLOY_BRANCH}", cwd=bare)
    return sha


def deploy(bare: Path, main_sha: str) -> str:
    """Point deploy/local at main_sha plus the `gitops configure --repo-url` commit; returns its sha."""
    config = json.loads((bare / CONFIG).read_text())
    with tempfile.TemporaryDirectory(prefix="flask-gitops-deploy-") as tmp:
        work = Path(tmp) / "work"
        _git("clone", "--quiet", "--no-checkout", str(bare), str(work))
        _git("checkout", "--quiet", "--detach", main_sha, cwd=work)
        configure = subprocess.run(
            # -I: the pushed tree is the working folder; its own gitops/ must never be imported.
            [sys.executable, "-I", "-m", "gitops", "configure", "--repo-url", config["url"], "--no-validate"],
            cwd=work,
            capture_output=True,
            text=True,
            check=False,
            env={k: v for k, v in os.environ.items() if not k.startswith("GIT_")},
        )
        if configure.returncode != 0:
            raise RuntimeError(f"gitops configure --repo-url {config['url']}: {configure.stderr.strip()}")
        if _git("status", "--porcelain", cwd=work):
            _git("-c", "user.name=flask-gitops local stack", "-c", "user.email=local@flask-gitops.invalid",
                 "commit", "--quiet", "-am", f"local stack: repoURL {config['url']} (main at {main_sha[:12]})",
                 cwd=work)  # fmt: skip
        _git("push", "--quiet", "--force", "origin", f"HEAD:refs/heads/{DEPLOY_BRANCH}", cwd=work)
        return _git("rev-parse", "HEAD", cwd=work)


def notify(bare: Path, before: str, after: str) -> list[str]:
    """Send a GitHub push webhook for deploy/local to each configured receiver; returns what each said."""
    config = json.loads((bare / CONFIG).read_text())
    payload = github_push_payload(config["url"], DEPLOY_BRANCH, before, after)
    payload["repository"]["default_branch"] = DEPLOY_BRANCH
    results = []
    for receiver in config["webhooks"]:
        try:
            status, _ = http.call("POST", receiver, payload, headers={"X-GitHub-Event": "push"})
            results.append(f"{receiver}: {status}")
        except OSError as error:
            results.append(f"{receiver}: {error}")
    return results


def hook(bare: Path, lines: list[str]) -> int:
    """post-receive: for a push of main, rebuild deploy/local and tell Argo CD."""
    for line in lines:
        parts = line.split()
        if len(parts) != 3 or parts[2] != "refs/heads/main" or set(parts[1]) == {"0"}:
            continue
        try:
            before = _git("rev-parse", "--verify", "--quiet", f"refs/heads/{DEPLOY_BRANCH}", cwd=bare)
        except RuntimeError:
            before = "0" * 40
        after = deploy(bare, parts[1])
        print(f"flask-gitops: {DEPLOY_BRANCH} is now {after[:12]} (main {parts[1][:12]} + repoURL commit)")
        for result in notify(bare, before, after):
            print(f"flask-gitops: webhook {result}")
    return 0


def main(argv: list[str]) -> int:
    if argv[:1] == ["hook"]:
        bare = Path(os.environ.get("GIT_DIR", ".")).resolve()
        try:
            return hook(bare, sys.stdin.read().splitlines())
        except (RuntimeError, OSError, ValueError) as error:
            print(f"flask-gitops: post-receive: {error}", file=sys.stderr)
            return 1
    print("usage: python -m harness.stack.gitremote hook", file=sys.stderr)
    return 2


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
