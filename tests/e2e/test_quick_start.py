"""The README's quick start, run as written on the stack, dev through prod (issue 27 items 3 and the done-when).

The block under "Quick start" is read from the README; `make up` and `make down` are
the session's stack; every other line runs in bash, in a clone whose remote `local` is the
stack's, with the exports filled in from what `make up` prints (stack.json). Between two
lines the test waits as the README tells a person to: until `status --live` shows the
environment promoted from Synced and Healthy. prod ends OutOfSync at the new revision,
waiting for a person; a sync is taken inside the window and refused outside it.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import time

import pytest

from gitops.errors import GitopsError
from harness.stack.stack import app_state
from tests.e2e.conftest import ROOT
from tests.e2e.test_argocd import CONFIGS, app, deploy_revision, synced_healthy

pytestmark = pytest.mark.e2e


def quick_start() -> list[str]:
    text = (ROOT / "README.md").read_text()
    section = text[text.index("## Quick start") :]
    block = re.search(r"```sh\n(.*?)```", section, re.S)
    assert block, "the README's quick start has no sh block"
    return [line for line in block.group(1).splitlines() if line.strip()]


def test_the_readme_quick_start_reaches_prod_by_digest(stack, tmp_path):
    info = json.loads((stack.state / "stack.json").read_text())
    clone = tmp_path / "quick-start"
    subprocess.run(["git", "clone", "-q", "--branch", "main", str(stack.bare), str(clone)], check=True)
    subprocess.run(["git", "remote", "add", "local", str(stack.bare)], cwd=clone, check=True)
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "newcomer",
        "GIT_AUTHOR_EMAIL": "newcomer@flask-gitops.invalid",
        "GIT_COMMITTER_NAME": "newcomer",
        "GIT_COMMITTER_EMAIL": "newcomer@flask-gitops.invalid",
    }
    lines = quick_start()
    assert lines[0].startswith("make up")
    assert lines[-1].startswith("make down")
    envs = {c["environment"] for c in CONFIGS.values()}
    for line in lines[1:-1]:
        command = line.split("  #", 1)[0].strip()
        if command.startswith("export "):
            # The values make up printed: the Argo CD address and read-only token, the release.
            values = {
                "ARGOCD_SERVER": info["ui"],
                "ARGOCD_AUTH_TOKEN": info["token"],
                "TAG": info["release"]["tag"],
                "DIGEST": info["release"]["digest"],
            }
            for name in re.findall(r"([A-Z_]+)=\.\.\.", command):
                env[name] = values[name]
            continue
        command = command.replace(".venv/bin/gitops", str(ROOT / ".venv" / "bin" / "gitops"))
        promote = re.search(r"promote (\w+) (\w+)", command)
        if promote:
            # What the README says to wait for: every cluster of FROM Synced + Healthy.
            source = promote.group(1)
            assert source in envs
            for name, config in CONFIGS.items():
                if config["environment"] == source:
                    stack.wait_app(app(name), synced_healthy(deploy_revision(stack)), timeout=180)
        if "status --live" in command:
            # "within seconds": what a person sees once dev has synced the push.
            for name, config in CONFIGS.items():
                if config["autoSync"] and config["environment"] == "dev":
                    stack.wait_app(app(name), synced_healthy(deploy_revision(stack)), timeout=180)
        # `status --live` and the promote gate answer for what Argo CD reports now: right after
        # a rollout it can still be settling (the HPA reads the new pods' metrics). As the README
        # says, run it again: until it answers 0, for at most two minutes.
        deadline = time.monotonic() + (120 if "status --live" in command or promote else 0)
        while True:
            result = subprocess.run(["bash", "-c", command], cwd=clone, env=env, capture_output=True, text=True)
            assert "Traceback" not in result.stderr
            if result.returncode == 0 or time.monotonic() > deadline:
                break
            assert "promote" not in command or "refused by the Argo CD gate" in result.stderr, result.stderr
            time.sleep(5)
        assert result.returncode == 0, f"{line}\n{result.stdout}\n{result.stderr}"
    revision = deploy_revision(stack)
    digest = info["release"]["digest"]
    for name, config in CONFIGS.items():
        if config["autoSync"]:
            stack.wait_app(app(name), synced_healthy(revision), timeout=180)
            image = stack.clusters[name].get("deployment", "flask-app", "-n", config["namespace"])
            assert image["spec"]["template"]["spec"]["containers"][0]["image"].endswith(digest)
        else:
            # prod: the new revision is known and waits for a person.
            stack.api.application(app(name), refresh="normal")
            stack.wait_app(app(name), lambda a: app_state(a)[0] == "OutOfSync", timeout=120)
    prod = sorted(name for name, c in CONFIGS.items() if not c["autoSync"])
    assert prod
    # What the window says now (an earlier test may have opened an emergency window): inside
    # it a person's sync is taken; outside it Argo CD refuses, naming the window.
    windows = stack.api.call("GET", f"/api/v1/applications/{app(prod[0])}/syncwindows")
    if windows["canSync"]:
        stack.api.sync(app(prod[0]))
        stack.wait_app(app(prod[0]), synced_healthy(revision), timeout=180)
    else:
        with pytest.raises(GitopsError, match="blocked by sync window"):
            stack.api.sync(app(prod[0]))
