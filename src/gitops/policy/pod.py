"""Pod hygiene: probes, resources, Pod Security (as data), images."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from .images import runs_repository
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
INT64_MAX = 2**63 - 1  # the API server stores these seconds as int64
_ASCII_DIGITS = re.compile(r"[0-9]+")
# The preStop exec commands read as a plain sleep: sleep N, or a shell running exactly "sleep N".
SLEEP_COMMANDS = ("sleep", "/bin/sleep", "/usr/bin/sleep")
SHELLS = ("sh", "/bin/sh", "bash", "/bin/bash")
_SHELL_SLEEP = re.compile(r"sleep ([0-9]+)")

Reading = tuple[int | None, str | None]  # (seconds, why they cannot be read)


def _seconds(value: object) -> Reading:
    """A count of seconds of the pod spec, as the API server stores it: an int64 of at least 0."""
    if type(value) is not int:  # bools, strings, floats (kustomize writes a huge integer as 1e+23)
        return None, f"{value!r} is not a whole number of seconds"
    if value < 0:
        return None, f"{value} is negative"
    if value > INT64_MAX:
        return None, f"{value} is beyond int64: the API server refuses it"
    return value, None


def _env_seconds(name: str, raw: object) -> Reading:
    """A setting's text as gunicorn.conf.py's _int reads it (stripped, isdigit(), int()), in ASCII digits only."""
    text = str(raw if raw is not None else "").strip()
    if _ASCII_DIGITS.fullmatch(text):
        return int(text), None
    if text.isdigit():  # gunicorn's isdigit() takes it; int() then fails ("²") or reads another script's digits
        try:
            value = int(text)
        except ValueError:
            return None, f"{name}={raw!r} is no number though str.isdigit() takes it: gunicorn refuses to start"
        return None, f"{name}={raw!r} is not written in ASCII digits (gunicorn would read {value}): write {value}"
    if not text:
        return None, f"{name}={raw!r} is empty: gunicorn falls back to its default; set a value or drop the entry"
    if "$(" in text:
        return None, f"{name}={raw!r} expands other variables: the gate cannot read the value"
    return None, f"{name}={raw!r} is not a whole number of seconds (gunicorn refuses to start)"


def _config_data(name: object, doc: Doc, scope: Scope) -> dict | None:
    """The data of the ConfigMap ``name`` of the render, in the document's namespace; None when absent or unreadable."""
    maps = [m for m in scope.same_namespace(doc, {"ConfigMap"}) if m.name == name]
    data = (maps[0].body.get("data") or {}) if maps else None
    return data if isinstance(data, dict) else None


def _from_env(entry: dict, name: str, doc: Doc, scope: Scope) -> Reading:
    """A setting from the container's env entry: a value, or a ConfigMap key of the render."""
    value_from = entry.get("valueFrom")
    if value_from is None:
        return _env_seconds(name, entry.get("value"))
    if not isinstance(value_from, dict):
        return None, f"{name} valueFrom {value_from!r} is not a mapping: the gate cannot read the value"
    source = value_from.get("configMapKeyRef")
    if source is None:
        return None, f"{name} comes from {sorted(value_from)}: the gate cannot read the value"
    if not isinstance(source, dict):
        return None, f"{name} comes from configMapKeyRef {source!r}, not a mapping: the gate cannot read the value"
    data = _config_data(source.get("name"), doc, scope)
    if data is not None and source.get("key") not in data and source.get("optional") is True:
        return SHUTDOWN_DEFAULTS[name], None  # an optional key that is absent leaves the variable unset
    if data is None or source.get("key") not in data:
        return None, f"{name} comes from ConfigMap {source.get('name')!r} key {source.get('key')!r}, not in this render"
    return _env_seconds(name, data[source["key"]])


def _from_env_from(env_from: list, name: str, doc: Doc, scope: Scope) -> tuple[object, str | None] | None:
    """(text, problem) of a setting the container's envFrom sources supply (the last that has it wins), else None."""
    for i, source in reversed(list(enumerate(env_from))):
        if not isinstance(source, dict):
            return None, f"envFrom[{i}] {source!r} is not a mapping: the gate cannot read whether it sets {name}"
        prefix = source.get("prefix") or ""
        if not isinstance(prefix, str) or not name.startswith(prefix):
            continue
        key = name[len(prefix) :]
        ref = source.get("configMapRef")
        if isinstance(ref, dict) and set(source) <= {"configMapRef", "prefix"}:
            data = _config_data(ref.get("name"), doc, scope)
            if data is None:
                return None, f"envFrom[{i}] takes ConfigMap {ref.get('name')!r}, not in this render: it may set {name}"
            if key in data:
                return data[key], None
            continue
        if "secretRef" in source:
            return None, (
                f"envFrom[{i}] takes every key of a Secret, which the gate cannot read: it may set {name}; "
                f"set {name} in env (env wins over envFrom)"
            )
        return None, f"envFrom[{i}] {source!r}: the gate cannot read whether it sets {name}"
    return None


