"""The cluster add-ons (Metrics Server): the ApplicationSet that syncs them, their AppProject
and the account Argo CD syncs them as agree with what the add-on folder renders."""

from __future__ import annotations

import pytest
import yaml

from gitops.kustomize import build
from gitops.repo import ADDONS_DEPLOYER, ADDONS_DEPLOYER_ROLE, METRICS_SERVER, Repo
from gitops.toolchain import repo_root

ROOT = repo_root()
REPO = Repo.load(ROOT)
TREE_ONLY = {("apps", "ReplicaSet"), ("", "Pod")}
WRITE = {"create", "patch", "update", "delete"}
PLURAL = {
    "APIService": "apiservices",
    "ClusterRole": "clusterroles",
    "ClusterRoleBinding": "clusterrolebindings",
    "RoleBinding": "rolebindings",
    "ServiceAccount": "serviceaccounts",
    "Service": "services",
    "Deployment": "deployments",
}


def docs(rel: str) -> list[dict]:
    return build(ROOT / rel).documents()


def one(items: list[dict], kind: str, name: str) -> dict:
    (found,) = [d for d in items if d["kind"] == kind and d["metadata"]["name"] == name]
    return found


@pytest.fixture(scope="module")
def rendered() -> list[dict]:
    return docs(METRICS_SERVER.path)


def group(doc: dict) -> str:
    return doc["apiVersion"].rpartition("/")[0]


def test_the_addon_renders_what_the_repository_model_reviewed(rendered):
    found = {(group(d), d["kind"], d["metadata"].get("namespace", ""), d["metadata"]["name"]) for d in rendered}
    assert found == set(METRICS_SERVER.resources)
    kustomization = yaml.safe_load((ROOT / METRICS_SERVER.path / "kustomization.yaml").read_text())
    assert "commonLabels" not in kustomization
    assert kustomization["labels"] == [{"pairs": {"k8s-app": "metrics-server"}, "includeSelectors": True}]
    assert kustomization["images"] == [
        {"name": "metrics-server", "newName": METRICS_SERVER.mirror(REPO.image), "newTag": METRICS_SERVER.version}
    ]
    deployment = one(rendered, "Deployment", "metrics-server")
    assert deployment["spec"]["selector"]["matchLabels"] == {"k8s-app": "metrics-server"}
    assert one(rendered, "Service", "metrics-server")["spec"]["selector"] == {"k8s-app": "metrics-server"}


def test_one_application_per_cluster_synced_everywhere_before_the_app():
    argocd = docs("argocd")
    appset = one(argocd, "ApplicationSet", "addons")
    assert appset["metadata"]["annotations"] == {"argocd.argoproj.io/sync-wave": "-1"}
    assert "argocd.argoproj.io/sync-wave" not in (
        one(argocd, "ApplicationSet", "flask-app")["metadata"].get("annotations") or {}
    )
    spec = appset["spec"]
    assert spec["goTemplate"] is True
    assert spec["goTemplateOptions"] == ["missingkey=error"]
    assert spec["syncPolicy"] == {"preserveResourcesOnDeletion": True}
    assert spec["generators"][0]["git"]["files"] == [{"path": "clusters/*/config.yaml"}]
    template = spec["template"]
    assert template["metadata"]["name"] == "metrics-server-{{ .cluster.name }}"
    assert "finalizers" not in template["metadata"]
    app = template["spec"]
    assert app["project"] == "addons"
    assert app["source"] == {"repoURL": REPO.repo_url, "targetRevision": "HEAD", "path": METRICS_SERVER.path}
    assert app["destination"] == {"name": "{{ .cluster.name }}", "namespace": "kube-system"}
    assert app["syncPolicy"]["automated"] == {"prune": True, "selfHeal": True}
    assert app["syncPolicy"]["syncOptions"] == ["ServerSideApply=true"]
    assert "templatePatch" not in spec


