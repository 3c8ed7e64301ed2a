"""The declarative state: what Argo CD reconciles must be right on a real cluster."""

from __future__ import annotations

import difflib
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from gitops.kustomize import build
from gitops.repo import Repo
from gitops.toolchain import repo_root

ROOT = repo_root()

APP = ROOT / "apps" / "flask-app"
ENVS = Repo.load(ROOT).environments
CLUSTERS = sorted(p.name for p in (ROOT / "clusters").iterdir() if p.is_dir())
# The image admission policy (apps/flask-app/base): the app's only cluster-scoped objects.
POLICY = "flask-app-images"
ADMISSION_GROUP = "admissionregistration.k8s.io"
ADMISSION = {"ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding"}
TREE_ONLY = {"ReplicaSet", "Pod"}


def docs(path: Path) -> list[dict]:
    return build(path).documents()


def one(items: list[dict], kind: str, name: str = "flask-app") -> dict:
    (found,) = [d for d in items if d["kind"] == kind and d["metadata"]["name"] == name]
    return found


@pytest.fixture(scope="module")
def rendered() -> dict[str, list[dict]]:
    return {name: docs(ROOT / "clusters" / name) for name in CLUSTERS}


def test_cluster_folders():
    assert CLUSTERS == ["dev", "prod-eu", "prod-us", "staging"]


def test_every_folder_has_a_kustomization_and_no_deprecated_fields():
    folders = [p for p in (ROOT / "apps").rglob("*") if p.is_dir()] + [
        ROOT / "argocd",
        ROOT / "argocd" / "notifications",
    ]
    folders += [ROOT / "clusters" / c for c in CLUSTERS]
    for folder in folders:
        if folder == APP or folder == APP / "overlays" or folder == ROOT / "apps" / "flask-app":
            continue
        kustomization = folder / "kustomization.yaml"
        assert kustomization.is_file(), folder
        data = yaml.safe_load(kustomization.read_text())
        for deprecated in ("commonLabels", "patchesStrategicMerge", "patchesJson6902", "bases", "vars"):
            assert deprecated not in data, f"{kustomization}: {deprecated}"


def test_base_is_one_resource_per_file_named_by_kind():
    base = yaml.safe_load((APP / "base" / "kustomization.yaml").read_text())
    for name in base["resources"]:
        (doc,) = list(yaml.safe_load_all((APP / "base" / name).read_text()))
        kind = {"HorizontalPodAutoscaler": "hpa", "PodDisruptionBudget": "pdb"}.get(doc["kind"], doc["kind"].lower())
        assert name.split(".")[0].split("-")[0] == kind, name


def test_labels_selectors_use_only_the_name(rendered):
    for items in rendered.values():
        deployment = one(items, "Deployment")
        assert deployment["spec"]["selector"] == {"matchLabels": {"app.kubernetes.io/name": "flask-app"}}
        assert one(items, "Service")["spec"]["selector"] == {"app.kubernetes.io/name": "flask-app"}
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        assert labels["app.kubernetes.io/part-of"] == "flask-gitops"
        assert labels["app.kubernetes.io/component"] == "web"


def test_no_replicas_and_hpa_at_50_percent_cpu(rendered):
    for items in rendered.values():
        assert "replicas" not in one(items, "Deployment")["spec"]
        hpa = one(items, "HorizontalPodAutoscaler")
        assert hpa["apiVersion"] == "autoscaling/v2"
        (metric,) = hpa["spec"]["metrics"]
        assert metric["resource"]["name"] == "cpu"
        assert metric["resource"]["target"] == {"type": "Utilization", "averageUtilization": 50}
        behavior = hpa["spec"]["behavior"]
        assert behavior["scaleUp"]["stabilizationWindowSeconds"] < behavior["scaleDown"]["stabilizationWindowSeconds"]


def _env(container: dict, items: list[dict] | None = None) -> dict[str, str]:
    """The container's environment, with values from ConfigMaps of ``items`` resolved."""
    maps = {d["metadata"]["name"]: d.get("data", {}) for d in items or [] if d["kind"] == "ConfigMap"}
    env = {}
    for entry in container["env"]:
        ref = (entry.get("valueFrom") or {}).get("configMapKeyRef")
        env[entry["name"]] = maps[ref["name"]][ref["key"]] if ref and items is not None else entry.get("value")
    return env


