"""The merge gate reads what Argo CD will do (issue 24): each harmful change is refused by its policy id.

Every case is a copy of this repository with one pull-request-like change, judged by the
real `gitops validate` (kustomize, kubeconform, Argo CD's ApplicationSet and repo-server
code). The change must be refused with the named policy id in one line; the unchanged copy
passes (test_validate.py), so each test fails without the policy it names.
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import pytest

from gitops.cli import main

APPSET = "argocd/applicationset.yaml"
DEPLOY = "apps/flask-app/base/deployment.yaml"
DENY = "apps/flask-app/base/networkpolicy-default-deny.yaml"


def validate(repo: Path, capsys) -> list[str]:
    code = main(["-C", str(repo), "validate"])
    out = capsys.readouterr().out.splitlines()
    assert code == (1 if out[:-1] else 0), out
    return out[:-1]


def ids(lines: list[str]) -> set[str]:
    return {line.split(" ", 1)[0] for line in lines}


def edit(repo: Path, rel: str, old: str, new: str) -> None:
    path = repo / rel
    text = path.read_text()
    assert old in text, f"{old!r} not in {rel}"
    path.write_text(text.replace(old, new, 1))


def annotate(repo: Path, rel: str, key: str, value: str) -> None:
    """Add an annotation to the resource's top-level metadata (to its annotations when it has some)."""
    path = repo / rel
    lines = path.read_text().splitlines(keepends=True)
    at = lines.index("metadata:\n") + 1
    block = range(at, next((i for i in range(at, len(lines)) if not lines[i].startswith(" ")), len(lines)))
    entry = f"    {key}: {value!r}\n"
    found = next((i for i in block if lines[i] == "  annotations:\n"), None)
    if found is None:
        lines[at:at] = ["  annotations:\n", entry]
    else:
        lines[found + 1 : found + 1] = [entry]
    path.write_text("".join(lines))


# --- Argo CD annotations on rendered resources ----------------------------------------
@pytest.mark.parametrize(
    ("rel", "key", "value"),
    [
        (DENY, "argocd.argoproj.io/hook", "PreSync"),
        (DEPLOY, "argocd.argoproj.io/sync-options", "Replace=true,Force=true"),
        (DEPLOY, "argocd.argoproj.io/compare-options", "IgnoreExtraneous"),
        (DEPLOY, "argocd.argoproj.io/sync-wave", "-5"),
        (DENY, "helm.sh/hook", "pre-install"),
        (DEPLOY, "argocd.argoproj.io/tracking-id", "other:apps/Deployment:flask-app/flask-app"),
    ],
)
def test_argocd_annotations_are_refused_unless_reviewed(repo, capsys, rel, key, value):
    annotate(repo, rel, key, value)
    found = validate(repo, capsys)
    assert "GO150" in ids(found), found
    assert any(key in line and "reviewedAnnotations" in line for line in found)


def test_a_reviewed_annotation_passes(repo, capsys):
    annotate(repo, DEPLOY, "argocd.argoproj.io/sync-wave", "1")
    edit(repo, "gitops.yaml", "reviewedAnnotations: []\n", "reviewedAnnotations:\n  - argocd.argoproj.io/sync-wave=1\n")
    assert "GO150" not in ids(validate(repo, capsys))


def test_ui_links_are_not_controls(repo, capsys):
    annotate(repo, DEPLOY, "link.argocd.argoproj.io/runbook", "https://example.org/runbook")
    assert validate(repo, capsys) == []


# --- what an Application or the ApplicationSet template says beyond the path -------------
def test_template_kustomize_patches_are_refused(repo, capsys):
    edit(
        repo,
        APPSET,
        '        path: "{{ .path.path }}"\n',
        '        path: "{{ .path.path }}"\n        kustomize:\n          patches:\n'
        "            - target: {kind: Service}\n"
        '              patch: \'[{"op": "replace", "path": "/spec/type", "value": "NodePort"}]\'\n',
    )
    found = validate(repo, capsys)
    assert "GO146" in ids(found), found
    assert any("source.kustomize.patches" in line for line in found)
    # The render is Argo CD's own: the patched Service is what the policies saw.
    assert any(line.startswith("GO135") and "NodePort" in line for line in found), found


