"""Pod hygiene: probes, resources, Pod Security (as data), images."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

from .objects import (
    WORKLOAD_KINDS,
    container_port_names,
    container_port_problems,
    pod_containers,
    pod_of,
    port_ok,
    port_problem,
    ports,
)
from .registry import Doc, Outcome, Scope, check

PROBE_KINDS = ("httpGet", "tcpSocket", "grpc")


# --- probes ---------------------------------------------------------------------
def _long_running(doc: Doc) -> Iterator[tuple[dict, str]]:
    """The app containers (not init containers) of a workload."""
    if doc.kind in WORKLOAD_KINDS:
        for container, where, long_running in pod_containers(doc):
            if long_running:
                yield container, where


def _probe_target(probe: dict) -> tuple:
    if "httpGet" in probe:
        http = probe["httpGet"]
        return ("http", str(http.get("port")), http.get("path", "/"))
    if "tcpSocket" in probe:
        return ("tcp", str(probe["tcpSocket"].get("port")))
    if "grpc" in probe:
        return ("grpc", str(probe["grpc"].get("port")), probe["grpc"].get("service", ""))
    if "exec" in probe:
        return ("exec", tuple(probe["exec"].get("command") or []))
    return ("none",)


@check("GO101", "probes-present")
def probes_present(doc: Doc, scope: Scope) -> Iterator[Outcome]:
    """Without a readiness probe a pod gets traffic before it can serve; without a liveness
    probe a wedged process is never restarted."""
    for container, where in _long_running(doc):
        for name in ("livenessProbe", "readinessProbe"):
            yield Outcome(f"{where}.{name}", None if container.get(name) else "missing")


@check("GO102", "probes-distinct")
def probes_distinct(doc: Doc, scope: Scope) -> Iterator[Outcome]:
    """Liveness and readiness mean different things: a failing dependency should take a pod out
    of the Service, not restart it."""
    for container, where in _long_running(doc):
        live, ready = container.get("livenessProbe"), container.get("readinessProbe")
        if live and ready:
            same = _probe_target(live) == _probe_target(ready)
            problem = f"same check as livenessProbe {_probe_target(live)}; use a separate readiness endpoint"
            yield Outcome(f"{where}.readinessProbe", problem if same else None)


@check("GO103", "startup-probe")
def startup_probe(doc: Doc, scope: Scope) -> Iterator[Outcome]:
    """Long initialDelaySeconds slow every rollout; a startupProbe covers slow starts and lets
    fast starts be Ready at once."""
    for container, where in _long_running(doc):
        for name in ("livenessProbe", "readinessProbe"):
            probe = container.get(name)
            if probe:
                delay = int(probe.get("initialDelaySeconds", 0))
                problem = f"{delay}s delay; use a startupProbe instead of long initial delays"
                yield Outcome(f"{where}.{name}.initialDelaySeconds", problem if delay > 10 else None)


@check("GO110", "probe-port")
def probe_port(doc: Doc, scope: Scope) -> Iterator[Outcome]:
    """A probe on an undeclared port fails forever."""
    pod = pod_of(doc)
    if pod is None:
        return
    # What a probe can name: every container's declared ports, each as the API server takes it.
    for container, where, _ in pod_containers(doc):
        for at, problem in container_port_problems(container):
            yield Outcome(f"{where}.{at}", problem)
    numbers = ports(pod[0])[1]
    for container, where in _long_running(doc):
        names = container_port_names(container)  # the kubelet looks a port name up in the probe's own container
        for name in ("startupProbe", "livenessProbe", "readinessProbe"):
            probe = container.get(name) or {}
            for kind in PROBE_KINDS:
                if kind in probe:
                    port = probe[kind].get("port")
                    problem = port_problem(port)
                    if problem is None and not port_ok(port, names, numbers):
                        problem = f"port {port!r} is not a declared container port"
                        if isinstance(port, str):
                            problem = f"port {port!r} is not a port name this container declares"
                    yield Outcome(f"{where}.{name}.{kind}.port", problem)


@check("GO137", "host-port")
def host_port(doc: Doc, scope: Scope) -> Iterator[Outcome]:
    """A hostPort binds the node's own address: it bypasses the Service and NetworkPolicies
    and limits the pods per node to one."""
    for container, where, _ in pod_containers(doc):
        for i, port in enumerate(container.get("ports") or []):
            host = port.get("hostPort")
            name = port.get("name", i)
            yield Outcome(f"{where}.ports[{name}].hostPort", f"{host!r} binds the node's port" if host else None)


# --- resources ------------------------------------------------------------------
@check("GO104", "resources")
def resources(doc: Doc, scope: Scope) -> Iterator[Outcome]:
    """Requests let the scheduler place pods and the HPA compute utilization; limits keep one
    pod from starving its node."""
    for container, where, _ in pod_containers(doc):
        declared = container.get("resources") or {}
        for section in ("requests", "limits"):
            for resource in ("cpu", "memory"):
                missing = resource not in (declared.get(section) or {})
                yield Outcome(f"{where}.resources.{section}.{resource}", "not set" if missing else None)


# --- Pod Security, as data --------------------------------------------------------
@dataclass(frozen=True)
class Rule:
    """One field of the pod spec, or of every container, and what it must hold.

    ``field`` is a dotted path below the pod spec or the container; ``key[*]`` runs over a
    list and names each item by its ``name``. An unset field reads as None. For a
    container rule, ``pod_default`` is the pod-spec path whose value applies when the
    container leaves the field unset.
    """

    level: str  # "pod" or "container"
    field: str
    allowed: Callable[[object], bool]
    problem: str | Callable[[object], str]
    pod_default: str | None = None

    def message(self, value: object) -> str:
        return self.problem(value) if callable(self.problem) else self.problem


def _names(value: object) -> set[str]:
    return {str(item) for item in value or []}


ADDABLE_CAPABILITIES = {"NET_BIND_SERVICE"}
SECCOMP_TYPES = {"RuntimeDefault", "Localhost"}
APPARMOR_TYPES = ("RuntimeDefault", "Localhost")
# What Pod Security admission (k8s.io/pod-security-admission/policy, as of Kubernetes 1.34) admits.
RESTRICTED_VOLUMES = {
    "configMap",
    "csi",
    "downwardAPI",
    "emptyDir",
    "ephemeral",
    "image",
    "persistentVolumeClaim",
    "projected",
    "secret",
}
SAFE_SYSCTLS = {
    "kernel.shm_rmid_forced",
    "net.ipv4.ip_local_port_range",
    "net.ipv4.tcp_syncookies",
    "net.ipv4.ping_group_range",
    "net.ipv4.ip_unprivileged_port_start",
    "net.ipv4.ip_local_reserved_ports",
    "net.ipv4.tcp_keepalive_time",
    "net.ipv4.tcp_fin_timeout",
    "net.ipv4.tcp_keepalive_intvl",
    "net.ipv4.tcp_keepalive_probes",
    "net.ipv4.tcp_rmem",
    "net.ipv4.tcp_wmem",
}
SELINUX_TYPES = {"", "container_t", "container_init_t", "container_kvm_t", "container_engine_t"}
SELINUX_PROBLEM = f"only a type of {sorted(SELINUX_TYPES - {''})}, no user, no role"
# Probe and lifecycle handlers that connect somewhere: their host must stay the pod's own.
HOST_HANDLERS = tuple(
    f"{handler}.{action}.host"
    for handler in ("livenessProbe", "readinessProbe", "startupProbe", "lifecycle.postStart", "lifecycle.preStop")
    for action in ("httpGet", "tcpSocket")
)


def _volume_type(volume: object) -> str:
    return next((str(k) for k in volume if k != "name"), "none") if isinstance(volume, dict) else "none"


def _sysctls(value: object) -> set[str]:
    return {str(item.get("name")) for item in value or [] if isinstance(item, dict)}


def _selinux_ok(value: object) -> bool:
    return value is None or (
        isinstance(value, dict)
        and value.get("type", "") in SELINUX_TYPES
        and not value.get("user")
        and not value.get("role")
    )


# The restricted Pod Security Standard, as far as a manifest can show it.
RESTRICTED: tuple[Rule, ...] = (
    Rule("pod", "hostNetwork", lambda v: not v, "must not be true"),
    Rule("pod", "hostPID", lambda v: not v, "must not be true"),
    Rule("pod", "hostIPC", lambda v: not v, "must not be true"),
    Rule("pod", "volumes[*].hostPath", lambda v: v is None, "not allowed"),
    Rule(
        "pod",
        "volumes[*]",
        lambda v: _volume_type(v) in RESTRICTED_VOLUMES,
        lambda v: f"a {_volume_type(v)} volume is not allowed (only {', '.join(sorted(RESTRICTED_VOLUMES))})",
    ),
    Rule("pod", "securityContext.runAsUser", lambda v: v != 0, "must not be 0"),
    Rule("pod", "securityContext.runAsNonRoot", lambda v: v is not False, "must not be false"),
    Rule(
        "pod",
        "securityContext.sysctls",
        lambda v: not _sysctls(v) - SAFE_SYSCTLS,
        lambda v: f"{sorted(_sysctls(v) - SAFE_SYSCTLS)} are not among the safe sysctls",
    ),
    *(  # the same three on the pod's securityContext and on each container's
        rule
        for level in ("pod", "container")
        for rule in (
            Rule(level, "securityContext.seLinuxOptions", _selinux_ok, SELINUX_PROBLEM),
            Rule(
                level,
                "securityContext.appArmorProfile.type",
                lambda v: v in (None, *APPARMOR_TYPES),
                "must be unset, RuntimeDefault or Localhost",
            ),
            Rule(level, "securityContext.windowsOptions.hostProcess", lambda v: not v, "must not be true"),
        )
    ),
    Rule("container", "securityContext.procMount", lambda v: v in (None, "Default"), "must be Default"),
    *(
        Rule("container", field, lambda v: not v, "must not be set: the kubelet would connect elsewhere")
        for field in HOST_HANDLERS
    ),
    Rule("container", "securityContext.allowPrivilegeEscalation", lambda v: v is False, "must be false"),
    Rule("container", "securityContext.privileged", lambda v: not v, "must not be true"),
    Rule("container", "securityContext.capabilities.drop", lambda v: "ALL" in _names(v), "must include ALL"),
    Rule(
        "container",
        "securityContext.capabilities.add",
        lambda v: not _names(v) - ADDABLE_CAPABILITIES,
        lambda v: f"only NET_BIND_SERVICE may be added, not {sorted(_names(v) - ADDABLE_CAPABILITIES)}",
    ),
    Rule(
        "container",
        "securityContext.runAsNonRoot",
        lambda v: v is True,
        "must be true (here or in the pod securityContext)",
        pod_default="securityContext.runAsNonRoot",
    ),
    Rule("container", "securityContext.runAsUser", lambda v: v != 0, "must not be 0"),
    Rule(
        "container",
        "securityContext.seccompProfile.type",
        lambda v: v in SECCOMP_TYPES,
        "must be RuntimeDefault or Localhost (here or in the pod securityContext)",
        pod_default="securityContext.seccompProfile.type",
    ),
)
READ_ONLY_ROOT = (Rule("container", "securityContext.readOnlyRootFilesystem", lambda v: v is True, "must be true"),)
NO_TOKEN = (Rule("pod", "automountServiceAccountToken", lambda v: v is False, "must be false"),)


def _lookup(node: object, path: str) -> Iterator[tuple[str, object]]:
    """(resolved path, value) for every place a dotted ``path`` names in ``node``."""
    head, _, rest = path.partition(".")
    if head.endswith("[*]"):
        key = head[:-3]
        items = (node.get(key) if isinstance(node, dict) else None) or []
        for item in items:
            name = item.get("name") if isinstance(item, dict) else None
            if not rest:
                yield f"{key}[{name}]", item
                continue
            for sub, value in _lookup(item, rest):
                yield f"{key}[{name}].{sub}", value
        return
    value = node.get(head) if isinstance(node, dict) else None
    if not rest:
        yield head, value
        return
    for sub, inner in _lookup(value, rest):
        yield f"{head}.{sub}", inner


def _first(node: object, path: str) -> object:
    return next(_lookup(node, path))[1]


def apply_rules(rules: tuple[Rule, ...], doc: Doc) -> Iterator[Outcome]:
    """Every pod rule on the pod spec, then every container rule on each container."""
    pod = pod_of(doc)
    if pod is None:
        return
    spec, _, prefix = pod
    for rule in rules:
        if rule.level == "pod":
            for where, value in _lookup(spec, rule.field):
                yield Outcome(f"{prefix}.{where}", None if rule.allowed(value) else rule.message(value))
    for container, at, _ in pod_containers(doc):
        for rule in rules:
            if rule.level == "container":
                value = _first(container, rule.field)
                if value is None and rule.pod_default:
                    value = _first(spec, rule.pod_default)
                yield Outcome(f"{at}.{rule.field}", None if rule.allowed(value) else rule.message(value))


# The AppArmor annotations that came before securityContext.appArmorProfile (deprecated in 1.30).
APPARMOR_ANNOTATION = "container.apparmor.security.beta.kubernetes.io/"


def _pod_annotations(doc: Doc) -> Iterator[tuple[str, str, object]]:
    """(field, key, value) of every annotation of the document's pod (its template's, for a workload)."""
    pod = pod_of(doc)
    if pod is None:
        return
    path = pod[2].removesuffix("spec") + "metadata"
    node: object = doc.body
    for key in path.split("."):
        node = node.get(key) if isinstance(node, dict) else None
    annotations = (node.get("annotations") if isinstance(node, dict) else None) or {}
    if isinstance(annotations, dict):
        for key, value in annotations.items():
            yield f"{path}.annotations.{key}", str(key), value


@check("GO114", "pss-restricted")
def pss_restricted(doc: Doc, scope: Scope) -> Iterator[Outcome]:
    """The restricted Pod Security Standard is enforced on the app's namespaces: a pod that
    breaks it is rejected at admission."""
    yield from apply_rules(RESTRICTED, doc)
    for where, key, value in _pod_annotations(doc):
        if key.startswith(APPARMOR_ANNOTATION):
            problem = "deprecated since Kubernetes 1.30 (the API server warns): set securityContext.appArmorProfile"
            if value not in ("runtime/default", "") and not str(value).startswith("localhost/"):
                problem = f"{value!r} is not allowed: only runtime/default or localhost/<profile>"
            yield Outcome(where, problem)


@check("GO115", "read-only-root")
def read_only_root(doc: Doc, scope: Scope) -> Iterator[Outcome]:
    """A read-only root filesystem stops an attacker from changing the image at run time."""
    return apply_rules(READ_ONLY_ROOT, doc)


@check("GO119", "sa-token")
def sa_token(doc: Doc, scope: Scope) -> Iterator[Outcome]:
    """A pod that never calls the Kubernetes API should not carry a token."""
    return apply_rules(NO_TOKEN, doc)


# --- images ---------------------------------------------------------------------


# --- shutdown budget (gunicorn.conf.py, docs/service.md) ----------------------------------
# gunicorn.conf.py's defaults for a container that sets neither (a test keeps them in step), and
# the margin the kubelet gets between the master's exit and its SIGKILL.
SHUTDOWN_DEFAULTS = {"DRAIN_SECONDS": 3, "GRACEFUL_TIMEOUT": 20}
SHUTDOWN_MARGIN = 2
DEFAULT_GRACE = 30  # terminationGracePeriodSeconds when unset


def _setting(container: dict, name: str, doc: Doc, scope: Scope) -> tuple[int | None, str | None]:
    """(seconds, problem) of one shutdown setting of the container, as the pod would read it."""
    entries = [e for e in container.get("env") or [] if isinstance(e, dict) and e.get("name") == name]
    if not entries:
        return SHUTDOWN_DEFAULTS[name], None
    entry = entries[-1]  # the kubelet takes the last of a repeated name
    raw = entry.get("value")
    source = (entry.get("valueFrom") or {}).get("configMapKeyRef")
    if source:
        maps = [m for m in scope.same_namespace(doc, {"ConfigMap"}) if m.name == source.get("name")]
        data = (maps[0].body.get("data") or {}) if maps else {}
        if source.get("key") not in data:
            return (
                None,
                f"{name} comes from ConfigMap {source.get('name')!r} key {source.get('key')!r}, not in this render",
            )
        raw = data[source["key"]]
    elif entry.get("valueFrom"):
        return None, f"{name} comes from {sorted(entry['valueFrom'])}: the gate cannot read the value"
    text = str(raw if raw is not None else "").strip()
    if not text.isdigit():
        return None, f"{name}={raw!r} is not a whole number of seconds (gunicorn refuses to start)"
    return int(text), None


@check("GO161", "shutdown-budget")
def shutdown_budget(doc: Doc, scope: Scope) -> Iterator[Outcome]:
    """A pod being stopped keeps serving for its preStop sleep while load balancers stop sending,
    serves DRAIN_SECONDS more after SIGTERM, then gives in-flight requests GRACEFUL_TIMEOUT: when
    terminationGracePeriodSeconds is shorter than their sum (plus 2 s), the kubelet kills the
    server in the middle of requests. An overlay that lengthens one lengthens the grace period."""
    pod = pod_of(doc) if doc.kind in WORKLOAD_KINDS else None
    if pod is None:
        return
    spec, _labels, prefix = pod
    grace = spec.get("terminationGracePeriodSeconds", DEFAULT_GRACE)
    for container, where in _long_running(doc):
        prestop = ((container.get("lifecycle") or {}).get("preStop") or {}).get("sleep") or {}
        parts = {"preStop sleep": prestop.get("seconds", 0)}
        problems = []
        for name in SHUTDOWN_DEFAULTS:
            parts[name], problem = _setting(container, name, doc, scope)
            if problem:
                problems.append(problem)
        if problems:
            yield Outcome(f"{where}.env", "; ".join(problems))
            continue
        if not all(type(v) is int for v in [grace, *parts.values()]):
            continue  # the schema refuses it
        need = sum(parts.values()) + SHUTDOWN_MARGIN
        terms = " + ".join(f"{k} {v}" for k, v in parts.items())
        problem = f"{grace} s is less than {terms} + {SHUTDOWN_MARGIN} s of margin = {need} s ({where})"
        yield Outcome(f"{prefix}.terminationGracePeriodSeconds", None if grace >= need else problem)