def test_the_addons_project_allows_exactly_the_addon(rendered):
    project = one(docs("argocd/projects"), "AppProject", "addons")["spec"]
    assert project["sourceRepos"] == [REPO.repo_url]
    assert sorted((d["name"], d["namespace"]) for d in project["destinations"]) == sorted(
        (c.name, "kube-system") for c in REPO.clusters()
    )
    assert project["destinationServiceAccounts"] == [
        {"server": "*", "namespace": "kube-system", "defaultServiceAccount": ADDONS_DEPLOYER}
    ]
    cluster_scoped = {
        (group(d), d["kind"], d["metadata"]["name"]) for d in rendered if "namespace" not in d["metadata"]
    }
    assert {(i["group"], i["kind"], i["name"]) for i in project["clusterResourceWhitelist"]} == cluster_scoped
    namespaced = {(group(d), d["kind"]) for d in rendered if "namespace" in d["metadata"]}
    assert {(i["group"], i["kind"]) for i in project["namespaceResourceWhitelist"]} == namespaced | TREE_ONLY
    assert "syncWindows" not in project
    assert {r["name"] for r in project["roles"]} == {"read-only"}
    assert all(" get, " in p for r in project["roles"] for p in r["policies"])


def test_the_addons_deployer_may_write_only_the_addon_by_name(rendered):
    destinations = docs("argocd/destinations")
    cluster_role = one(destinations, "ClusterRole", ADDONS_DEPLOYER_ROLE)
    role = one(destinations, "Role", ADDONS_DEPLOYER_ROLE)
    assert role["metadata"]["namespace"] == "kube-system"
    namespace, account = ADDONS_DEPLOYER.split(":")
    for kind in ("ClusterRoleBinding", "RoleBinding"):
        binding = one(destinations, kind, ADDONS_DEPLOYER_ROLE)
        assert binding["subjects"] == [{"kind": "ServiceAccount", "name": account, "namespace": namespace}]
    assert one(destinations, "ServiceAccount", account)["automountServiceAccountToken"] is False

    def writes(rules: list[dict]) -> set[tuple[str, str, str]]:
        found = set()
        for rule in rules:
            if WRITE & set(rule["verbs"]):
                assert rule.get("resourceNames"), f"{rule}: writes without resourceNames"
                assert set(rule["verbs"]) == WRITE | {"get"}
                found |= {
                    (g, r, n) for g in rule["apiGroups"] for r in rule["resources"] for n in rule["resourceNames"]
                }
        return found

    wanted_cluster = {
        (group(d), PLURAL[d["kind"]], d["metadata"]["name"]) for d in rendered if "namespace" not in d["metadata"]
    }
    wanted_namespaced = {
        (group(d), PLURAL[d["kind"]], d["metadata"]["name"]) for d in rendered if "namespace" in d["metadata"]
    }
    assert writes(cluster_role["rules"]) == wanted_cluster
    assert writes(role["rules"]) == wanted_namespaced
    binds = {
        ("ClusterRole" if r["resources"] == ["clusterroles"] else "Role", name)
        for rules in (cluster_role["rules"], role["rules"])
        for r in rules
        if r["verbs"] == ["bind"]
        for name in r["resourceNames"]
    }
    assert binds == METRICS_SERVER.binds
    for rules in (cluster_role["rules"], role["rules"]):
        for rule in rules:
            assert not {"*", "escalate", "impersonate", "deletecollection"} & set(rule["verbs"])
    # RBAC's escalation check: it holds every rule of the ClusterRoles it writes (no `escalate`).
    held = {
        (g, r, v) for rule in cluster_role["rules"] if not rule.get("resourceNames")
        for g in rule["apiGroups"] for r in rule["resources"] for v in rule["verbs"]
    }  # fmt: skip
    for written in (d for d in rendered if d["kind"] == "ClusterRole"):
        for rule in written["rules"]:
            for g in rule["apiGroups"]:
                for r in rule["resources"]:
                    assert {(g, r, v) for v in rule["verbs"]} <= held, (written["metadata"]["name"], g, r)