def test_template_patch_sync_options_are_refused(repo, capsys):
    edit(repo, APPSET, "          - PruneLast=true\n", "          - PruneLast=true\n          - Replace=true\n")
    found = validate(repo, capsys)
    assert "GO147" in ids(found), found
    assert any("'Replace=true'" in line for line in found), found


@pytest.mark.parametrize("revision", ["attacker-branch", "v1.0.0", "0123456789abcdef0123456789abcdef01234567"])
def test_target_revision_other_than_the_reviewed_one_is_refused(repo, capsys, revision):
    edit(repo, APPSET, "        targetRevision: HEAD\n", f"        targetRevision: {revision}\n")
    found = validate(repo, capsys)
    assert "GO145" in ids(found), found
    assert any("targetRevision" in line for line in found), found


def test_generator_revision_other_than_the_reviewed_one_is_refused(repo, capsys):
    edit(repo, APPSET, "        revision: HEAD\n", "        revision: attacker-branch\n")
    assert "GO145" in ids(validate(repo, capsys))


def test_an_application_with_operation_is_refused(repo, capsys):
    (repo / "argocd/application-sync.yaml").write_text(
        "apiVersion: argoproj.io/v1alpha1\nkind: Application\nmetadata:\n  name: sneaky\n"
        "spec:\n  project: flask-app\n  source:\n    repoURL: https://github.com/example-org/flask-gitops.git\n"
        "    targetRevision: HEAD\n    path: clusters/dev\n  destination:\n    name: dev\n"
        "    namespace: flask-app-dev\noperation:\n  sync:\n    revision: HEAD\n"
    )
    edit(
        repo,
        "argocd/kustomization.yaml",
        "  - application-root.yaml\n",
        "  - application-root.yaml\n  - application-sync.yaml\n",
    )
    found = validate(repo, capsys)
    assert any(line.startswith("GO146") and "operation" in line for line in found), found


def test_a_hand_written_application_to_an_unchecked_path_is_refused_and_rendered(repo, capsys):
    evil = repo / "apps/evil"
    evil.mkdir(parents=True)
    (evil / "service.yaml").write_text(
        "apiVersion: v1\nkind: Service\nmetadata:\n  name: open\n  namespace: flask-app-dev\n"
        "spec:\n  type: NodePort\n  selector:\n    app.kubernetes.io/name: flask-app\n  ports:\n    - port: 80\n"
    )
    (repo / "argocd/application-evil.yaml").write_text(
        "apiVersion: argoproj.io/v1alpha1\nkind: Application\nmetadata:\n  name: evil\n"
        "spec:\n  project: flask-app\n  source:\n    repoURL: https://github.com/example-org/flask-gitops.git\n"
        "    targetRevision: HEAD\n    path: apps/evil\n  destination:\n    name: dev\n    namespace: flask-app-dev\n"
    )
    edit(
        repo,
        "argocd/kustomization.yaml",
        "  - application-root.yaml\n",
        "  - application-root.yaml\n  - application-evil.yaml\n",
    )
    found = validate(repo, capsys)
    assert "GO149" in ids(found), found
    # What it would deploy was rendered (Argo CD's directory source) and checked too.
    assert any(line.startswith("GO135 apps/evil") and "NodePort" in line for line in found), found


# --- hiding Argo CD objects from the gate ------------------------------------------------
def test_kustomization_yml_under_argocd_is_still_rendered(repo, capsys):
    (repo / "argocd/kustomization.yaml").rename(repo / "argocd/kustomization.yml")
    edit(
        repo,
        APPSET,
        "    - git:\n",
        "    - pullRequest:\n        github:\n          owner: example-org\n          repo: flask-gitops\n"
        "          tokenRef: {secretName: argocd-secret, key: server.secretkey}\n"
        "    - git:\n",
    )
    found = validate(repo, capsys)
    assert "GO148" in ids(found), found
    assert any("tokenRef" in line for line in found)
    assert any("'pullRequest' generator" in line for line in found)


