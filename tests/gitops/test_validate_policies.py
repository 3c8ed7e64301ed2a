"""`gitops validate` fails each case with its policy id (each used to pass: issue 14).

Two kinds of case. A render case changes the known-good render of prod-eu and every
Argo CD object (written to one file, as test_validate.py does) and must fail with
exactly its id. A repository case
edits a copy of the repository the way a person would (a cluster's config.yaml, a file
under argocd/) and validates the folder it touched: its id must name the file and field.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from gitops import policy
from tests.gitops.test_validate import container, find, good_render, validate, write

pytestmark = pytest.mark.slow

# `ID file: kind/name: field: message`, one line (the style of every policy finding).
STYLE = re.compile(r"^GO\d{3} \S+: \S+: \S+: [^\n]+$")


# --- render cases: the known-good render plus one dangerous change ---------------------
@pytest.fixture(scope="module")
def good() -> list[dict]:
    return good_render()


def append(doc: dict) -> Callable[[list[dict]], None]:
    return lambda docs: docs.append(copy.deepcopy(doc))


def change(kind: str, name: str | None, apply: Callable[[dict], None]) -> Callable[[list[dict]], None]:
    return lambda docs: apply(find(docs, kind, name))


def spec_update(**values) -> Callable[[dict], None]:
    return lambda obj: obj["spec"].update(values)


CLUSTER_ROLE = {
    "apiVersion": "rbac.authorization.k8s.io/v1",
    "kind": "ClusterRole",
    "metadata": {"name": "flask-app-everything"},
    "rules": [{"apiGroups": [""], "resources": ["*"], "verbs": ["*"]}],
}


def binding(kind: str, namespace: str | None, role: str) -> dict:
    meta = {"name": "flask-app", **({"namespace": namespace} if namespace else {})}
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": kind,
        "metadata": meta,
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role},
        "subjects": [{"kind": "ServiceAccount", "name": "flask-app", "namespace": "flask-app-prod"}],
    }


WIDE_PROJECT = {
    "apiVersion": "argoproj.io/v1alpha1",
    "kind": "AppProject",
    "metadata": {"name": "everything", "namespace": "argocd"},
    "spec": {
        "sourceRepos": ["*"],
        "destinations": [{"server": "*", "namespace": "*"}],
        "clusterResourceWhitelist": [{"group": "*", "kind": "*"}],
    },
}
SYSTEM_APP = {
    "apiVersion": "argoproj.io/v1alpha1",
    "kind": "Application",
    "metadata": {"name": "system", "namespace": "argocd"},
    "spec": {
        "project": "flask-app",
        "source": {
            "repoURL": "https://github.com/example-org/flask-gitops.git",
            "path": "argocd",
            "targetRevision": "HEAD",
        },
        "destination": {"name": "prod-eu", "namespace": "kube-system"},
    },
}


def allow_system_namespace(docs: list[dict]) -> None:
    """The flask-app project also lists kube-system on prod-eu, and an Application goes there."""
    find(docs, "AppProject", "flask-app")["spec"]["destinations"].append(
        {"name": "prod-eu", "namespace": "kube-system"}
    )
    docs.append(copy.deepcopy(SYSTEM_APP))


def ingress_rule(rule: dict) -> Callable[[list[dict]], None]:
    return change("NetworkPolicy", "flask-app", lambda np: np["spec"]["ingress"].append(rule))


def egress_rule(rule: dict) -> Callable[[list[dict]], None]:
    return change("NetworkPolicy", "flask-app", lambda np: np["spec"]["egress"].append(rule))


def managed_label(value: str | None) -> Callable[[list[dict]], None]:
    def apply(docs: list[dict]) -> None:
        sync = find(docs, "ApplicationSet", "flask-app")["spec"]["template"]["spec"]["syncPolicy"]
        labels = sync["managedNamespaceMetadata"]
        if value is None:
            labels["labels"].pop("pod-security.kubernetes.io/enforce")
        else:
            labels["labels"]["pod-security.kubernetes.io/enforce"] = value

    return apply


def automated_template(docs: list[dict]) -> None:
    sync = find(docs, "ApplicationSet", "flask-app")["spec"]["template"]["spec"]["syncPolicy"]
    sync["automated"] = {"prune": True, "selfHeal": True}


def hpa_v1_without_cpu_request(docs: list[dict]) -> None:
    """An autoscaling/v1 HPA without targetCPUUtilizationPercentage scales on CPU (80 %): the target needs
    a CPU request."""
    hpa = find(docs, "HorizontalPodAutoscaler")
    hpa["apiVersion"] = "autoscaling/v1"
    hpa["spec"] = {k: hpa["spec"][k] for k in ("scaleTargetRef", "minReplicas", "maxReplicas")}
    del container(docs)["resources"]["requests"]["cpu"]


AWS = "service.beta.kubernetes.io/aws-load-balancer-"


def annotate(**annotations: str) -> Callable[[list[dict]], None]:
    """Cloud annotations on prod-eu's LoadBalancer Service (keys: AWS suffixes, or full keys with '/')."""

    def apply(docs: list[dict]) -> None:
        meta = find(docs, "Service")["metadata"]
        keys = {(k if "/" in k else AWS + k.replace("_", "-")): v for k, v in annotations.items()}
        meta.setdefault("annotations", {}).update(keys)

    return apply