def _setting(container: dict, where: str, name: str, doc: Doc, scope: Scope) -> tuple[int | None, str, str | None]:
    """(seconds, field, problem) of one shutdown setting, as the container's process would read it.

    An env entry wins over envFrom; among envFrom sources the last wins; a name set nowhere takes
    gunicorn.conf.py's default.
    """
    env, env_from = container.get("env"), container.get("envFrom")
    if env is not None and not isinstance(env, list):
        return None, f"{where}.env", f"{env!r} is not a list: the gate cannot read {name}"
    entries = [e for e in env or [] if isinstance(e, dict) and e.get("name") == name]
    if entries:
        seconds, problem = _from_env(entries[-1], name, doc, scope)  # the kubelet takes the last of a repeated name
        return seconds, f"{where}.env", problem
    if env_from is None:
        return SHUTDOWN_DEFAULTS[name], f"{where}.env", None
    if not isinstance(env_from, list):
        return None, f"{where}.envFrom", f"{env_from!r} is not a list: the gate cannot read whether it sets {name}"
    found = _from_env_from(env_from, name, doc, scope)
    if found is None:
        return SHUTDOWN_DEFAULTS[name], f"{where}.envFrom", None
    raw, problem = found
    seconds, problem = (None, problem) if problem else _env_seconds(name, raw)
    return seconds, f"{where}.envFrom", problem


def _exec_sleep(command: object) -> int | None:
    """The seconds of a preStop exec command that is a plain sleep, else None."""
    if not isinstance(command, list) or not all(isinstance(part, str) for part in command):
        return None
    if len(command) == 2 and command[0] in SLEEP_COMMANDS and _ASCII_DIGITS.fullmatch(command[1]):
        return int(command[1])
    if len(command) == 3 and command[0] in SHELLS and command[1] == "-c":
        match = _SHELL_SLEEP.fullmatch(command[2].strip())
        return int(match[1]) if match else None
    return None


def _prestop(container: dict, where: str) -> tuple[int | None, str, str | None]:
    """(seconds, field, problem) of the container's preStop hook: how long it keeps the pod serving."""
    lifecycle = container.get("lifecycle")
    if lifecycle is None:
        return 0, f"{where}.lifecycle", None
    if not isinstance(lifecycle, dict):
        return None, f"{where}.lifecycle", f"{lifecycle!r} is not a mapping: the gate cannot read the preStop duration"
    field = f"{where}.lifecycle.preStop"
    prestop = lifecycle.get("preStop")
    if prestop is None or prestop == {}:
        return 0, field, None
    if not isinstance(prestop, dict):
        return None, field, f"{prestop!r} is not a mapping: the gate cannot read the preStop duration"
    if len(prestop) > 1:
        return None, field, f"{sorted(prestop)}: a preStop hook has one handler (the API server refuses more)"
    ((handler, action),) = prestop.items()
    if handler == "sleep":
        if not isinstance(action, dict):
            return None, f"{field}.sleep", f"{action!r} is not a mapping: the gate cannot read the preStop duration"
        seconds, problem = _seconds(action.get("seconds"))
        return seconds, f"{field}.sleep.seconds", problem
    if handler == "exec":
        command = action.get("command") if isinstance(action, dict) else None
        seconds = _exec_sleep(command)
        problem = f"exec {command!r} is not a plain sleep: the gate cannot read the preStop duration; use sleep"
        return seconds, f"{field}.exec.command", None if seconds is not None else problem
    return None, field, f"a {handler} hook: the gate cannot read the preStop duration; use sleep (seconds)"


def _app_containers(doc: Doc, scope: Scope) -> Iterator[tuple[dict, str]]:
    """The long-running containers that run the app's image (gitops.yaml image, GO156's rule); every one
    when the image is not configured."""
    repository = scope.context.image
    for container, where in _long_running(doc):
        if not repository or runs_repository(container.get("image"), repository):
            yield container, where


@check("GO161", "shutdown-budget")
def shutdown_budget(doc: Doc, scope: Scope) -> Iterator[Outcome]:
    """A pod of the app's image being stopped keeps serving for its preStop sleep while load
    balancers stop sending, serves DRAIN_SECONDS more after SIGTERM, then gives in-flight requests
    GRACEFUL_TIMEOUT: when terminationGracePeriodSeconds is shorter than their sum (plus 2 s), the
    kubelet kills the server in the middle of requests. An overlay that lengthens one lengthens the
    grace period. What the gate cannot read (a Secret, a hook other than a plain sleep, a value that
    is no whole number of seconds) is refused."""
    pod = pod_of(doc) if doc.kind in WORKLOAD_KINDS else None
    if pod is None:
        return
    spec, _labels, prefix = pod
    app = list(_app_containers(doc, scope))
    if not app:
        return
    raw_grace = spec.get("terminationGracePeriodSeconds")
    grace, grace_problem = (DEFAULT_GRACE, None) if raw_grace is None else _seconds(raw_grace)
    if grace_problem:
        yield Outcome(f"{prefix}.terminationGracePeriodSeconds", grace_problem)
    for container, where in app:
        problems: dict[str, list[str]] = {}
        seconds, field, problem = _prestop(container, where)
        parts = {"preStop sleep": seconds}
        if problem:
            problems.setdefault(field, []).append(problem)
        for name in SHUTDOWN_DEFAULTS:
            parts[name], field, problem = _setting(container, where, name, doc, scope)
            if problem:
                problems.setdefault(field, []).append(problem)
        for field, found in problems.items():
            yield Outcome(field, "; ".join(found))
        if problems or grace is None:
            continue
        need = sum(parts.values()) + SHUTDOWN_MARGIN
        terms = " + ".join(f"{k} {v}" for k, v in parts.items())
        problem = f"{grace} s is less than {terms} + {SHUTDOWN_MARGIN} s of margin = {need} s ({where})"
        yield Outcome(f"{prefix}.terminationGracePeriodSeconds", None if grace >= need else problem)