def test_shutdown_budget_matches_gunicorn(rendered):
    conf = (ROOT / "gunicorn.conf.py").read_text()
    default_graceful = int(re.search(r'graceful_timeout = _int\("GRACEFUL_TIMEOUT", (\d+)\)', conf).group(1))
    for items in rendered.values():
        spec = one(items, "Deployment")["spec"]["template"]["spec"]
        (container,) = spec["containers"]
        env = _env(container)
        prestop = container["lifecycle"]["preStop"]["sleep"]["seconds"]
        graceful = int(env.get("GRACEFUL_TIMEOUT", default_graceful))
        drain = int(env["DRAIN_SECONDS"])
        assert spec["terminationGracePeriodSeconds"] >= prestop + drain + graceful + 2


def test_new_pod_is_ready_within_a_few_seconds(rendered):
    for items in rendered.values():
        (container,) = one(items, "Deployment")["spec"]["template"]["spec"]["containers"]
        startup, ready = container["startupProbe"], container["readinessProbe"]
        assert startup["httpGet"]["path"] == "/livez"
        assert container["livenessProbe"]["httpGet"]["path"] == "/livez"
        assert ready["httpGet"]["path"] == "/readyz"
        # Worst case for a pod that starts in under a second: one startup period, one readiness period.
        assert startup.get("initialDelaySeconds", 0) + startup["periodSeconds"] + ready["periodSeconds"] <= 5
        assert ready.get("initialDelaySeconds", 0) == 0


def _image_ports() -> dict[str, int]:
    """The Dockerfile's EXPOSE, named by the ENV settings that choose each port."""
    dockerfile = (ROOT / "Dockerfile").read_text()
    (exposed,) = re.findall(r"^EXPOSE (\d+) (\d+)$", dockerfile, re.M)
    settings = dict(re.findall(r"\b(PORT|PROBE_PORT)=(\d+)\b", dockerfile))
    assert tuple(settings.values()) == exposed
    return {"http": int(settings["PORT"]), "probes": int(settings["PROBE_PORT"])}


def test_pod_matches_the_image_contract(rendered):
    dockerfile = (ROOT / "Dockerfile").read_text()
    uid, gid = re.findall(r"^USER (\d+):(\d+)$", dockerfile, re.M)[-1]
    ports = _image_ports()
    for items in rendered.values():
        pod = one(items, "Deployment")["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsUser"] == int(uid)
        assert pod["securityContext"]["runAsGroup"] == int(gid)
        (container,) = pod["containers"]
        assert container["ports"] == [
            {"name": name, "containerPort": number, "protocol": "TCP"} for name, number in ports.items()
        ]
        assert {"name": "tmp", "mountPath": "/tmp"} in container["volumeMounts"]
        # The image's CMD (the same command as `make run`) runs as built.
        assert "args" not in container
        assert "command" not in container


def test_probes_use_the_probe_port_that_only_the_kubelet_reaches(rendered):
    """Slow clients on the traffic port cannot delay the probes (tests/app/test_edge.py)."""
    for items in rendered.values():
        (container,) = one(items, "Deployment")["spec"]["template"]["spec"]["containers"]
        for kind in ("startupProbe", "livenessProbe", "readinessProbe"):
            assert container[kind]["httpGet"]["port"] == "probes", kind
        service_targets = {port["targetPort"] for port in one(items, "Service")["spec"]["ports"]}
        assert "probes" not in service_targets
        for policy in (d for d in items if d["kind"] == "NetworkPolicy"):
            for rule in policy["spec"].get("ingress", []):
                assert all(port["port"] != "probes" for port in rule.get("ports", [])), policy["metadata"]["name"]


