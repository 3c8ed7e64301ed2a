"""Reading Kubernetes objects the way the checks need: pod templates, containers, ports, selectors."""

from __future__ import annotations

from collections.abc import Iterator

from .registry import Doc

WORKLOAD_KINDS = {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet"}
CLUSTER_SCOPED = {
    "Namespace",
    "ClusterRole",
    "ClusterRoleBinding",
    "CustomResourceDefinition",
    "PersistentVolume",
    "StorageClass",
    "PriorityClass",
    "ValidatingWebhookConfiguration",
    "IngressClass",
    "MutatingWebhookConfiguration",
    "APIService",
    "Node",
    "RuntimeClass",
}


def pod_of(doc: Doc) -> tuple[dict, dict, str] | None:
    """(pod spec, pod template labels, field prefix) of a workload, or None."""
    body = doc.body
    if doc.kind in WORKLOAD_KINDS:
        template = (body.get("spec") or {}).get("template") or {}
        labels = (template.get("metadata") or {}).get("labels") or {}
        return template.get("spec") or {}, labels, "spec.template.spec"
    if doc.kind == "Pod":
        return body.get("spec") or {}, (body.get("metadata") or {}).get("labels") or {}, "spec"
    if doc.kind == "CronJob":
        template = ((body.get("spec") or {}).get("jobTemplate") or {}).get("spec", {}).get("template", {})
        return template.get("spec") or {}, {}, "spec.jobTemplate.spec.template.spec"
    if doc.kind == "Job":
        template = (body.get("spec") or {}).get("template") or {}
        return template.get("spec") or {}, {}, "spec.template.spec"
    return None


def containers(spec: dict, prefix: str) -> Iterator[tuple[dict, str, bool]]:
    """(container, field path, is_long_running) for every container of a pod spec."""
    for key in ("initContainers", "containers"):
        for container in spec.get(key) or []:
            name = container.get("name", "?")
            yield container, f"{prefix}.{key}[{name}]", key == "containers"


def pod_containers(doc: Doc) -> Iterator[tuple[dict, str, bool]]:
    """Every container of the document's pod (none when it has no pod)."""
    pod = pod_of(doc)
    if pod is not None:
        yield from containers(pod[0], pod[2])


def ports(spec: dict) -> tuple[set[str], set[int]]:
    """The names and numbers of every container port of a pod spec."""
    names, numbers = set(), set()
    for container in spec.get("containers") or []:
        for port in container.get("ports") or []:
            if port.get("name"):
                names.add(str(port["name"]))
            if port.get("containerPort") is not None:
                numbers.add(int(port["containerPort"]))
    return names, numbers


def port_ok(port: object, names: set[str], numbers: set[int]) -> bool:
    if isinstance(port, int):
        return port in numbers
    if isinstance(port, str):
        return int(port) in numbers if port.isdigit() else port in names
    return False


def selects(selector: dict | None, labels: dict) -> bool:
    """Does a LabelSelector (matchLabels + matchExpressions) match ``labels``?"""
    if selector is None:
        return False
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    for expr in selector.get("matchExpressions") or []:
        key, op, values = expr.get("key"), expr.get("operator"), expr.get("values") or []
        if op == "In" and labels.get(key) not in values:
            return False
        if op == "NotIn" and labels.get(key) in values:
            return False
        if op == "Exists" and key not in labels:
            return False
        if op == "DoesNotExist" and key in labels:
            return False
    return True
