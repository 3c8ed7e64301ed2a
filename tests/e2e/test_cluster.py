"""The rendered manifests against a real API server: admission, defaulting, strict fields."""

from __future__ import annotations

import copy
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from gitops.kustomize import build
from tests.e2e.cluster import ROOT, wait

pytestmark = pytest.mark.e2e
CLUSTERS = sorted(p.name for p in (ROOT / "clusters").iterdir() if p.is_dir())
RESTRICTED = {
    "pod-security.kubernetes.io/enforce": "restricted",
    "pod-security.kubernetes.io/enforce-version": "latest",
    "pod-security.kubernetes.io/warn": "restricted",
}


def namespace(cluster, name: str) -> None:
    cluster.apply_json({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": RESTRICTED}})


@pytest.mark.parametrize("name", CLUSTERS)
def test_server_side_dry_run_is_clean(cluster, name):
    text = build(ROOT / "clusters" / name).text
    ns = yaml.safe_load_all(text).__next__()["metadata"]["namespace"]
    namespace(cluster, ns)
    result = cluster.kubectl(
        "apply",
        "--server-side",
        "--dry-run=server",
        "--validate=strict",
        "--field-manager=argocd-e2e",
        "-f",
        "-",
        input=text,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr == "", "no warnings"
    assert result.stdout.count("serverside-applied (server dry run)") == len(list(yaml.safe_load_all(text)))


def test_argocd_objects_apply_against_the_pinned_crds(cluster):
    crds = Path(os.environ.get("TOOLS_DIR") or ROOT / ".tools") / "argocd-crds"
    for crd in sorted(crds.glob("*-crd.yaml")):
        cluster.kubectl("apply", "--server-side", "--field-manager=e2e", "-f", str(crd))
    wait(
        "CRDs established",
        lambda: all(
            any(
                c["type"] == "Established" and c["status"] == "True"
                for c in crd.get("status", {}).get("conditions") or []
            )
            for crd in cluster.get("crd")["items"]
        ),
    )
    cluster.apply_json({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "argocd"}})
    result = cluster.kubectl(
        "apply",
        "--server-side",
        "--validate=strict",
        "--field-manager=e2e",
        "-f",
        "-",
        input=build(ROOT / "argocd" / "projects").text + "---\n" + build(ROOT / "argocd").text,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    # The one expected warning: Argo CD recognises only the bare finalizer name on AppProjects
    # (it blocks deleting a project that Applications still use), which the API server flags.
    warnings = [line for line in result.stderr.splitlines() if line]
    project_finalizer = 'metadata.finalizers: "resources-finalizer.argocd.argoproj.io": prefer a domain-qualified'
    assert warnings, "kubectl prints the AppProject finalizer warning (once: it folds repeats)"
    assert all(line.startswith("Warning: " + project_finalizer) for line in warnings)
    appset = cluster.get("applicationset", "flask-app", "-n", "argocd")
    assert appset["spec"]["goTemplateOptions"] == ["missingkey=error"]
    assert {p["metadata"]["name"] for p in cluster.get("appproject", "-n", "argocd")["items"]} == {
        "default",
        "flask-app",
        "flask-gitops-bootstrap",
        "addons",
    }
    assert cluster.get("applicationset", "addons", "-n", "argocd")["spec"]["template"]["spec"]["project"] == "addons"


def _deployment_ready(cluster, ns: str, image: str | None = None):
    deployment = cluster.get("deployment", "flask-app", "-n", ns)
    status = deployment.get("status", {})
    desired = deployment["spec"].get("replicas", 1)
    conditions = {c["type"]: c["status"] for c in status.get("conditions", [])}
    done = (
        conditions.get("Available") == "True"
        and status.get("updatedReplicas") == desired
        and status.get("readyReplicas") == desired
        and status.get("replicas") == desired
        and status.get("observedGeneration") == deployment["metadata"]["generation"]
    )
    if image and deployment["spec"]["template"]["spec"]["containers"][0]["image"] != image:
        return False
    return deployment if done else False


@pytest.fixture(scope="module")
def dev(cluster):
    text = build(ROOT / "clusters" / "dev").text
    namespace(cluster, "flask-app-dev")
    result = cluster.kubectl("apply", "--server-side", "--field-manager=argocd-e2e", "-f", "-", input=text, check=False)
    assert result.returncode == 0, result.stderr
    return text


def test_dev_render_rolls_out_on_kwok_nodes(cluster, dev):
    deployment = wait("deployment Available", lambda: _deployment_ready(cluster, "flask-app-dev"))
    pods = cluster.get("pods", "-n", "flask-app-dev", "-l", "app.kubernetes.io/name=flask-app")["items"]
    assert len(pods) == deployment["spec"]["replicas"] >= 1
    for pod in pods:
        assert pod["spec"]["nodeName"].startswith("kwok-node-")
        ready = {c["type"]: c["status"] for c in pod["status"]["conditions"]}
        assert ready["Ready"] == "True"
        # Defaulting and the restricted standard left the pod as the manifests say.
        assert pod["spec"]["securityContext"]["runAsNonRoot"] is True
        assert pod["spec"]["automountServiceAccountToken"] is False


def test_service_has_endpoints(cluster, dev):
    def addresses():
        slices = cluster.get("endpointslices", "-n", "flask-app-dev", "-l", "kubernetes.io/service-name=flask-app")
        return [
            a
            for s in slices["items"]
            for e in s.get("endpoints") or []
            if e["conditions"].get("ready")
            for a in e["addresses"]
        ]

    assert wait("service endpoints", addresses)
    ports = cluster.get("endpointslices", "-n", "flask-app-dev", "-l", "kubernetes.io/service-name=flask-app")["items"][
        0
    ]["ports"]
    assert ports == [{"name": "http", "port": 5000, "protocol": "TCP"}]


def test_hpa_is_accepted_and_targets_the_deployment(cluster, dev):
    def observed():
        hpa = cluster.get("hpa", "flask-app", "-n", "flask-app-dev")
        conditions = {c["type"]: c for c in hpa.get("status", {}).get("conditions", [])}
        return hpa if "AbleToScale" in conditions else False

    hpa = wait("HPA reconciled", observed)
    assert hpa["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": "flask-app"}
    conditions = {c["type"]: c for c in hpa["status"]["conditions"]}
    assert conditions["AbleToScale"]["status"] == "True"
    # No metrics server here: the HPA says so, instead of failing to find its target.
    assert "FailedGetScale" not in json.dumps(conditions)
    assert hpa["status"]["currentReplicas"] >= 1


def test_pdb_reports_allowed_disruptions(cluster, dev):
    def computed():
        pdb = cluster.get("pdb", "flask-app", "-n", "flask-app-dev")
        status = pdb.get("status", {})
        return pdb if status.get("expectedPods", 0) >= 1 and "disruptionsAllowed" in status else False

    pdb = wait("PDB status", computed)
    assert pdb["status"]["disruptionsAllowed"] == min(1, pdb["status"]["currentHealthy"])


def test_network_policies_are_stored_as_written(cluster, dev):
    written = {d["metadata"]["name"]: d for d in yaml.safe_load_all(dev) if d["kind"] == "NetworkPolicy"}
    for name, doc in written.items():
        stored = cluster.get("networkpolicy", name, "-n", "flask-app-dev")
        assert stored["spec"] == doc["spec"]


def test_set_image_rolls_out_with_no_unavailable_pod(cluster, dev, tmp_path):
    work = tmp_path / "repo"
    work.mkdir()
    for item in ("gitops.yaml", ".yamllint", "apps", "clusters", "argocd"):
        src = ROOT / item
        (shutil.copytree if src.is_dir() else shutil.copy2)(src, work / item)
    tag = "sha-e2e0001"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "gitops",
            "-C",
            str(work),
            "set-image",
            "--env",
            "dev",
            "--tag",
            tag,
            "--digest",
            "sha256:" + "e2" * 32,
        ],
        check=True,
        capture_output=True,
    )
    before = cluster.get("deployment", "flask-app", "-n", "flask-app-dev")
    desired = before["spec"]["replicas"]
    text = build(work / "clusters" / "dev").text
    image = next(d for d in yaml.safe_load_all(text) if d["kind"] == "Deployment")["spec"]["template"]["spec"][
        "containers"
    ][0]["image"]
    assert tag in image
    cluster.kubectl("apply", "--server-side", "--field-manager=argocd-e2e", "-f", "-", input=text)
    lowest = desired
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        deployment = cluster.get("deployment", "flask-app", "-n", "flask-app-dev")
        lowest = min(lowest, deployment.get("status", {}).get("availableReplicas", 0))
        if _deployment_ready(cluster, "flask-app-dev", image):
            break
        time.sleep(0.1)
    else:
        raise AssertionError("rollout did not complete")
    assert lowest >= desired, "maxUnavailable 0: availability never dropped"
    pods = cluster.get("pods", "-n", "flask-app-dev", "-l", "app.kubernetes.io/name=flask-app")["items"]
    live = [p for p in pods if not p["metadata"].get("deletionTimestamp")]
    assert live
    assert {p["spec"]["containers"][0]["image"] for p in live} == {image}


def test_restricted_standard_rejects_a_privileged_pod(cluster):
    namespace(cluster, "flask-app-staging")
    text = build(ROOT / "clusters" / "staging").text
    deployment = next(d for d in yaml.safe_load_all(text) if d["kind"] == "Deployment")
    pod = copy.deepcopy(deployment["spec"]["template"])
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "bad", "namespace": "flask-app-staging", "labels": pod["metadata"]["labels"]},
        "spec": pod["spec"],
    }
    pod["spec"]["containers"][0]["securityContext"].update(allowPrivilegeEscalation=True, runAsNonRoot=False)
    pod["spec"]["securityContext"].pop("runAsNonRoot")
    pod["spec"].pop("serviceAccountName")  # the namespace's default account, created by the controller manager
    wait(
        "default service account",
        lambda: (
            cluster.kubectl("get", "serviceaccount", "default", "-n", "flask-app-staging", check=False).returncode == 0
        ),
    )
    result = cluster.kubectl(
        "apply", "--server-side", "--field-manager=e2e", "-f", "-", input=json.dumps(pod), check=False
    )
    assert result.returncode != 0
    assert 'violates PodSecurity "restricted:latest"' in result.stderr
    assert "allowPrivilegeEscalation != false" in result.stderr