def test_environment_name_and_image_per_cluster(rendered):
    config = {c: yaml.safe_load((ROOT / "clusters" / c / "config.yaml").read_text()) for c in CLUSTERS}
    for name, items in rendered.items():
        env = config[name]["environment"]
        deployment = one(items, "Deployment")
        assert deployment["metadata"]["namespace"] == config[name]["namespace"] == f"flask-app-{env}"
        (container,) = deployment["spec"]["template"]["spec"]["containers"]
        assert _env(container, items)["APP_ENV"] == env
        # The overlay's configMapGenerator: a hashed name, so a changed value rolls the pods.
        (config_map,) = [d for d in items if d["kind"] == "ConfigMap"]
        assert re.fullmatch(r"flask-app-env-[a-z0-9]{10}", config_map["metadata"]["name"])
        assert config_map["data"]["APP_ENV"] == env
        assert re.fullmatch(r"[\w./-]+:[\w.-]+@sha256:[0-9a-f]{64}", container["image"])


def test_tags_and_digests_live_only_in_overlay_images():
    for path in (ROOT / "apps").rglob("*.yaml"):
        text = path.read_text()
        found = re.findall(r"sha256:[0-9a-f]{64}|newTag:", text)
        if path.name == "kustomization.yaml" and path.parent.parent.name == "overlays":
            assert len(found) == 2, path
        else:
            assert not found, path
    for path in (ROOT / "clusters").rglob("*.yaml"):
        assert "sha256:" not in path.read_text()
        assert "newTag" not in path.read_text()


def test_overlays_differ_from_base_by_a_few_lines():
    for env in ENVS:
        overlay = APP / "overlays" / env
        lines = sum(len(p.read_text().splitlines()) for p in overlay.glob("*.yaml"))
        assert lines < 70, f"{env} overlay has {lines} lines"


def test_two_prod_clusters_differ_only_in_what_truly_differs(rendered):
    eu = yaml.safe_dump_all(rendered["prod-eu"]).splitlines()
    us = yaml.safe_dump_all(rendered["prod-us"]).splitlines()
    changed = [
        line
        for line in difflib.unified_diff(eu, us, lineterm="", n=0)
        if line[:1] in "+-" and not line.startswith(("+++", "---"))
    ]
    for line in changed:
        assert re.search(r"flask-gitops/cluster: prod-(eu|us)|\d+\.\d+\.\d+\.\d+/\d+|ipBlock:", line), line


def test_loadbalancer_only_where_a_cluster_asks_and_policy_allows_its_ranges(rendered):
    for name, items in rendered.items():
        service = one(items, "Service")
        policy = one(items, "NetworkPolicy")
        if name.startswith("prod-"):
            assert service["spec"]["type"] == "LoadBalancer"
            ranges = set(service["spec"]["loadBalancerSourceRanges"])
            allowed = {
                peer["ipBlock"]["cidr"]
                for rule in policy["spec"]["ingress"]
                for peer in rule["from"]
                if "ipBlock" in peer
            }
            assert ranges == allowed
        else:
            assert service["spec"]["type"] == "ClusterIP"
        assert service["spec"]["ports"] == [{"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"}]


def test_network_policy_ingress_on_app_port_and_dns_only_egress(rendered):
    for items in rendered.values():
        policy = one(items, "NetworkPolicy")["spec"]
        for rule in policy["ingress"]:
            assert rule["ports"] == [{"port": "http", "protocol": "TCP"}]
        (egress,) = policy["egress"]
        assert {p["port"] for p in egress["ports"]} == {53}
        deny = one(items, "NetworkPolicy", "default-deny")["spec"]
        assert deny == {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}


def test_pdb_and_service_account(rendered):
    for items in rendered.values():
        pdb = one(items, "PodDisruptionBudget")["spec"]
        hpa = one(items, "HorizontalPodAutoscaler")["spec"]
        assert pdb["maxUnavailable"] == 1
        assert hpa["minReplicas"] >= 1
        assert one(items, "ServiceAccount")["automountServiceAccountToken"] is False


# --- the image admission policy ---------------------------------------------------
def _variables(policy: dict) -> dict[str, str]:
    return {v["name"]: v["expression"] for v in policy["spec"]["variables"]}


