"""The image admission policy (apps/flask-app/base/validatingadmissionpolicy*.yaml) on a real API server.

Each environment's rendered policy and binding are applied as Argo CD would apply them;
then pods and deployments are sent for real (the policy does not judge dry runs: Argo CD's
diff is one), so admission runs in full (Pod Security, the policy); what is admitted is
deleted again. Every object sent satisfies the
restricted Pod Security Standard, so a refusal can only come from the image policy.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
import yaml

from gitops.kustomize import build
from gitops.repo import Repo
from tests.e2e.cluster import ROOT, wait

pytestmark = pytest.mark.e2e

POLICY = "flask-app-images"
DENIED = f"ValidatingAdmissionPolicy '{POLICY}' with binding '{POLICY}' denied request"
RESTRICTED = {
    "pod-security.kubernetes.io/enforce": "restricted",
    "pod-security.kubernetes.io/enforce-version": "latest",
}
REPOSITORY = Repo.load(ROOT).image
DIGEST = "sha256:" + "ab" * 32
ELSEWHERE = "docker.invalid/library/busybox:1.37@" + DIGEST


def rendered(cluster_folder: str) -> list[dict]:
    return build(ROOT / "clusters" / cluster_folder).documents()


def one(docs: list[dict], kind: str) -> dict:
    (found,) = [d for d in docs if d["kind"] == kind]
    return copy.deepcopy(found)


def kubectl_apply(cluster, obj: dict, *extra: str):
    return cluster.kubectl(
        "apply", "--server-side", "--field-manager=e2e-admission", *extra, "-f", "-", input=json.dumps(obj), check=False
    )


def dry_run(cluster, obj: dict):
    return kubectl_apply(cluster, obj, "--dry-run=server")


def admit(cluster, obj: dict):
    """The real request (the policy does not judge dry runs); what it admitted is deleted again."""
    result = kubectl_apply(cluster, obj)
    if result.returncode == 0:
        meta = obj["metadata"]
        cluster.kubectl("delete", obj["kind"].lower(), meta["name"], "-n", meta["namespace"], "--grace-period=0",
                        "--force", "--wait=true", check=False)  # fmt: skip
    return result


def with_images(obj: dict, image: str, init: str | None = None) -> dict:
    obj = copy.deepcopy(obj)
    spec = obj["spec"] if obj["kind"] == "Pod" else obj["spec"]["template"]["spec"]
    for container in spec["containers"]:
        container["image"] = image
    if init is not None:
        spec["initContainers"] = [dict(spec["containers"][0], name="init", image=init)]
        for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
            spec["initContainers"][0].pop(probe, None)
        spec["initContainers"][0].pop("lifecycle", None)
    return obj


def pod_of(deployment: dict, name: str) -> dict:
    template = copy.deepcopy(deployment["spec"]["template"])
    metadata = {"name": name, "namespace": deployment["metadata"]["namespace"], "labels": {"e2e": "admission"}}
    return {"apiVersion": "v1", "kind": "Pod", "metadata": metadata, "spec": template["spec"]}


@contextmanager
def policy_of(cluster, cluster_folder: str) -> Iterator[list[dict]]:
    """Apply CLUSTER_FOLDER's rendered policy and binding, wait until the API server enforces them."""
    docs = rendered(cluster_folder)
    deployment = one(docs, "Deployment")
    namespace = deployment["metadata"]["namespace"]
    cluster.apply_json({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace, "labels": RESTRICTED}})
    for kind in ("ServiceAccount", "ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding"):
        result = kubectl_apply(cluster, one(docs, kind), "--validate=strict")
        assert result.returncode == 0, result.stderr
        assert result.stderr == "", f"{kind}: no warnings"
    probe = pod_of(with_images(deployment, ELSEWHERE), "policy-active-probe")
    # Policies and bindings reach the API server's admission through informers: poll.
    wait("the policy to be enforced", lambda: DENIED in admit(cluster, probe).stderr)
    try:
        yield docs
    finally:
        # Leave the shared session cluster as found: the other e2e tests apply these objects too.
        for kind in ("validatingadmissionpolicybinding", "validatingadmissionpolicy"):
            cluster.kubectl("delete", kind, POLICY, "--ignore-not-found")
        service_account = one(docs, "ServiceAccount")["metadata"]["name"]
        cluster.kubectl("delete", "serviceaccount", service_account, "-n", namespace, "--ignore-not-found")


