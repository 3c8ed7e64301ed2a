"""Reading Kubernetes objects the way the checks need: pod templates, containers, ports, selectors.

The formats below are the API server's own (k8s.io/apimachinery/pkg/util/validation), so
that a rule reading a port, a label or a selector refuses what the server refuses:
tests/e2e/test_differential.py holds them against a real one.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from .. import file_schemas
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


# --- formats, as the API server checks them ----------------------------------------
PROTOCOLS = ("TCP", "UDP", "SCTP")  # a port's protocol; unset means TCP
_PORT_NAME = re.compile(r"[-a-z0-9]+")
_DNS_LABEL = re.compile(file_schemas.NAME)
_DNS_SUBDOMAIN = re.compile(file_schemas.DNS_SUBDOMAIN)
_QUALIFIED_NAME = re.compile(r"([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]")
_LABEL_VALUE = re.compile(r"(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?")
_LABEL_CHARS = "at most 63 of A-Z, a-z, 0-9, '-', '_', '.', alphanumeric at either end"
OPERATORS = ("In", "NotIn", "Exists", "DoesNotExist")


def port_number_problem(value: object) -> str | None:
    if isinstance(value, bool) or not isinstance(value, int):
        return f"{value!r} is not a port number"
    return None if 1 <= value <= 65535 else f"{value} is not a port number (1-65535)"


def port_name_problem(name: object) -> str | None:
    """IANA_SVC_NAME: at most 15 of a-z, 0-9 and '-', at least one letter, no '--', no '-' at either end."""
    if not isinstance(name, str):
        return f"{name!r} is not a port name"
    if (
        len(name) > 15
        or not _PORT_NAME.fullmatch(name)
        or not re.search("[a-z]", name)
        or "--" in name
        or name.startswith("-")
        or name.endswith("-")
    ):
        return (
            f"{name!r} is not a port name (IANA_SVC_NAME: at most 15 of a-z, 0-9 and '-', "
            "a letter, no '--', no '-' at either end)"
        )
    return None


def port_problem(port: object) -> str | None:
    """An int-or-string port: a number, or a port name (a string of digits is a name, and no valid one)."""
    return port_name_problem(port) if isinstance(port, str) else port_number_problem(port)


def _unless_matches(value: object, pattern: re.Pattern[str], problem: str) -> str | None:
    """``problem`` unless ``value`` is a string of at most 63 characters that ``pattern`` matches whole."""
    if not isinstance(value, str) or len(value) > 63 or not pattern.fullmatch(value):
        return problem
    return None


def dns_label_problem(name: object) -> str | None:
    return _unless_matches(
        name, _DNS_LABEL, f"{name!r} is not a DNS label (at most 63 of a-z, 0-9 and '-', alphanumeric at either end)"
    )


def label_key_problem(key: object) -> str | None:
    """A label key: a name (at most 63) with an optional DNS subdomain prefix and '/'."""
    if not isinstance(key, str):
        return f"label key {key!r} is not a string"
    parts = key.split("/")
    name = parts[-1]
    if len(parts) > 2:
        return f"label key {key!r} has more than one '/'"
    if len(parts) == 2 and (not parts[0] or len(parts[0]) > 253 or not _DNS_SUBDOMAIN.fullmatch(parts[0])):
        return f"label key {key!r}: the prefix is not a DNS subdomain"
    if not name or len(name) > 63 or not _QUALIFIED_NAME.fullmatch(name):
        return f"label key {key!r}: the name is not {_LABEL_CHARS}"
    return None


def label_value_problem(value: object) -> str | None:
    return _unless_matches(value, _LABEL_VALUE, f"label value {value!r} is not empty or {_LABEL_CHARS}")


def labels_problem(labels: object) -> str | None:
    """The first problem of a map of labels (a Service selector, a matchLabels), else None."""
    if not isinstance(labels, dict):
        return f"{labels!r} is not a map of labels"
    for key, value in labels.items():
        problem = label_key_problem(key) or label_value_problem(value)
        if problem:
            return problem
    return None


def selector_problem(selector: object) -> str | None:
    """The first problem of a LabelSelector, as the API server validates one, else None."""
    if not isinstance(selector, dict):
        return f"{selector!r} is not a label selector"
    problem = labels_problem(selector.get("matchLabels") or {})
    if problem:
        return problem
    for expression in selector.get("matchExpressions") or []:
        if not isinstance(expression, dict):
            return f"{expression!r} is not a selector requirement"
        operator, values = expression.get("operator"), expression.get("values") or []
        problem = label_key_problem(expression.get("key"))
        if problem:
            return problem
        if operator not in OPERATORS:
            return f"{operator!r} is not a selector operator ({', '.join(OPERATORS)})"
        if operator in ("In", "NotIn") and not values:
            return f"{operator} needs values"
        if operator in ("Exists", "DoesNotExist") and values:
            return f"{operator} takes no values"
        for value in values:
            problem = label_value_problem(value)
            if problem:
                return problem
    return None


def selects_everything(selector: object) -> bool:
    """A selector without requirements ({} or empty matchLabels and matchExpressions) selects every pod."""
    return isinstance(selector, dict) and not selector.get("matchLabels") and not selector.get("matchExpressions")


# --- ports ------------------------------------------------------------------------
def container_port_problems(container: dict) -> Iterator[tuple[str, str | None]]:
    """(field below the container, problem or None) of each declared port, as the API server and server-side
    apply take them: a valid name, unique in the container; a valid number, unique with its protocol."""
    names: set[str] = set()
    keys: set[str] = set()
    for i, port in enumerate(container.get("ports") or []):
        port = port if isinstance(port, dict) else {}
        name, number = port.get("name"), port.get("containerPort")
        protocol = port.get("protocol") or "TCP"  # "" and null are defaulted to TCP
        problems = []
        if name:  # "" is no name
            problems.append(port_name_problem(name) or (f"name {name!r} declared twice" if name in names else None))
            names.add(str(name))
        for key, value in (("containerPort", number), ("hostPort", port.get("hostPort"))):
            problem = None if key == "hostPort" and value in (None, 0) else port_number_problem(value)
            problems.append(problem and f"{key}: {problem}")
        if protocol not in PROTOCOLS:
            problems.append(f"protocol {protocol!r} is not one of {', '.join(PROTOCOLS)}")
        twice = repr((number, protocol))
        if twice in keys:
            problems.append(f"containerPort {number}/{protocol} declared twice")
        keys.add(twice)
        found = [p for p in problems if p]
        yield f"ports[{name or i}]", "; ".join(found) or None


def _valid_ports(container: dict) -> Iterator[dict]:
    """The declared ports the API server would take (an invalid one refuses the whole object)."""
    for port in container.get("ports") or []:
        if isinstance(port, dict) and not port_number_problem(port.get("containerPort")):
            yield port


def ports(spec: dict) -> tuple[set[str], set[int]]:
    """The valid names and numbers of every container port of a pod spec."""
    names, numbers = set(), set()
    for container in spec.get("containers") or []:
        names |= container_port_names(container)
        numbers |= {int(port["containerPort"]) for port in _valid_ports(container)}
    return names, numbers


def container_port_names(container: dict, protocol: str | None = None) -> set[str]:
    """The valid port names one container declares (with ``protocol``, those of that protocol only)."""
    return {
        str(port["name"])
        for port in _valid_ports(container)
        if port.get("name")
        and not port_name_problem(port["name"])
        and (protocol is None or (port.get("protocol") or "TCP") == protocol)
    }


def port_ok(port: object, names: set[str], numbers: set[int]) -> bool:
    """Is ``port`` a valid port that ``names`` or ``numbers`` hold (a digit string is a name, never a number)?"""
    if port_problem(port):
        return False
    return port in names if isinstance(port, str) else port in numbers


# --- selectors ----------------------------------------------------------------------
def selects(selector: dict | None, labels: dict) -> bool:
    """Does a LabelSelector (matchLabels + matchExpressions) match ``labels``? An invalid one selects nothing."""
    if selector is None or selector_problem(selector):
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