def test_admission_policy_guards_each_clusters_namespace(rendered):
    """Images from gitops.yaml's repository only, by digest where gitops.yaml says so (tests/e2e proves it)."""
    config = Repo.load(ROOT)
    for name, items in rendered.items():
        environment = yaml.safe_load((ROOT / "clusters" / name / "config.yaml").read_text())["environment"]
        deployment = one(items, "Deployment")
        policy = one(items, "ValidatingAdmissionPolicy", POLICY)
        binding = one(items, "ValidatingAdmissionPolicyBinding", POLICY)
        assert policy["apiVersion"] == binding["apiVersion"] == f"{ADMISSION_GROUP}/v1"
        assert policy["spec"]["failurePolicy"] == "Fail"
        variables = _variables(policy)
        assert variables["repository"] == f"'{config.image}'", name
        assert variables["digestRequired"] == ("true" if environment in config.digest_required else "false"), name
        assert binding["spec"]["policyName"] == POLICY
        assert binding["spec"]["validationActions"] == ["Deny"]
        assert binding["spec"]["matchResources"] == {
            "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": deployment["metadata"]["namespace"]}}
        }
        rules = {
            (r["apiGroups"][0], res)
            for r in policy["spec"]["matchConstraints"]["resourceRules"]
            for res in r["resources"]
        }
        assert {("", "pods"), ("", "pods/ephemeralcontainers"), ("apps", "deployments")} <= rules
        (container,) = deployment["spec"]["template"]["spec"]["containers"]
        assert container["image"].startswith(config.image + ":"), "the rendered image passes its own policy"


