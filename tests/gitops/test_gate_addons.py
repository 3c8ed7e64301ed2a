"""The cluster add-ons (Metrics Server) through the merge gate: the repository as committed
passes; each harmful or unreviewed change to the add-on, its ApplicationSet, its AppProject
or its deployer account is refused in one line naming its policy, file and resource.

Every case is a copy of this repository with one pull-request-like change, judged by the
real `gitops validate` (kustomize, kubeconform, Argo CD's ApplicationSet and repo-server code).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from gitops.cli import main
from gitops.repo import ADDONS, METRICS_SERVER
from gitops.toolchain import pins

ADDON = "addons/metrics-server"
APPSET = "argocd/applicationset-addons.yaml"
PROJECT = "argocd/projects/appproject-addons.yaml"
ROLE = "argocd/destinations/clusterrole-addons.yaml"


def validate(repo: Path, capsys) -> list[str]:
    code = main(["-C", str(repo), "validate"])
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err
    out = captured.out.splitlines()
    assert code == (1 if out[:-1] else 0), out
    return out[:-1]


def edit(repo: Path, rel: str, old: str, new: str, count: int = 1) -> None:
    path = repo / rel
    text = path.read_text()
    assert old in text, f"{old!r} not in {rel}"
    path.write_text(text.replace(old, new, count))


def test_the_repository_as_committed_passes_with_its_addons(repo, capsys):
    assert validate(repo, capsys) == []
    assert main(["-C", str(repo), "validate", str(repo / ADDON)]) == 0


def test_the_pinned_version_is_the_one_tools_pin():
    assert pins()["METRICS_SERVER_VERSION"] == METRICS_SERVER.version
    assert [a.name for a in ADDONS] == ["metrics-server"]


CASES = {
    # what the add-on renders
    "extra-file-under-addons": (
        lambda r: (r / ADDON / "upstream" / "configmap.yaml").write_text("kind: ConfigMap\n"),
        "GO166",
        "addons/metrics-server/upstream/configmap.yaml",
    ),
    "new-addon-folder": (
        lambda r: (
            (r / "addons" / "other").mkdir(),
            (r / "addons" / "other" / "kustomization.yaml").write_text("{}\n"),
        ),
        "GO166",
        "addons/other/kustomization.yaml",
    ),
    "extra-resource-in-the-render": (
        lambda r: (r / ADDON / "upstream" / "service.yaml").write_text(
            (r / ADDON / "upstream" / "service.yaml").read_text()
            + "---\napiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: extra\n  namespace: kube-system\n"
        ),
        "GO162",
        "ServiceAccount/extra",
    ),
    "resource-left-out": (
        lambda r: edit(r, f"{ADDON}/kustomization.yaml", "  - upstream/service.yaml\n", ""),
        "GO162",
        "Service/kube-system/metrics-server of add-on metrics-server is not rendered",
    ),
    "folder-renders-nothing": (
        lambda r: edit(
            r,
            f"{ADDON}/kustomization.yaml",
            "resources:\n  - upstream/apiservice.yaml\n  - upstream/deployment.yaml\n"
            "  - upstream/rbac.yaml\n  - upstream/service.yaml\n",
            "resources: []\n",
        ),
        "GO162",
        "(Application metrics-server-dev): (nothing rendered): (render): Deployment/kube-system/metrics-server",
    ),
    "widened-clusterrole": (
        lambda r: edit(
            r, f"{ADDON}/upstream/rbac.yaml", "      - nodes/metrics\n", "      - nodes/metrics\n      - nodes/proxy\n"
        ),
        "GO163",
        "ClusterRole/system:metrics-server: (rendering): not the reviewed rendering",
    ),
    "new-container-flag": (
        lambda r: edit(
            r,
            f"{ADDON}/upstream/deployment.yaml",
            "          - --cert-dir=/tmp\n",
            "          - --cert-dir=/tmp\n          - --kubelet-insecure-tls\n",
        ),
        "GO163",
        "Deployment/metrics-server",
    ),
    "another-tag": (
        lambda r: edit(r, f"{ADDON}/kustomization.yaml", "newTag: v0.8.0", "newTag: v0.9.0"),
        "GO164",
        "'registry.example.com/example-org/metrics-server:v0.9.0' is not",
    ),
    "another-registry": (
        lambda r: edit(
            r,
            f"{ADDON}/kustomization.yaml",
            "newName: registry.example.com/example-org/",
            "newName: mirror.example.net/x/",
        ),
        "GO164",
        "spec.template.spec.containers[metrics-server].image",
    ),
    "image-by-a-malformed-digest": (
        lambda r: edit(r, f"{ADDON}/kustomization.yaml", "newTag: v0.8.0", "newTag: v0.8.0\n    digest: sha256:abc"),
        "GO164",
        "is not 'registry.example.com/example-org/metrics-server:v0.8.0' (or it @sha256:<64 hex>)",
    ),
    "another-tag-by-digest": (
        lambda r: edit(
            r, f"{ADDON}/kustomization.yaml", "newTag: v0.8.0", f"newTag: v0.9.0\n    digest: sha256:{'ab' * 32}"
        ),
        "GO164",
        "metrics-server:v0.9.0@sha256:",
    ),
    "apiservice-to-another-service": (
        lambda r: edit(r, f"{ADDON}/upstream/apiservice.yaml", "    name: metrics-server\n", "    name: collector\n"),
        "GO165",
        "kube-system/collector is not the add-on's Service kube-system/metrics-server",
    ),
    # the ApplicationSet
    "templated-project": (
        lambda r: edit(r, APPSET, "      project: addons", '      project: "{{ .environment }}"'),
        "GO167",
        "spec.template.spec.project: templated",
    ),
    "appset-syncs-a-cluster-folder": (
        lambda r: edit(r, APPSET, "        path: addons/metrics-server", '        path: "{{ .path.path }}"'),
        "GO167",
        "is not an add-on's folder",
    ),
    "appset-into-another-namespace": (
        lambda r: edit(r, APPSET, "        namespace: kube-system", "        namespace: monitoring"),
        "GO167",
        "spec.template.spec.destination.namespace: 'monitoring' is not 'kube-system'",
    ),
    "appset-over-a-list-of-clusters": (
        lambda r: edit(
            r, APPSET, "          - path: clusters/*/config.yaml", "          - path: clusters/dev/config.yaml"
        ),
        "GO167",
        "must be one git generator over clusters/*/config.yaml",
    ),
    "appset-without-self-heal": (
        lambda r: edit(r, APPSET, "          selfHeal: true", "          selfHeal: false"),
        "GO167",
        "prune and selfHeal on every cluster",
    ),
    "appset-creates-namespaces": (
        lambda r: edit(
            r,
            APPSET,
            "          - ServerSideApply=true\n",
            "          - ServerSideApply=true\n          - CreateNamespace=true\n",
        ),
        "GO167",
        "syncPolicy.syncOptions: ['ServerSideApply=true', 'CreateNamespace=true'] is not the reviewed",
    ),
    "appset-managed-namespace-metadata": (
        lambda r: edit(
            r,
            APPSET,
            "        syncOptions:\n",
            "        managedNamespaceMetadata:\n          labels:\n            a: b\n        syncOptions:\n",
        ),
        "GO167",
        "spec.template.spec.syncPolicy.managedNamespaceMetadata: {'labels': {'a': 'b'}} is not in the reviewed",
    ),
    "appset-automation-disabled": (
        lambda r: edit(r, APPSET, "          selfHeal: true\n", "          selfHeal: true\n          enabled: false\n"),
        "GO167",
        "spec.template.spec.syncPolicy.automated: ",
    ),
    "appset-deletes-what-it-deployed": (
        lambda r: edit(r, APPSET, "    preserveResourcesOnDeletion: true", "    preserveResourcesOnDeletion: false"),
        "GO167",
        "spec.syncPolicy: {'preserveResourcesOnDeletion': False} is not the reviewed",
    ),
    "appset-sync-policy-a-string": (
        lambda r: edit(
            r,
            APPSET,
            "      syncPolicy:\n        automated:\n          prune: true\n          selfHeal: true\n",
            "      syncPolicy: x\n      x:\n        automated:\n          prune: true\n          selfHeal: true\n",
        ),
        "GO167",
        "spec.template.spec.syncPolicy: 'x' is not the reviewed sync policy",
    ),
    "addons-sync-wave-on-the-app-deployment": (
        lambda r: edit(
            r,
            "apps/flask-app/base/deployment.yaml",
            "  annotations:\n",
            '  annotations:\n    argocd.argoproj.io/sync-wave: "-1"\n',
        ),
        "GO150",
        "metadata.annotations.argocd.argoproj.io/sync-wave: 'argocd.argoproj.io/sync-wave=-1' changes how Argo CD",
    ),
    "addons-sync-wave-on-the-app-appset": (
        lambda r: edit(
            r,
            "argocd/applicationset.yaml",
            "metadata:\n  name: flask-app\n",
            'metadata:\n  name: flask-app\n  annotations:\n    argocd.argoproj.io/sync-wave: "-1"\n',
        ),
        "GO150",
        "ApplicationSet/flask-app: metadata.annotations.argocd.argoproj.io/sync-wave",
    ),
    "app-appset-in-the-addons-project": (
        lambda r: edit(r, "argocd/applicationset.yaml", "      project: flask-app", "      project: addons"),
        "GO167",
        "only ApplicationSet 'addons' may use the 'addons' project",
    ),
    # the AppProject
    "whitelist-entry-without-a-name": (
        lambda r: edit(
            r, PROJECT, "      kind: ClusterRole\n      name: system:metrics-server\n", "      kind: ClusterRole\n"
        ),
        "GO168",
        "ClusterRole (no name) is not a cluster-scoped object of an add-on, by name",
    ),
    "whitelist-another-clusterrole": (
        lambda r: edit(r, PROJECT, "name: system:aggregated-metrics-reader", "name: cluster-admin"),
        "GO168",
        "ClusterRole cluster-admin is not a cluster-scoped object",
    ),
    "whitelist-a-namespaced-role": (
        lambda r: edit(
            r,
            PROJECT,
            "    - group: apps\n      kind: Deployment\n",
            "    - group: apps\n      kind: Deployment\n    - group: rbac.authorization.k8s.io\n      kind: Role\n",
        ),
        "GO168",
        "Role (rbac.authorization.k8s.io) is not a namespaced kind of an add-on",
    ),
    "project-destination-outside-kube-system": (
        lambda r: edit(
            r,
            PROJECT,
            "    - name: dev\n      namespace: kube-system",
            "    - name: dev\n      namespace: flask-app-dev",
        ),
        "GO168",
        "spec.destinations[0]",
    ),
    "project-destination-unknown-cluster": (
        lambda r: edit(r, PROJECT, "    - name: dev\n", "    - name: '*'\n"),
        "GO168",
        "spec.destinations[0]",
    ),
    "project-syncs-as-the-app-deployer": (
        lambda r: edit(r, PROJECT, "flask-gitops-sync:addons-deployer", "flask-gitops-sync:deployer"),
        "GO168",
        "spec.destinationServiceAccounts",
    ),
    "project-any-repository": (
        lambda r: edit(
            r,
            PROJECT,
            "  sourceRepos:\n    - https://github.com/example-org/flask-gitops.git",
            "  sourceRepos:\n    - https://github.com/example-org/other.git",
        ),
        "GO168",
        "spec.sourceRepos",
    ),
    "project-role-may-sync": (
        lambda r: edit(
            r,
            PROJECT,
            "        - p, proj:addons:read-only, logs, get, addons/*, allow\n",
            "        - p, proj:addons:read-only, logs, get, addons/*, allow\n"
            "        - p, proj:addons:read-only, applications, sync, addons/*, allow\n",
        ),
        "GO168",
        "spec.roles[0].policies[2]: 'p, proj:addons:read-only, applications, sync, addons/*, allow' is not a policy",
    ),
    "project-role-another-group": (
        lambda r: edit(
            r, PROJECT, "        - flask-gitops:platform\n", "        - flask-gitops:platform\n        - everyone\n"
        ),
        "GO168",
        "spec.roles: is not exactly the reviewed read-only role",
    ),
    "project-sync-windows": (
        lambda r: edit(
            r,
            PROJECT,
            "  roles:\n",
            "  syncWindows:\n    - kind: deny\n      schedule: '* * * * *'\n      duration: 1h\n"
            "      applications: ['*']\n  roles:\n",
        ),
        "GO168",
        "spec.syncWindows: not a field of the reviewed add-ons' project",
    ),
    "project-orphaned-resources": (
        lambda r: edit(r, PROJECT, "  roles:\n", "  orphanedResources:\n    warn: false\n  roles:\n"),
        "GO168",
        "spec.orphanedResources: not a field",
    ),
    "project-cluster-blacklist": (
        lambda r: edit(r, PROJECT, "  roles:\n", "  clusterResourceBlacklist: []\n  roles:\n"),
        "GO168",
        "spec.clusterResourceBlacklist: not a field",
    ),
    # malformed input: a one-line finding, never an internal error
    "app-appset-template-a-string": (
        lambda r: edit(r, "argocd/applicationset.yaml", "  template:\n", "  template: oops\n  xtemplate:\n"),
        "GO167",
        "ApplicationSet/flask-app: spec.template: 'oops' is not a mapping",
    ),
    "appset-generator-git-a-string": (
        lambda r: edit(r, APPSET, "    - git:\n        repoURL", "    - git: x\n      y:\n        repoURL"),
        "GO167",
        "spec.generators: must be one git generator",
    ),
    "cluster-name-a-string": (
        lambda r: edit(
            r,
            "clusters/dev/config.yaml",
            "cluster:\n  name: dev # the cluster's name in Argo CD (argocd cluster add ... --name dev)\n",
            "cluster: dev\n",
        ),
        "GO127",
        "cluster: 'dev' is a string, not a mapping",
    ),
    "project-destination-namespace-a-list": (
        lambda r: edit(
            r,
            PROJECT,
            "    - name: dev\n      namespace: kube-system",
            "    - name: dev\n      namespace: [kube-system]",
        ),
        "GO168",
        "spec.destinations[0]: {'name': 'dev', 'namespace': ['kube-system']} is not a known cluster",
    ),
    # the deployer account
    "deployer-binds-cluster-admin": (
        lambda r: edit(
            r, ROLE, "resourceNames: [system:auth-delegator, system:metrics-server]", "resourceNames: [cluster-admin]"
        ),
        "GO152",
        "ClusterRole/flask-gitops-addons-deployer: rules[3].verbs: ['bind']",
    ),
    "deployer-escalates": (
        lambda r: edit(r, ROLE, "    verbs: [bind]", "    verbs: [bind, escalate]"),
        "GO152",
        "['bind', 'escalate'] grants more than it names",
    ),
    "deployer-clusterrole-without-resourcenames": (
        lambda r: edit(r, ROLE, "    resourceNames: [system:aggregated-metrics-reader, system:metrics-server]\n", ""),
        "GO169",
        "ClusterRole/flask-gitops-addons-deployer: (rendering): differs from its reviewed rendering; new sha256 ",
    ),
    "deployer-role-another-verb": (
        lambda r: edit(
            r,
            "argocd/destinations/role-addons.yaml",
            "    resources: [pods]\n    verbs: [get]",
            "    resources: [pods]\n    verbs: [get, list]",
        ),
        "GO169",
        "Role/flask-gitops-addons-deployer: (rendering): differs from its reviewed rendering",
    ),
    "deployer-rolebinding-binds-the-app-deployer": (
        lambda r: edit(
            r,
            "argocd/destinations/rolebinding-addons.yaml",
            "  kind: Role\n  name: flask-gitops-addons-deployer",
            "  kind: ClusterRole\n  name: flask-gitops-deployer",
        ),
        "GO134",
        "RoleBinding/flask-gitops-addons-deployer: metadata.namespace: is 'kube-system'",
    ),
    "deployer-clusterrolebinding-binds-the-app-deployer": (
        lambda r: edit(
            r,
            "argocd/destinations/clusterrolebinding-addons.yaml",
            "  name: flask-gitops-addons-deployer\nsubjects",
            "  name: flask-gitops-deployer\nsubjects",
        ),
        "GO169",
        "ClusterRoleBinding/flask-gitops-addons-deployer: (rendering): differs from its reviewed rendering",
    ),
    "deployer-clusterrolebinding-another-subject": (
        lambda r: edit(
            r,
            "argocd/destinations/clusterrolebinding-addons.yaml",
            "subjects:\n",
            "subjects:\n  - kind: Group\n    name: developers\n    apiGroup: rbac.authorization.k8s.io\n",
        ),
        "GO169",
        "ClusterRoleBinding/flask-gitops-addons-deployer: (rendering): differs",
    ),
    "app-binding-grants-the-addons-deployer": (
        lambda r: edit(
            r,
            "argocd/destinations/clusterrolebinding.yaml",
            "subjects:\n",
            "subjects:\n  - kind: ServiceAccount\n    name: addons-deployer\n    namespace: flask-gitops-sync\n",
        ),
        "GO169",
        "subjects[0]: grants the add-ons' deployer 'flask-gitops-sync:addons-deployer' more",
    ),
    "deployer-account-moved": (
        lambda r: edit(
            r,
            "argocd/destinations/serviceaccount-addons.yaml",
            "automountServiceAccountToken: false",
            "automountServiceAccountToken: true",
        ),
        "GO169",
        "ServiceAccount/addons-deployer: (rendering): differs",
    ),
    "another-role-in-kube-system": (
        lambda r: edit(
            r, "argocd/destinations/role-addons.yaml", "  name: flask-gitops-addons-deployer\n", "  name: helper\n"
        ),
        "GO134",
        "Role/helper: metadata.namespace: is 'kube-system'",
    ),
}


def test_a_file_name_with_a_newline_under_addons_is_one_finding(repo, capsys):
    (repo / ADDON / "x\nGO000 fake: all good.yaml").write_text("kind: ConfigMap\n")
    lines = validate(repo, capsys)
    assert lines == [
        "GO166 addons/metrics-server/x\\nGO000 fake: all good.yaml: add-on file: (file): "
        "not a file of a reviewed add-on under addons/ (repo.py ADDONS)"
    ]


def test_an_appproject_file_that_is_not_read_is_no_missing_project_per_application(repo, capsys):
    edit(repo, PROJECT, "  description: cluster", "  description: x\n  description: cluster")
    lines = validate(repo, capsys)
    assert [line.split(" ", 1)[0] for line in lines] == ["YAML", "GO153"], lines


def test_the_pinned_image_may_be_pinned_by_digest_too(repo, capsys):
    edit(repo, f"{ADDON}/kustomization.yaml", "newTag: v0.8.0", f"newTag: v0.8.0\n    digest: sha256:{'ab' * 32}")
    assert validate(repo, capsys) == []


@pytest.mark.parametrize("pid", [f"GO{n}" for n in range(162, 170)])
def test_the_addon_policies_cannot_be_switched_off(repo, capsys, pid):
    edit(repo, "gitops.yaml", "skipPolicies: []", f"skipPolicies: [{pid}]")
    assert main(["-C", str(repo), "validate"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    assert f"{pid} cannot be switched off" in err
    assert main(["-C", str(repo), "validate", "--skip-policy", pid]) == 2
    assert f"{pid} cannot be switched off" in capsys.readouterr().err


@pytest.mark.parametrize("case", sorted(CASES))
def test_the_change_is_refused_in_one_line_naming_it(repo, capsys, case):
    change, policy, fragment = CASES[case]
    change(repo)
    lines = validate(repo, capsys)
    assert lines, f"{case}: passed the gate"
    hits = [line for line in lines if line.split(" ", 1)[0] == policy and fragment in line]
    assert hits, lines