def test_a_plain_argocd_folder_is_read_as_argo_cd_reads_it(repo, capsys):
    (repo / "argocd/kustomization.yaml").unlink()
    edit(repo, APPSET, "        targetRevision: HEAD\n", "        targetRevision: attacker-branch\n")
    assert "GO145" in ids(validate(repo, capsys))


def test_pointing_clusters_elsewhere_still_checks_what_argo_cd_deploys(repo, capsys):
    other = repo / "decoy"
    (other / "dev").mkdir(parents=True)
    for name in ("config.yaml", "kustomization.yaml"):
        text = (repo / "clusters/dev" / name).read_text()
        (other / "dev" / name).write_text(text.replace("../../apps", "../../apps"))
    edit(repo, "gitops.yaml", "clusters: clusters\n", "clusters: decoy\n")
    edit(repo, "clusters/dev/kustomization.yaml", "resources:\n", "resources:\n  - evil-service.yaml\n")
    (repo / "clusters/dev/evil-service.yaml").write_text(
        "apiVersion: v1\nkind: Service\nmetadata:\n  name: open\nspec:\n  type: NodePort\n"
        "  selector:\n    app.kubernetes.io/name: flask-app\n  ports:\n    - port: 80\n"
    )
    found = validate(repo, capsys)
    # Argo CD's ApplicationSet reads clusters/*/config.yaml: that folder is rendered and checked.
    assert any(line.startswith("GO135 clusters/dev") for line in found), found
    assert "GO149" in ids(found)


# --- weakening the defences --------------------------------------------------------------
def test_an_audit_only_admission_binding_is_refused(repo, capsys):
    edit(repo, "apps/flask-app/base/validatingadmissionpolicybinding.yaml", "[Deny]", "[Audit]")
    assert "GO151" in ids(validate(repo, capsys))


def test_an_ignoring_admission_policy_is_refused(repo, capsys):
    edit(repo, "apps/flask-app/base/validatingadmissionpolicy.yaml", "failurePolicy: Fail", "failurePolicy: Ignore")
    assert "GO151" in ids(validate(repo, capsys))


def test_an_old_pod_security_version_is_refused(repo, capsys):
    edit(
        repo,
        APPSET,
        "pod-security.kubernetes.io/enforce-version: latest",
        'pod-security.kubernetes.io/enforce-version: "v1.22"',
    )
    found = validate(repo, capsys)
    assert any(line.startswith("GO139") and "enforce-version" in line for line in found), found


def test_source_ranges_that_add_up_to_the_internet_are_refused(repo, capsys):
    service = repo / "clusters/prod-eu/service-loadbalancer.yaml"
    text = service.read_text()
    start = text.index("loadBalancerSourceRanges:")
    service.write_text(text[:start] + "loadBalancerSourceRanges:\n    - 0.0.0.0/1\n    - 128.0.0.0/1\n")
    found = validate(repo, capsys)
    assert any(line.startswith("GO135") and "public addresses (more than a /8)" in line for line in found), found


def test_netpol_ranges_that_add_up_to_the_internet_are_refused(repo, capsys):
    rel = "clusters/prod-eu/networkpolicy-loadbalancer.yaml"
    edit(repo, rel, "cidr: 203.0.113.0/24", "cidr: 0.0.0.0/1")
    edit(repo, rel, "cidr: 198.51.100.0/25", "cidr: 128.0.0.0/1")
    found = validate(repo, capsys)
    assert any(line.startswith("GO136") and "public addresses (more than a /8)" in line for line in found), found


@pytest.mark.parametrize("verb", ["escalate", "bind", "impersonate"])
def test_privilege_verbs_are_refused(repo, capsys, verb):
    (repo / "apps/flask-app/base/role.yaml").write_text(
        "apiVersion: rbac.authorization.k8s.io/v1\nkind: Role\nmetadata:\n  name: flask-app\n"
        f"rules:\n  - apiGroups: [rbac.authorization.k8s.io]\n    resources: [roles]\n    verbs: [get, {verb}]\n"
    )
    edit(repo, "apps/flask-app/base/kustomization.yaml", "resources:\n", "resources:\n  - role.yaml\n")
    found = validate(repo, capsys)
    assert any(line.startswith("GO152") and verb in line for line in found), found