def test_configure_image_rewrites_the_admission_policy(tmp_path):
    work = tmp_path / "fork"
    work.mkdir()
    for item in ("gitops.yaml", ".yamllint", "apps", "clusters", "argocd"):
        src = ROOT / item
        (shutil.copytree if src.is_dir() else shutil.copy2)(src, work / item)
    git = ["git", "-C", str(work), "-c", "user.name=t", "-c", "user.email=t@example.com"]
    subprocess.run([*git, "init", "-q", "-b", "main"], check=True)
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run([*git, "commit", "-q", "-m", "fork"], check=True)
    image = Repo.load(ROOT).image.replace("example-org", "fork-org")
    result = subprocess.run(
        [sys.executable, "-m", "gitops", "-C", str(work), "configure", "--image", image, "--no-validate"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    for name in CLUSTERS:
        items = docs(work / "clusters" / name)
        assert _variables(one(items, "ValidatingAdmissionPolicy", POLICY))["repository"] == f"'{image}'"


# --- argocd/ -----------------------------------------------------------------
@pytest.fixture(scope="module")
def argocd() -> list[dict]:
    """Everything the bootstrap applies: the AppProjects (argocd/projects/) and the root objects."""
    return docs(ROOT / "argocd" / "projects") + docs(ROOT / "argocd")


def test_the_root_application_cannot_touch_appprojects():
    """The projects are applied by an admin; Argo CD refuses any AppProject the root syncs."""
    root_synced = docs(ROOT / "argocd")
    assert {d["kind"] for d in root_synced} == {"ApplicationSet", "Application"}
    projects = {
        d["metadata"]["name"]: d["spec"] for d in docs(ROOT / "argocd" / "projects") if d["kind"] == "AppProject"
    }
    bootstrap = projects["flask-gitops-bootstrap"]
    assert {(i["group"], i["kind"]) for i in bootstrap["namespaceResourceWhitelist"]} == {
        ("argoproj.io", "ApplicationSet"),
        ("argoproj.io", "Application"),
    }
    assert bootstrap["clusterResourceWhitelist"] == []
    # Argo CD's built-in default project, emptied: an Application naming it can deploy nothing.
    default = projects["default"]
    assert default["sourceRepos"] == default["destinations"] == default["clusterResourceWhitelist"] == []


def test_appset_go_template_strict_and_project_fixed(argocd):
    appset = one(argocd, "ApplicationSet")["spec"]
    assert appset["goTemplate"] is True
    assert appset["goTemplateOptions"] == ["missingkey=error"]
    assert appset["template"]["spec"]["project"] == "flask-app"
    assert "{{" not in appset["template"]["spec"]["project"]
    assert appset["generators"][0]["git"]["files"] == [{"path": "clusters/*/config.yaml"}]
    sync = appset["template"]["spec"]["syncPolicy"]
    assert {"CreateNamespace=true", "ServerSideApply=true"} <= set(sync["syncOptions"])
    assert sync["managedNamespaceMetadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    # Deleting an Application (a removed cluster folder) must not cascade to its workloads.
    assert "finalizers" not in appset["template"]["metadata"]
    assert one(argocd, "ApplicationSet")["spec"]["syncPolicy"] == {"preserveResourcesOnDeletion": True}
    assert "automated" not in sync, "automation is opted in per cluster by templatePatch"
    assert "{{- if .autoSync }}" in appset["templatePatch"]


def test_auto_sync_on_dev_and_staging_manual_on_prod():
    for cluster in CLUSTERS:
        config = yaml.safe_load((ROOT / "clusters" / cluster / "config.yaml").read_text())
        assert config["autoSync"] is (config["environment"] != "prod"), cluster


def test_appproject_is_restricted(argocd):
    project = one(argocd, "AppProject")["spec"]
    repo = yaml.safe_load((ROOT / "gitops.yaml").read_text())["repoURL"]
    assert project["sourceRepos"] == [repo]
    # Namespaces by name: exactly the app's own, one per environment that a cluster uses.
    app_namespaces = {
        yaml.safe_load((ROOT / "clusters" / c / "config.yaml").read_text())["namespace"] for c in CLUSTERS
    }
    namespaces = [i for i in project["clusterResourceWhitelist"] if i["kind"] == "Namespace"]
    assert {(i["group"], i.get("name")) for i in namespaces} == {("", ns) for ns in app_namespaces}
    assert all("*" not in i["name"] for i in namespaces)
    # Cluster-scoped objects of the app: the image admission policy and its binding, by name.
    rendered = [d for items in [docs(ROOT / "clusters" / c) for c in CLUSTERS] for d in items]
    cluster_scoped = {
        (d["apiVersion"].split("/")[0], d["kind"], d["metadata"]["name"]) for d in rendered if d["kind"] in ADMISSION
    }
    assert cluster_scoped == {(ADMISSION_GROUP, kind, POLICY) for kind in ADMISSION}
    assert {
        (i["group"], i["kind"], i.get("name")) for i in project["clusterResourceWhitelist"] if i["kind"] != "Namespace"
    } == cluster_scoped
    kinds = {item["kind"] for item in project["namespaceResourceWhitelist"]}
    # The kinds the app is made of, plus the children of its Deployment that Argo CD's
    # resource tree shows only when the project lists them (never rendered from Git).
    assert not TREE_ONLY & {d["kind"] for d in rendered}
    assert kinds == ({d["kind"] for d in rendered} - ADMISSION) | TREE_ONLY
    assert {(i["group"], i["kind"]) for i in project["namespaceResourceWhitelist"] if i["kind"] in TREE_ONLY} == {
        ("apps", "ReplicaSet"),
        ("", "Pod"),
    }
    destinations = {(d["name"], d["namespace"]) for d in project["destinations"]}
    for cluster in CLUSTERS:
        config = yaml.safe_load((ROOT / "clusters" / cluster / "config.yaml").read_text())
        assert (config["cluster"]["name"], config["namespace"]) in destinations
    # prod: one allow window (working hours), matched by prod's namespace (so every prod
    # cluster, a new one too), closed to manual syncs too.
    prod = {
        yaml.safe_load((ROOT / "clusters" / c / "config.yaml").read_text())["namespace"]
        for c in CLUSTERS
        if yaml.safe_load((ROOT / "clusters" / c / "config.yaml").read_text())["environment"] == "prod"
    }
    windows = project["syncWindows"]
    assert [(w["kind"], w["schedule"], w["duration"], w["namespaces"]) for w in windows] == [
        ("allow", "0 8 * * 1-5", "10h", sorted(prod))
    ]
    assert not any(w.get("manualSync") or w.get("applications") for w in windows)
    assert {r["name"] for r in project["roles"]} == {"read-only", "deployer"}


def test_root_application_points_at_argocd_folder(argocd):
    root = one(argocd, "Application", "flask-gitops-root")["spec"]
    assert root["source"]["path"] == "argocd"
    assert root["destination"] == {"name": "in-cluster", "namespace": "argocd"}


def test_repository_url_and_image_have_one_source_of_truth():
    config = yaml.safe_load((ROOT / "gitops.yaml").read_text())
    for path in list((ROOT / "argocd").rglob("*.yaml")) + list((ROOT / "apps").rglob("*.yaml")):
        text = path.read_text()
        for url in re.findall(r"https://github\.com/[\w./-]+", text):
            assert url.startswith(config["repoURL"].removesuffix(".git")), path
        for name in re.findall(r"newName: (\S+)", text):
            assert name == config["image"], path


# Kind -> the resource name RBAC calls it, for the kinds the app renders.
RESOURCES = {
    "ConfigMap": "configmaps",
    "Service": "services",
    "ServiceAccount": "serviceaccounts",
    "Deployment": "deployments",
    "HorizontalPodAutoscaler": "horizontalpodautoscalers",
    "PodDisruptionBudget": "poddisruptionbudgets",
    "NetworkPolicy": "networkpolicies",
    "ValidatingAdmissionPolicy": "validatingadmissionpolicies",
    "ValidatingAdmissionPolicyBinding": "validatingadmissionpolicybindings",
    "Namespace": "namespaces",
}


def test_argo_cd_syncs_as_a_service_account_that_may_create_only_what_git_may():
    """Impersonation (issue 24): the deployer role on every workload cluster grants exactly the
    kinds the AppProject lets Git create (not the ReplicaSets and Pods it only shows), and the
    AppProjects name the service accounts every sync runs as."""
    project = one(docs(ROOT / "argocd" / "projects"), "AppProject", "flask-app")["spec"]
    assert project["destinationServiceAccounts"] == [
        {"server": "*", "namespace": "flask-app-*", "defaultServiceAccount": "flask-gitops-sync:deployer"}
    ]
    role = one(docs(ROOT / "argocd" / "destinations"), "ClusterRole", "flask-gitops-deployer")
    granted = {
        (group, resource)
        for rule in role["rules"]
        if rule["verbs"] != ["get"]
        for group in rule["apiGroups"]
        for resource in rule["resources"]
    }
    read_only = {
        (group, resource)
        for rule in role["rules"]
        if rule["verbs"] == ["get"]
        for group in rule["apiGroups"]
        for resource in rule["resources"]
    }
    whitelisted = {
        (i["group"], RESOURCES[i["kind"]])
        for key in ("namespaceResourceWhitelist", "clusterResourceWhitelist")
        for i in project[key]
        if i["kind"] not in TREE_ONLY
    }
    assert granted == whitelisted
    # What Argo CD only shows may be read (the live view, the gate's reasons), never written.
    assert read_only == {("", "pods"), ("apps", "replicasets")}
    for rule in role["rules"]:
        assert "*" not in rule["verbs"]
        assert not {"escalate", "bind", "impersonate", "deletecollection"} & set(rule["verbs"])
    assert next(r for r in role["rules"] if "namespaces" in r["resources"])["verbs"] == [
        "get",
        "create",
        "patch",
        "update",
    ]
    binding = one(docs(ROOT / "argocd" / "destinations"), "ClusterRoleBinding", "flask-gitops-deployer")
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "deployer", "namespace": "flask-gitops-sync"}]
    bootstrap = one(docs(ROOT / "argocd" / "projects"), "AppProject", "flask-gitops-bootstrap")["spec"]
    assert bootstrap["destinationServiceAccounts"][0]["defaultServiceAccount"] == "argocd:flask-gitops-root-sync"


def test_prod_serves_until_a_cloud_balancer_notices(rendered):
    """prod keeps serving, Ready, through its preStop sleep while a cloud load balancer's health
    check (AWS defaults: 10 s x 3 failures) takes its node out; the other environments keep rollouts
    fast (docs/clouds.md#shutdown-timing)."""
    for cluster, items in rendered.items():
        (container,) = one(items, "Deployment")["spec"]["template"]["spec"]["containers"]
        prestop = container["lifecycle"]["preStop"]["sleep"]["seconds"]
        assert prestop >= 30 if cluster.startswith("prod-") else prestop == 5, (cluster, prestop)