def test_rendered_policy_type_checks_on_the_server(cluster):
    with policy_of(cluster, "prod-eu"):

        def checked():
            stored = cluster.get("validatingadmissionpolicy", POLICY)
            status = stored.get("status") or {}
            return stored if status.get("observedGeneration") == stored["metadata"]["generation"] else False

        stored = wait("type checking", checked)
        assert stored["status"].get("typeChecking", {}).get("expressionWarnings") is None, stored["status"]
        binding = cluster.get("validatingadmissionpolicybinding", POLICY)
        assert binding["spec"]["matchResources"]["namespaceSelector"] == {
            "matchLabels": {"kubernetes.io/metadata.name": "flask-app-prod"}
        }
        # Cluster-scoped: kustomize's namespace on the rendered object is dropped.
        assert "namespace" not in binding["metadata"]


# (image, admitted in dev, admitted in prod): prod requires digests, dev does not.
CASES = {
    "the-rendered-image": (None, True, True),
    "tag-and-digest": (f"{REPOSITORY}:sha-1a2b3c4@{DIGEST}", True, True),
    "digest-only": (f"{REPOSITORY}@{DIGEST}", True, True),
    "tag-only": (f"{REPOSITORY}:sha-1a2b3c4", True, False),
    "no-tag-means-latest": (REPOSITORY, False, False),
    "another-registry": (ELSEWHERE, False, False),
    "same-prefix-other-repository": (f"{REPOSITORY}-debug:sha-1a2b3c4@{DIGEST}", False, False),
    "repository-as-a-path-prefix": (f"{REPOSITORY}/sidecar:1.0@{DIGEST}", False, False),
}


@pytest.mark.parametrize("cluster_folder", ["dev", "prod-eu"])
def test_images_admitted_and_refused(cluster, cluster_folder):
    outcomes = {}
    with policy_of(cluster, cluster_folder) as docs:
        deployment = one(docs, "Deployment")
        rendered_image = deployment["spec"]["template"]["spec"]["containers"][0]["image"]
        prod = deployment["metadata"]["namespace"] == "flask-app-prod"
        for case, (image, in_dev, in_prod) in CASES.items():
            image = image or rendered_image
            for obj in (with_images(deployment, image), pod_of(with_images(deployment, image), f"case-{case}")):
                result = admit(cluster, obj)
                admitted = result.returncode == 0
                outcomes[(case, obj["kind"])] = admitted
                expected = in_prod if prod else in_dev
                assert admitted is expected, f"{cluster_folder}: {case} {obj['kind']} {image}: {result.stderr}"
                if not admitted:
                    assert DENIED in result.stderr, result.stderr
                    assert image in result.stderr, "the message names the refused image"
        # An init container counts like any other.
        result = admit(cluster, with_images(deployment, rendered_image, init=ELSEWHERE))
        assert result.returncode != 0
        assert DENIED in result.stderr
        assert ELSEWHERE in result.stderr
    print(
        f"\n{cluster_folder}: "
        + ", ".join(f"{c}/{k}={'admitted' if a else 'refused'}" for (c, k), a in outcomes.items())
    )


def test_a_dry_run_is_not_judged_so_argo_cd_can_diff_across_a_policy_change(cluster):
    """Argo CD diffs with a server-side dry-run apply, judged by the policy live at that moment:
    after a registry move the new image fails the old policy, the diff errs, nothing syncs and
    the new policy never arrives. So a dry run passes; the real request is still refused."""
    with policy_of(cluster, "prod-eu") as docs:
        deployment = with_images(one(docs, "Deployment"), ELSEWHERE)
        assert dry_run(cluster, deployment).returncode == 0
        refused = admit(cluster, deployment)
        assert refused.returncode != 0
        assert DENIED in refused.stderr