def test_bindings_to_everyone_are_refused(repo, capsys):
    (repo / "apps/flask-app/base/rolebinding.yaml").write_text(
        "apiVersion: rbac.authorization.k8s.io/v1\nkind: RoleBinding\nmetadata:\n  name: flask-app\n"
        "roleRef:\n  apiGroup: rbac.authorization.k8s.io\n  kind: Role\n  name: view\n"
        "subjects:\n  - apiGroup: rbac.authorization.k8s.io\n    kind: Group\n    name: system:authenticated\n"
    )
    edit(repo, "apps/flask-app/base/kustomization.yaml", "resources:\n", "resources:\n  - rolebinding.yaml\n")
    found = validate(repo, capsys)
    assert any(line.startswith("GO152") and "system:authenticated" in line for line in found), found


# --- bounded work ------------------------------------------------------------------------
BOMB = (
    "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: bomb\ndata:\n"
    '  a: &a ["x", "x", "x", "x", "x", "x", "x", "x", "x"]\n'
    + "".join(f"  {n}: &{n} [{', '.join([f'*{p}'] * 9)}]\n" for p, n in zip("abcdefgh", "bcdefghi", strict=True))
)


def test_an_alias_bomb_is_one_finding_within_seconds_and_bounded_memory(repo):
    (repo / "apps/flask-app/base/bomb.yaml").write_text(BOMB)
    edit(repo, "apps/flask-app/base/kustomization.yaml", "resources:\n", "resources:\n  - bomb.yaml\n")
    result = subprocess.run(
        [sys.executable, "-m", "gitops", "-C", str(repo), "validate"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    peak_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    bomb = [line for line in result.stdout.splitlines() if "bomb.yaml" in line and line.startswith("GO153")]
    assert bomb, result.stdout
    assert "aliases expand" in bomb[0]
    # Issue 24's memory goal: no process of the run (gitops, kustomize, kubeconform) held 500 MB.
    assert peak_kib < 500 * 1024, peak_kib


def test_a_tool_over_its_time_bound_is_killed_with_its_children(tmp_path):
    from gitops import bounded

    script = tmp_path / "slow.sh"
    marker = tmp_path / "child.pid"
    script.write_text(f"#!/bin/sh\nsleep 300 &\necho $! > {marker}\nwait\n")
    script.chmod(0o755)
    with pytest.raises(bounded.Exceeded, match="time bound"):
        bounded.run([str(script)], what="slow", timeout=1)
    child = int(marker.read_text())
    for _ in range(50):
        try:
            os.kill(child, 0)
        except ProcessLookupError:
            break
        time.sleep(0.1)
    else:
        pytest.fail(f"the tool's child {child} outlived the time-out")


def test_a_tool_over_its_memory_bound_is_one_line(tmp_path):
    from gitops import bounded

    with pytest.raises(bounded.Exceeded, match="memory bound"):
        bounded.run([sys.executable, "-c", "x = bytearray(600 << 20)"], what="greedy", memory=300 << 20, timeout=30)


def test_a_tool_dies_with_a_gitops_that_is_killed(tmp_path):
    """kill -9 of gitops leaves no tool behind (setpriv --pdeathsig KILL on every tool it runs)."""
    marker = tmp_path / "tool.pid"
    tool = tmp_path / "tool.sh"
    tool.write_text(f"#!/bin/sh\necho $$ > {marker}\nexec sleep 300\n")
    tool.chmod(0o755)
    code = f"from gitops import bounded; bounded.run([{str(tool)!r}], what='tool', timeout=600)"
    gitops = subprocess.Popen([sys.executable, "-c", code])
    try:
        for _ in range(100):
            if marker.exists() and marker.read_text().strip():
                break
            time.sleep(0.1)
        child = int(marker.read_text())
        os.kill(child, 0)  # running under gitops
    finally:
        gitops.kill()
        gitops.wait()
    for _ in range(50):
        try:
            os.kill(child, 0)
        except ProcessLookupError:
            return
        time.sleep(0.1)
    pytest.fail(f"the tool {child} outlived the gitops that ran it")
