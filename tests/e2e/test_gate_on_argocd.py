"""A merge is a deploy (issue 24): the damage each harmful change does on the real Argo CD, and the gate's refusal.

For the hook, sync-option, template-patch and targetRevision classes, the same change is
first judged by `gitops validate` (refused, with its policy id), then pushed anyway, as a
merge that skipped the gate would be, and the damage is read off the live cluster Argo CD
synced. Each test then reverts the change and waits until dev is whole again.
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

from gitops.errors import GitopsError
from harness.stack.stack import app_state
from tests.e2e.test_argocd import CONFIGS, app, commit_and_push, deploy_revision, synced_healthy
from tests.gitops.test_gate_argocd import annotate

pytestmark = pytest.mark.e2e
NS = CONFIGS["dev"]["namespace"]


def refused(work: Path, policy: str) -> list[str]:
    """`gitops validate` on the working tree: it must fail, naming ``policy`` on one line."""
    result = subprocess.run(
        [sys.executable, "-m", "gitops", "validate"], cwd=work, capture_output=True, text=True, check=False
    )
    lines = [line for line in result.stdout.splitlines() if line.startswith(policy + " ")]
    assert result.returncode == 1, result.stdout + result.stderr
    assert lines, result.stdout
    return lines


def merge_anyway(stack, work: Path, message: str) -> str:
    """Push the change to main as a merge that skipped the gate; dev synced at it."""
    commit_and_push(work, message)
    revision = deploy_revision(stack)
    stack.wait_app(app("dev"), lambda a: app_state(a)[2] == revision and synced_healthy()(a), timeout=180)
    return revision


def revert(stack, work: Path, message: str) -> None:
    subprocess.run(["git", "checkout", "-q", "HEAD~1", "--", "."], cwd=work, check=True)
    commit_and_push(work, message)
    stack.wait_app(app("dev"), synced_healthy(deploy_revision(stack)), timeout=180)


def test_a_hook_annotation_removes_the_default_deny(stack, work):
    dev = stack.clusters["dev"]
    assert dev.maybe_get("networkpolicy", "default-deny", "-n", NS) is not None
    rel = "apps/flask-app/base/networkpolicy-default-deny.yaml"
    annotate(work, rel, "argocd.argoproj.io/hook", "PreSync")
    annotate(work, rel, "argocd.argoproj.io/hook-delete-policy", "HookSucceeded")
    assert any("argocd.argoproj.io/hook" in line for line in refused(work, "GO150"))
    merge_anyway(stack, work, "e2e: the default-deny as a hook (gate bypassed)")
    # The damage: Argo CD ran the policy as a hook and deleted it; the app says Synced + Healthy.
    stack.procs.until("default-deny gone", lambda: dev.maybe_get("networkpolicy", "default-deny", "-n", NS) is None, 60)
    revert(stack, work, "e2e: revert the hook")
    stack.procs.until("default-deny back", lambda: dev.maybe_get("networkpolicy", "default-deny", "-n", NS), 60)


def test_replace_force_sync_options_delete_and_recreate_the_deployment(stack, work):
    dev = stack.clusters["dev"]
    before = dev.get("deployment", "flask-app", "-n", NS)["metadata"]["uid"]
    annotate(work, "apps/flask-app/base/deployment.yaml", "argocd.argoproj.io/sync-options", "Replace=true,Force=true")
    assert any("Replace=true,Force=true" in line for line in refused(work, "GO150"))
    merge_anyway(stack, work, "e2e: Replace and Force on the Deployment (gate bypassed)")
    stack.procs.until(
        "the Deployment recreated",
        lambda: (
            (dev.maybe_get("deployment", "flask-app", "-n", NS) or {}).get("metadata", {}).get("uid")
            not in (None, before)
        ),
        60,
    )
    revert(stack, work, "e2e: revert Replace and Force")


def test_a_template_kustomize_patch_opens_a_node_port(stack, work):
    dev = stack.clusters["dev"]
    appset = work / "argocd/applicationset.yaml"
    original = appset.read_text()
    appset.write_text(
        original.replace(
            '        path: "{{ .path.path }}"\n',
            '        path: "{{ .path.path }}"\n        kustomize:\n          patches:\n'
            "            - target: {kind: Service, name: flask-app}\n"
            '              patch: \'[{"op": "replace", "path": "/spec/type", "value": "NodePort"}]\'\n',
            1,
        )
    )
    assert any("source.kustomize.patches" in line for line in refused(work, "GO146"))
    merge_anyway(stack, work, "e2e: a kustomize patch in the ApplicationSet template (gate bypassed)")
    stack.procs.until(
        "the Service is a NodePort",
        lambda: dev.get("service", "flask-app", "-n", NS)["spec"]["type"] == "NodePort",
        120,
    )
    revert(stack, work, "e2e: revert the template patch")
    stack.procs.until(
        "the Service is a ClusterIP",
        lambda: dev.get("service", "flask-app", "-n", NS)["spec"]["type"] == "ClusterIP",
        120,
    )


def test_a_target_revision_deploys_a_branch_that_never_went_through_main(stack, work):
    dev = stack.clusters["dev"]
    # The attacker's branch: a ConfigMap no review saw, in the dev cluster folder.
    subprocess.run(["git", "checkout", "-q", "-b", "unreviewed"], cwd=work, check=True)
    (work / "clusters/dev/unreviewed.yaml").write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: unreviewed\ndata:\n  who: nobody reviewed this\n"
    )
    kustomization = work / "clusters/dev/kustomization.yaml"
    kustomization.write_text(kustomization.read_text().replace("resources:\n", "resources:\n  - unreviewed.yaml\n", 1))
    subprocess.run(["git", "add", "-A"], cwd=work, check=True)
    subprocess.run(
        ["git", "-c", "user.name=e2e", "-c", "user.email=e2e@flask-gitops.invalid", "commit", "-qm", "unreviewed"],
        cwd=work,
        check=True,
    )
    branch = subprocess.run(["git", "rev-parse", "HEAD"], cwd=work, check=True, capture_output=True, text=True)
    subprocess.run(["git", "push", "-q", "origin", "unreviewed"], cwd=work, check=True, capture_output=True)
    subprocess.run(["git", "checkout", "-q", "main"], cwd=work, check=True)
    try:
        appset = work / "argocd/applicationset.yaml"
        appset.write_text(
            appset.read_text().replace("        targetRevision: HEAD\n", "        targetRevision: unreviewed\n", 1)
        )
        assert any("targetRevision" in line for line in refused(work, "GO145"))
        commit_and_push(work, "e2e: track the unreviewed branch (gate bypassed)")
        stack.wait_app(app("dev"), lambda a: app_state(a)[2] == branch.stdout.strip(), timeout=180)
        stack.procs.until(
            "the unreviewed ConfigMap live", lambda: dev.maybe_get("configmap", "unreviewed", "-n", NS), 120
        )
        revert(stack, work, "e2e: track HEAD again")
        stack.procs.until(
            "the unreviewed ConfigMap pruned", lambda: dev.maybe_get("configmap", "unreviewed", "-n", NS) is None, 120
        )
    finally:
        subprocess.run(["git", "push", "-q", "origin", ":unreviewed"], cwd=work, check=False, capture_output=True)
        subprocess.run(["git", "branch", "-q", "-D", "unreviewed"], cwd=work, check=False)


def test_argocd_syncs_as_a_service_account_that_cannot_create_what_git_may_not(stack, work):
    """Defence in depth (issue 24): the AppProject lets Pods into the tree (to show them), but
    Argo CD syncs dev as flask-gitops-sync:deployer, which may not create one."""
    dev = stack.clusters["dev"]
    (work / "clusters/dev/pod.yaml").write_text(
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: smuggled\nspec:\n  containers:\n"
        "    - name: x\n      image: registry.example.com/example-org/flask-app:1.0.0\n"
    )
    kustomization = work / "clusters/dev/kustomization.yaml"
    original = kustomization.read_text()
    kustomization.write_text(original.replace("resources:\n", "resources:\n  - pod.yaml\n", 1))
    commit_and_push(work, "e2e: a Pod in Git (gate bypassed)")
    revision = deploy_revision(stack)

    def refused(application: dict) -> bool:
        operation = (application.get("status") or {}).get("operationState") or {}
        text = json.dumps(operation)
        return operation.get("syncResult", {}).get("revision") == revision and "forbidden" in text.lower()

    try:
        application = stack.wait_app(app("dev"), refused, timeout=180)
        text = json.dumps(application["status"]["operationState"])
        assert "system:serviceaccount:flask-gitops-sync:deployer" in text, text[:2000]
        assert dev.maybe_get("pod", "smuggled", "-n", NS) is None
    finally:
        (work / "clusters/dev/pod.yaml").unlink()
        kustomization.write_text(original)
        commit_and_push(work, "e2e: remove the Pod")
        # The refused sync retries with backoff: stop it, as a person would press Terminate.
        with contextlib.suppress(GitopsError):
            stack.api.call("DELETE", f"/api/v1/applications/{app('dev')}/operation")
        stack.api.application(app("dev"), refresh="normal")
        stack.wait_app(app("dev"), synced_healthy(deploy_revision(stack)), timeout=240)