def test_only_the_apps_namespace_is_bound(cluster):
    with policy_of(cluster, "dev") as docs:
        other = "flask-app-admission-unbound"
        cluster.apply_json({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": other}})
        deployment = with_images(one(docs, "Deployment"), ELSEWHERE)
        deployment["metadata"]["namespace"] = other
        result = admit(cluster, deployment)
        assert result.returncode == 0, result.stderr


def test_running_pods_cannot_switch_or_add_images(cluster):
    with policy_of(cluster, "prod-eu") as docs:
        deployment = one(docs, "Deployment")
        pod = pod_of(deployment, "admission-running")
        created = kubectl_apply(cluster, pod)
        assert created.returncode == 0, created.stderr
        namespace = pod["metadata"]["namespace"]
        try:
            # An update is admitted like a create: a pod's image can change in place.
            result = admit(cluster, with_images(pod, ELSEWHERE))
            assert result.returncode != 0
            assert DENIED in result.stderr, result.stderr
            # `kubectl debug` adds an ephemeral container (the restricted profile keeps Pod
            # Security out of the way): refused from elsewhere, admitted from the repository.
            for image, admitted in ((ELSEWHERE, False), (f"{REPOSITORY}@{DIGEST}", True)):
                result = cluster.kubectl(
                    "debug",
                    "-n",
                    namespace,
                    "admission-running",
                    f"--image={image}",
                    "--profile=restricted",
                    "--attach=false",
                    "--quiet",
                    check=False,
                )
                assert (result.returncode == 0) is admitted, result.stderr
                if not admitted:
                    assert DENIED in result.stderr, result.stderr
            stored = cluster.get("pod", "admission-running", "-n", namespace)
            assert [c["image"] for c in stored["spec"].get("ephemeralContainers", [])] == [f"{REPOSITORY}@{DIGEST}"]
        finally:
            cluster.kubectl("delete", "pod", "admission-running", "-n", namespace, "--grace-period=0", "--force")


def test_every_cluster_render_with_its_policy_dry_runs_clean(cluster):
    """The whole render, policy included, passes the API server strictly and without warnings."""
    for name in sorted(p.name for p in (ROOT / "clusters").iterdir() if p.is_dir()):
        docs = rendered(name)
        namespace = one(docs, "Deployment")["metadata"]["namespace"]
        cluster.apply_json(
            {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace, "labels": RESTRICTED}}
        )
        text = yaml.safe_dump_all(docs)
        result = cluster.kubectl(
            "apply",
            "--server-side",
            "--dry-run=server",
            "--validate=strict",
            "--field-manager=e2e-admission",
            "-f",
            "-",
            input=text,
            check=False,
        )
        assert result.returncode == 0, result.stderr
        assert result.stderr == "", f"{name}: no warnings"


def _rollout_done(cluster, namespace: str, image: str):
    """The Deployment runs only ``image``: every old ReplicaSet scaled to zero, the new one available."""

    def done():
        deployment = cluster.get("deployment", "flask-app", "-n", namespace)
        status = deployment.get("status") or {}
        sets = cluster.get("replicasets", "-n", namespace, "-l", "app.kubernetes.io/name=flask-app")["items"]
        old = [
            rs
            for rs in sets
            if rs["spec"]["template"]["spec"]["containers"][0]["image"] != image and rs["spec"].get("replicas", 0)
        ]
        want = deployment["spec"]["replicas"]
        return not old and status.get("updatedReplicas") == want and status.get("availableReplicas") == want

    return done


def _with_variable(policy: dict, name: str, expression: str) -> dict:
    policy = copy.deepcopy(policy)
    for variable in policy["spec"]["variables"]:
        if variable["name"] == name:
            variable["expression"] = expression
    policy["metadata"].pop("namespace", None)
    return policy


@pytest.mark.parametrize(
    ("change", "before", "after"),
    [
        # gitops configure --image: the registry moves, the old image is now from elsewhere.
        ("registry-move", f"{REPOSITORY}:1.0.0", f"registry.moved.example/flask-app:1.0.1@{DIGEST}"),
        # dev added to digestRequired: the running tag-only image no longer passes.
        ("digest-required", f"{REPOSITORY}:1.0.0", f"{REPOSITORY}:1.0.1@{DIGEST}"),
    ],
)
def test_a_rollout_across_a_change_of_the_allowed_images_finishes(cluster, change, before, after):
    """Issue 28: the Deployment controller scales the old ReplicaSet down with an UPDATE that
    still carries the old image; the policy must not refuse it, or the rollout stops half-way."""
    with policy_of(cluster, "dev") as docs:
        deployment = with_images(one(docs, "Deployment"), before)
        deployment["spec"]["replicas"] = 2
        namespace = deployment["metadata"]["namespace"]
        # The API server learns policy changes through an informer: the previous case's
        # changed policy may still be the one it enforces. Wait for this one to admit.
        probe = pod_of(deployment, "new-policy-probe")
        wait("the rendered policy to admit the image", lambda: admit(cluster, probe).returncode == 0)
        created = kubectl_apply(cluster, deployment)
        assert created.returncode == 0, created.stderr
        try:
            wait("the first rollout", _rollout_done(cluster, namespace, before))
            policy = one(docs, "ValidatingAdmissionPolicy")
            if change == "registry-move":
                policy = _with_variable(policy, "repository", "'registry.moved.example/flask-app'")
            else:
                policy = _with_variable(policy, "digestRequired", "true")
            applied = kubectl_apply(cluster, policy)
            assert applied.returncode == 0, applied.stderr
            old_pod = pod_of(with_images(deployment, before), "old-image-probe")
            wait("the new rule to be enforced", lambda: DENIED in admit(cluster, old_pod).stderr)
            updated = kubectl_apply(cluster, with_images(deployment, after))
            assert updated.returncode == 0, updated.stderr
            wait("the rollout across the change", _rollout_done(cluster, namespace, after))
        finally:
            # Gone with its ReplicaSets before the next case lists them (foreground deletion, waited for).
            cluster.kubectl(
                "delete", "deployment", "flask-app", "-n", namespace, "--ignore-not-found", "--cascade=foreground"
            )