def combined(*mutations: Callable[[list[dict]], None]) -> Callable[[list[dict]], None]:
    def apply(docs: list[dict]) -> None:
        for mutate in mutations:
            mutate(docs)

    return apply


def set_env(name: str, source: dict) -> Callable[[list[dict]], None]:
    """The container's ``name`` variable takes ``source`` (value or valueFrom) instead."""

    def apply(docs: list[dict]) -> None:
        (entry,) = [e for e in container(docs)["env"] if e["name"] == name]
        entry.clear()
        entry.update({"name": name, **source})

    return apply


NAMESPACE = {
    "apiVersion": "v1",
    "kind": "Namespace",
    "metadata": {"name": "flask-app-prod", "labels": {"pod-security.kubernetes.io/enforce": "privileged"}},
}


@dataclass(frozen=True)
class RenderCase:
    ids: frozenset[str]  # exactly the ids it fails with
    mutate: Callable[[list[dict]], None]
    field: str  # a field one of the lines names


def render_case(ids: str, mutate: Callable[[list[dict]], None], field: str) -> RenderCase:
    return RenderCase(frozenset(ids.split()), mutate, field)


RENDER_CASES: dict[str, RenderCase] = {
    "clusterrole-wildcard": render_case("GO132", append(CLUSTER_ROLE), "rules[0].verbs"),
    "role-wildcard-resources": render_case(
        "GO132",
        append(
            {
                **CLUSTER_ROLE,
                "kind": "Role",
                "metadata": {"name": "r", "namespace": "flask-app-prod"},
                "rules": [{"apiGroups": [""], "resources": ["*"], "verbs": ["get"]}],
            }
        ),
        "rules[0].resources",
    ),
    "clusterrolebinding-cluster-admin": render_case(
        "GO133", append(binding("ClusterRoleBinding", None, "cluster-admin")), "roleRef.name"
    ),
    # Also GO133: "view" is a role the gate never read (bindings name roles written beside them).
    "rolebinding-in-kube-system": render_case(
        "GO133 GO134", append(binding("RoleBinding", "kube-system", "view")), "metadata.namespace"
    ),
    "configmap-in-kube-public": render_case(
        "GO134",
        append({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x", "namespace": "kube-public"}}),
        "metadata.namespace",
    ),
    "nodeport-service": render_case("GO135", change("Service", None, spec_update(type="NodePort")), "spec.type"),
    "loadbalancer-externalips": render_case(
        "GO135", change("Service", None, spec_update(externalIPs=["203.0.113.10"])), "spec.externalIPs"
    ),
    "loadbalancer-without-source-ranges": render_case(
        "GO135",
        change("Service", None, lambda s: s["spec"].pop("loadBalancerSourceRanges")),
        "spec.loadBalancerSourceRanges",
    ),
    "loadbalancer-open-source-range": render_case(
        "GO135",
        change("Service", None, spec_update(loadBalancerSourceRanges=["0.0.0.0/0"])),
        "spec.loadBalancerSourceRanges",
    ),
    "netpol-ipv4-everywhere": render_case(
        "GO136", ingress_rule({"from": [{"ipBlock": {"cidr": "0.0.0.0/0"}}]}), "spec.ingress[2].from[0].ipBlock.cidr"
    ),
    "netpol-ipv6-everywhere": render_case(
        "GO136", egress_rule({"to": [{"ipBlock": {"cidr": "::/0"}}]}), "spec.egress[1].to[0].ipBlock.cidr"
    ),
    "netpol-allow-all-ingress": render_case("GO136", ingress_rule({}), "spec.ingress[2].from"),
    "netpol-allow-all-egress": render_case("GO136", egress_rule({}), "spec.egress[1].to"),
    "netpol-ports-from-anywhere": render_case(
        "GO136", ingress_rule({"ports": [{"port": "http", "protocol": "TCP"}]}), "spec.ingress[2].from"
    ),
    "hostport": render_case(
        "GO137",
        lambda docs: container(docs)["ports"][0].update(hostPort=8080),
        "spec.template.spec.containers[flask-app].ports[http].hostPort",
    ),
    "namespace-relabelled-privileged": render_case("GO138 GO139", append(NAMESPACE), "kind"),
    "managed-namespace-privileged": render_case(
        "GO139",
        managed_label("privileged"),
        "spec.template.spec.syncPolicy.managedNamespaceMetadata.labels.pod-security.kubernetes.io/enforce",
    ),
    "managed-namespace-unlabelled": render_case(
        "GO139",
        managed_label(None),
        "spec.template.spec.syncPolicy.managedNamespaceMetadata.labels.pod-security.kubernetes.io/enforce",
    ),
    "plain-secret": render_case(
        "GO140",
        append(
            {
                "apiVersion": "v1",
                "kind": "Secret",
                "metadata": {"name": "db", "namespace": "flask-app-prod"},
                "stringData": {"password": "hunter2"},
            }
        ),
        "kind",
    ),
    "appproject-wildcards": render_case("GO141 GO142 GO143 GO158", append(WIDE_PROJECT), "spec.sourceRepos[0]"),
    "appproject-without-blacklist": render_case(
        "GO142",
        change("AppProject", "flask-app", lambda p: p["spec"].pop("namespaceResourceBlacklist")),
        "spec.namespaceResourceBlacklist",
    ),
    # Also GO149: it syncs argocd/, the root Application's folder.
    "application-into-kube-system": render_case("GO134 GO149", allow_system_namespace, "spec.destination.namespace"),
    "appset-template-automated-on-prod": render_case(
        "GO144", automated_template, "spec.template.spec.syncPolicy.automated"
    ),
    # What tests/e2e/test_differential.py found the API server refusing (or reading otherwise) while validate
    # passed it.
    "netpol-cidr-without-prefix-length": render_case(
        "GO112", ingress_rule({"from": [{"ipBlock": {"cidr": "10.0.0.1"}}]}), "spec.ingress[2].from[0].ipBlock.cidr"
    ),
    "netpol-cidr-netmask": render_case(
        "GO112",
        ingress_rule({"from": [{"ipBlock": {"cidr": "10.0.0.0/255.0.0.0"}}]}),
        "spec.ingress[2].from[0].ipBlock.cidr",
    ),
    "netpol-except-outside-the-cidr": render_case(
        "GO112",
        egress_rule({"to": [{"ipBlock": {"cidr": "10.0.0.0/8", "except": ["192.168.0.0/16"]}}]}),
        "spec.egress[1].to[0].ipBlock.except[0]",
    ),
    "loadbalancer-source-range-without-prefix-length": render_case(
        "GO135",
        change("Service", None, spec_update(loadBalancerSourceRanges=["203.0.113.10"])),
        "spec.loadBalancerSourceRanges[0]",
    ),
    "service-target-port-digit-string": render_case(
        "GO109", change("Service", None, lambda s: s["spec"]["ports"][0].update(targetPort="5000")), "spec.ports[http]"
    ),
    "container-port-name-invalid": render_case(
        "GO110",
        lambda docs: container(docs)["ports"].append({"name": "metrics--1", "containerPort": 9090}),
        "spec.template.spec.containers[flask-app].ports[metrics--1]",
    ),
    "probe-port-digit-string": render_case(
        "GO110",
        lambda docs: container(docs)["readinessProbe"]["httpGet"].update(port="5001"),
        "spec.template.spec.containers[flask-app].readinessProbe.httpGet.port",
    ),
    "netpol-selector-notin-without-values": render_case(
        "GO111",
        change(
            "NetworkPolicy",
            "flask-app",
            lambda np: np["spec"].update(
                podSelector={"matchExpressions": [{"key": "app.kubernetes.io/name", "operator": "NotIn", "values": []}]}
            ),
        ),
        "spec.podSelector",
    ),
    "hpa-autoscaling-v1-without-target-scales-on-cpu": render_case(
        "GO104 GO105", hpa_v1_without_cpu_request, "spec.template.spec.containers[flask-app].resources.requests.cpu"
    ),
    "hpa-target-in-another-api-group": render_case(
        "GO106",
        change(
            "HorizontalPodAutoscaler",
            None,
            lambda h: h["spec"]["scaleTargetRef"].update(apiVersion="extensions/v1beta1"),
        ),
        "spec.scaleTargetRef",
    ),
    # GO160: prod-eu's ipBlock allow-list behind a Service that does not keep client addresses.
    "loadbalancer-cluster-traffic-policy": render_case(
        "GO160", change("Service", None, spec_update(externalTrafficPolicy="Cluster")), "spec.externalTrafficPolicy"
    ),
    "loadbalancer-traffic-policy-unset": render_case(
        "GO160",
        change("Service", None, lambda s: s["spec"].pop("externalTrafficPolicy")),
        "spec.externalTrafficPolicy",
    ),
    "nodeport-cluster-traffic-policy": render_case(
        "GO135 GO160",
        change("Service", None, lambda s: s["spec"].update(type="NodePort", externalTrafficPolicy="Cluster")),
        "spec.externalTrafficPolicy",
    ),
    "aws-classic-elb": render_case("GO160", annotate(backend_protocol="tcp"), f"metadata.annotations.{AWS}type"),
    "aws-nlb-ip-targets-without-preserve-client-ip": render_case(
        "GO160",
        annotate(type="external", nlb_target_type="ip", scheme="internet-facing"),
        f"metadata.annotations.{AWS}target-group-attributes",
    ),
    "aws-nlb-unknown-type": render_case("GO160", annotate(type="alb"), f"metadata.annotations.{AWS}type"),
    "aws-controller-default-internal-nlb": render_case(
        "GO160", annotate(type="external", nlb_target_type="instance"), f"metadata.annotations.{AWS}scheme"
    ),
    "aws-nlb-instance-targets-cluster-policy": render_case(
        "GO160",
        combined(
            annotate(type="external", nlb_target_type="instance", scheme="internet-facing"),
            change("Service", None, spec_update(externalTrafficPolicy="Cluster")),
        ),
        "spec.externalTrafficPolicy",
    ),
    "aws-nlb-instance-targets-preserve-client-ip-off": render_case(
        "GO160",
        annotate(
            type="external",
            nlb_target_type="instance",
            scheme="internet-facing",
            target_group_attributes="preserve_client_ip.enabled=false",
        ),
        f"metadata.annotations.{AWS}target-group-attributes",
    ),
    # The in-tree controller makes an internal balancer for any value but "false", a CIDR included.
    "aws-in-tree-internal-cidr": render_case(
        "GO160", annotate(type="nlb", internal="0.0.0.0/0"), f"metadata.annotations.{AWS}internal"
    ),
    "aks-internal-balancer-public-allow-list": render_case(
        "GO160",
        annotate(**{"service.beta.kubernetes.io/azure-load-balancer-internal": "true"}),
        "metadata.annotations.service.beta.kubernetes.io/azure-load-balancer-internal",
    ),
    "gke-internal-balancer-public-allow-list": render_case(
        "GO160",
        annotate(**{"networking.gke.io/load-balancer-type": "Internal"}),
        "metadata.annotations.networking.gke.io/load-balancer-type",
    ),
    # GO161: the kubelet's SIGKILL would cut the shutdown short.
    "shutdown-grace-shorter-than-the-budget": render_case(
        "GO161",
        change("Deployment", None, lambda d: d["spec"]["template"]["spec"].update(terminationGracePeriodSeconds=20)),
        "spec.template.spec.terminationGracePeriodSeconds",
    ),
    "shutdown-grace-unset-with-long-drain": render_case(
        "GO161",
        change("Deployment", None, lambda d: d["spec"]["template"]["spec"].pop("terminationGracePeriodSeconds")),
        "spec.template.spec.terminationGracePeriodSeconds",
    ),
    "shutdown-drain-longer-than-grace": render_case(
        "GO161",
        set_env("DRAIN_SECONDS", {"value": "40"}),
        "spec.template.spec.terminationGracePeriodSeconds",
    ),
    "shutdown-drain-not-seconds": render_case(
        "GO161",
        set_env("DRAIN_SECONDS", {"value": "3s"}),
        "spec.template.spec.containers[flask-app].env",
    ),
    "shutdown-graceful-timeout-from-a-secret": render_case(
        "GO161",
        set_env("GRACEFUL_TIMEOUT", {"valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}}),
        "spec.template.spec.containers[flask-app].env",
    ),
    "shutdown-graceful-timeout-superscript-digit": render_case(  # str.isdigit() takes it, int() raised
        "GO161", set_env("GRACEFUL_TIMEOUT", {"value": "\u00b2"}), "spec.template.spec.containers[flask-app].env"
    ),
    "shutdown-prestop-exec-sleep-beyond-grace": render_case(  # the exec sleep counted as 0 before
        "GO161",
        combined(
            lambda docs: container(docs)["lifecycle"].update(preStop={"exec": {"command": ["sleep", "30"]}}),
            change(
                "Deployment", None, lambda d: d["spec"]["template"]["spec"].update(terminationGracePeriodSeconds=30)
            ),
        ),
        "spec.template.spec.terminationGracePeriodSeconds",
    ),
    "shutdown-graceful-timeout-from-envfrom": render_case(  # envFrom was ignored (the default assumed)
        "GO161",
        combined(
            lambda docs: container(docs)["env"].remove({"name": "GRACEFUL_TIMEOUT", "value": "20"}),
            lambda docs: container(docs).update(
                envFrom=[{"configMapRef": {"name": find(docs, "ConfigMap")["metadata"]["name"]}}]
            ),
            lambda docs: find(docs, "ConfigMap")["data"].update(GRACEFUL_TIMEOUT="120"),
        ),
        "spec.template.spec.terminationGracePeriodSeconds",
    ),
    "shutdown-prestop-negative": render_case(
        "GO161",
        lambda docs: container(docs)["lifecycle"].update(preStop={"sleep": {"seconds": -100}}),
        "spec.template.spec.containers[flask-app].lifecycle.preStop.sleep.seconds",
    ),
    "shutdown-grace-beyond-int64": render_case(  # kustomize writes 1e+23; the schema takes it
        "GO161",
        change("Deployment", None, lambda d: d["spec"]["template"]["spec"].update(terminationGracePeriodSeconds=1e23)),
        "spec.template.spec.terminationGracePeriodSeconds",
    ),
    "pod-selinux-type-spc_t": render_case(
        "GO114",
        change(
            "Deployment",
            None,
            lambda d: d["spec"]["template"]["spec"]["securityContext"].update(seLinuxOptions={"type": "spc_t"}),
        ),
        "spec.template.spec.securityContext.seLinuxOptions",
    ),
}


def test_the_good_render_passes(repo, tmp_path, good, capsys):
    assert validate(repo, write(tmp_path, copy.deepcopy(good)), capsys=capsys) == (0, [])


# The same allow-list behind Services that keep client addresses, and changes GO160 must not refuse.
KEEPS_CLIENT_ADDRESSES: dict[str, Callable[[list[dict]], None]] = {
    "aws-nlb-instance-targets-local": annotate(type="external", nlb_target_type="instance", scheme="internet-facing"),
    "aws-nlb-ip-targets-preserve-client-ip": combined(
        annotate(
            type="external",
            nlb_target_type="ip",
            scheme="internet-facing",
            target_group_attributes="deregistration_delay.timeout_seconds=30, preserve_client_ip.enabled=true",
        ),
        change("Service", None, spec_update(externalTrafficPolicy="Cluster")),  # ip targets skip the node port
    ),
    "aws-in-tree-nlb-local": annotate(type="nlb"),
    "aws-in-tree-nlb-internal-false": annotate(type="nlb", internal="false"),
    "aws-nlb-instance-targets-preserve-client-ip-on": annotate(
        type="external",
        nlb_target_type="instance",
        scheme="internet-facing",
        target_group_attributes="preserve_client_ip.enabled=true",
    ),
    "gke-backend-service-local": annotate(**{"cloud.google.com/l4-rbs": "enabled"}),
    "aks-public-local": annotate(**{"service.beta.kubernetes.io/azure-load-balancer-health-probe-interval": "5"}),
    "internal-balancer-private-allow-list": combined(
        annotate(**{"service.beta.kubernetes.io/azure-load-balancer-internal": "true"}),
        change("Service", None, spec_update(loadBalancerSourceRanges=["10.20.0.0/16"])),
        change(
            "NetworkPolicy",
            "flask-app",
            lambda np: np["spec"]["ingress"][1].update({"from": [{"ipBlock": {"cidr": "10.20.0.0/16"}}]}),
        ),
    ),
    # An allow-list for a port the Service does not expose is not behind it.
    "allow-list-on-another-port": combined(
        change("Service", None, spec_update(externalTrafficPolicy="Cluster")),
        change("NetworkPolicy", "flask-app", lambda np: np["spec"]["ingress"][1].update(ports=[{"port": 9090}])),
    ),
}


@pytest.mark.parametrize("case", sorted(KEEPS_CLIENT_ADDRESSES))
def test_a_service_that_keeps_client_addresses_passes(repo, tmp_path, good, capsys, case):
    docs = copy.deepcopy(good)
    KEEPS_CLIENT_ADDRESSES[case](docs)
    assert validate(repo, write(tmp_path, docs), capsys=capsys) == (0, [])


@pytest.mark.parametrize("case", sorted(RENDER_CASES))
def test_render_case_fails_with_its_id(repo, tmp_path, good, capsys, case):
    spec = RENDER_CASES[case]
    docs = copy.deepcopy(good)
    spec.mutate(docs)
    code, lines = validate(repo, write(tmp_path, docs), capsys=capsys)
    assert code == 1
    assert {line.split()[0] for line in lines} == spec.ids, lines
    assert any(f": {spec.field}: " in line for line in lines), lines
    assert all(STYLE.match(line) for line in lines), lines


# --- repository cases: a person's edit to a copy of the repository ----------------------
def edit(path: str, old: str, new: str) -> Callable[[Path], None]:
    def apply(repo: Path) -> None:
        file = repo / path
        text = file.read_text()
        assert old in text, (path, old)
        file.write_text(text.replace(old, new, 1))

    return apply


def new_file(path: str, text: str, listed_in: str | None = None) -> Callable[[Path], None]:
    def apply(repo: Path) -> None:
        (repo / path).write_text(text)
        if listed_in:
            edit(listed_in, "resources:\n", f"resources:\n  - {Path(path).name}\n")(repo)

    return apply


def both(*changes: Callable[[Path], None]) -> Callable[[Path], None]:
    def apply(repo: Path) -> None:
        for one in changes:
            one(repo)

    return apply


@dataclass(frozen=True)
class RepoCase:
    pid: str
    change: Callable[[Path], None]
    target: str  # what is validated (paths separated by spaces)
    file: str  # the file the line names
    field: str
    also: frozenset[str] = frozenset()  # other ids the same change may add


def repo_case(pid, change, target, file, field, also=""):
    return RepoCase(pid, change, target, file, field, frozenset(also.split()))


WIDE_PROJECT_YAML = yaml.safe_dump(WIDE_PROJECT | {"metadata": {"name": "everything"}}, sort_keys=False)
SYSTEM_APP_YAML = yaml.safe_dump(
    SYSTEM_APP
    | {
        "metadata": {"name": "system"},
        "spec": SYSTEM_APP["spec"]
        | {"project": "everything", "destination": {"name": "in-cluster", "namespace": "kube-system"}},
    },
    sort_keys=False,
)

REPO_CASES: dict[str, RepoCase] = {
    # An overlay that lengthens the preStop sleep without the grace period (GO161 reads the overlay's value).
    "overlay-prestop-beyond-grace": repo_case(
        "GO161",
        edit("apps/flask-app/overlays/prod/deployment.yaml", "seconds: 30", "seconds: 45"),
        "clusters/prod-eu",
        "clusters/prod-eu",
        "spec.template.spec.terminationGracePeriodSeconds",
    ),
    "config-autosync-string": repo_case(
        "GO127",
        edit("clusters/prod-eu/config.yaml", "autoSync: false", 'autoSync: "false"'),
        "clusters/prod-eu",
        "clusters/prod-eu/config.yaml",
        "autoSync",
        also="GO144",
    ),
    "config-autosync-typo": repo_case(
        "GO127",
        edit("clusters/dev/config.yaml", "autoSync:", "autosync:"),
        "clusters/dev",
        "clusters/dev/config.yaml",
        "autosync",
    ),
    "config-unknown-environment": repo_case(
        "GO127",
        edit("clusters/prod-us/config.yaml", "environment: prod", "environment: prd"),
        "clusters/prod-us",
        "clusters/prod-us/config.yaml",
        "environment",
    ),
    "config-http-url": repo_case(
        "GO127",
        edit("clusters/dev/config.yaml", "url: https://", "url: http://"),
        "clusters/dev",
        "clusters/dev/config.yaml",
        "url",
    ),
    "config-missing-key": repo_case(
        "GO127",
        edit("clusters/dev/config.yaml", "namespace: flask-app-dev\n", ""),
        "clusters/dev",
        "clusters/dev/config.yaml",
        "namespace",
    ),
    "config-name-type": repo_case(
        "GO127",
        edit("clusters/dev/config.yaml", "name: dev", "name: 1"),
        "clusters/dev",
        "clusters/dev/config.yaml",
        "cluster.name",
        also="GO130",
    ),
    "cluster-name-duplicate": repo_case(
        "GO128",
        edit("clusters/prod-us/config.yaml", "name: prod-us", "name: prod-eu"),
        "clusters/prod-us",
        "clusters/prod-us/config.yaml",
        "cluster.name",
        also="GO130",
    ),
    "cluster-namespace-differs": repo_case(
        "GO129",
        edit("clusters/staging/config.yaml", "namespace: flask-app-staging", "namespace: flask-app-stage"),
        "clusters/staging",
        "clusters/staging/config.yaml",
        "namespace",
    ),
    "cluster-label-of-another-cluster": repo_case(
        "GO130",
        edit("clusters/prod-us/kustomization.yaml", "flask-gitops/cluster: prod-us", "flask-gitops/cluster: prod-eu"),
        "clusters/prod-us",
        "clusters/prod-us/kustomization.yaml",
        "labels[0].pairs.flask-gitops/cluster",
    ),
    "cluster-overlay-of-another-environment": repo_case(
        "GO130",
        edit("clusters/staging/kustomization.yaml", "overlays/staging", "overlays/dev"),
        "clusters/staging",
        "clusters/staging/kustomization.yaml",
        "resources[0]",
    ),
    "unlisted-yaml-in-cluster-folder": repo_case(
        "GO131",
        new_file("clusters/prod-eu/hpa-bounds.yaml", "apiVersion: autoscaling/v2\nkind: HorizontalPodAutoscaler\n"),
        "clusters/prod-eu",
        "clusters/prod-eu/kustomization.yaml",
        "resources",
    ),
    "unlisted-yaml-in-overlay-folder": repo_case(
        "GO131",
        new_file("apps/flask-app/overlays/prod/replicas.yaml", "- op: add\n  path: /spec/replicas\n  value: 3\n"),
        "apps/flask-app/overlays/prod",
        "apps/flask-app/overlays/prod/kustomization.yaml",
        "resources",
    ),
    "config-namespace-with-a-trailing-newline": repo_case(
        "GO127",
        edit("clusters/dev/config.yaml", "namespace: flask-app-dev\n", 'namespace: "flask-app-dev\\n"\n'),
        "clusters/dev",
        "clusters/dev/config.yaml",
        "namespace",
        also="GO129",
    ),
    "prod-cluster-autosync": repo_case(
        "GO144",
        edit("clusters/prod-eu/config.yaml", "autoSync: false", "autoSync: true"),
        "clusters/prod-eu",
        "clusters/prod-eu/config.yaml",
        "autoSync",
    ),
    "prod-window-naming-one-prod-cluster": repo_case(
        "GO159",
        edit(
            "argocd/projects/appproject.yaml", "namespaces:\n        - flask-app-prod", "clusters:\n        - prod-eu"
        ),
        "argocd/projects",
        "argocd/projects",
        "syncWindows",
    ),
    "prod-window-that-lets-manual-syncs-through": repo_case(
        "GO159",
        edit("argocd/projects/appproject.yaml", "      timeZone: UTC", "      timeZone: UTC\n      manualSync: true"),
        "argocd/projects",
        "argocd/projects",
        "syncWindows",
    ),
    "prod-window-whose-schedule-argocd-skips": repo_case(
        "GO159",
        edit("argocd/projects/appproject.yaml", 'schedule: "0 8 * * 1-5"', 'schedule: "every weekday"'),
        "argocd/projects",
        "argocd/projects",
        "syncWindows",
    ),
    "prod-window-anded-with-a-cluster-that-is-not-prod": repo_case(
        "GO159",
        edit(
            "argocd/projects/appproject.yaml",
            "      timeZone: UTC",
            "      timeZone: UTC\n      andOperator: true\n      clusters: [nowhere]",
        ),
        "argocd/projects",
        "argocd/projects",
        "syncWindows",
    ),
    "manual-sync-cluster-outside-every-window": repo_case(
        "GO159",
        edit("clusters/staging/config.yaml", "autoSync: true", "autoSync: false"),
        "argocd/projects clusters/staging",
        "argocd/projects",
        "syncWindows",
    ),
    "new-appproject-under-argocd": repo_case(
        "GO143",
        new_file("argocd/appproject-everything.yaml", WIDE_PROJECT_YAML, listed_in="argocd/kustomization.yaml"),
        "argocd argocd/projects",
        "argocd",
        "metadata.name",
        also="GO141 GO142 GO158",
    ),
    "application-into-kube-system-through-it": repo_case(
        "GO134",
        both(
            new_file("argocd/appproject-everything.yaml", WIDE_PROJECT_YAML, listed_in="argocd/kustomization.yaml"),
            new_file("argocd/application-system.yaml", SYSTEM_APP_YAML, listed_in="argocd/kustomization.yaml"),
        ),
        "argocd argocd/projects",
        "argocd",
        "spec.destination.namespace",
        # It syncs argocd/ as the root does (GO149), through a project without a sync account (GO158).
        also="GO141 GO142 GO143 GO149 GO158",
    ),
}


@pytest.mark.parametrize("case", sorted(REPO_CASES))
def test_repository_case_fails_with_its_id(repo, capsys, case):
    spec = REPO_CASES[case]
    spec.change(repo)
    code, lines = validate(repo, *(repo / t for t in spec.target.split()), capsys=capsys)
    assert code == 1
    ids = {line.split()[0] for line in lines}
    assert spec.pid in ids, lines
    assert ids <= {spec.pid} | spec.also, lines
    mine = [line for line in lines if line.startswith(f"{spec.pid} {spec.file}: ")]
    assert any(f": {spec.field}: " in line for line in mine), lines
    assert all(STYLE.match(line) for line in lines), lines


def test_every_new_policy_has_a_case():
    covered = {i for c in RENDER_CASES.values() for i in c.ids} | {c.pid for c in REPO_CASES.values()}
    covered |= {"GO125", "GO126"}  # test_kustomize_gate.py
    assert {f"GO{n}" for n in range(125, 145)} <= covered


# --- the reviewed list and the typed gitops.yaml keys ------------------------------------
def test_a_reviewed_appproject_passes(tmp_path):
    project = copy.deepcopy(WIDE_PROJECT)
    project["spec"] = {
        "sourceRepos": ["https://github.com/example-org/flask-gitops.git"],
        "destinations": [{"name": "dev", "namespace": "flask-app-dev"}],
        "destinationServiceAccounts": [{"server": "*", "namespace": "flask-app-dev", "defaultServiceAccount": "s:d"}],
        "namespaceResourceBlacklist": [{"group": "", "kind": "Secret"}],
    }
    docs = [policy.Doc("argocd", project)]
    reviewed = policy.Context(root=tmp_path, reviewed_projects=frozenset({"everything"}))
    assert [str(f) for f in policy.run(docs, reviewed).findings] == []
    assert [f.id for f in policy.run(docs, policy.Context(root=tmp_path)).findings] == ["GO143"]
