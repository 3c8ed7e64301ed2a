"""Policy checks over rendered manifests: what schemas cannot see.

Each policy has a stable id, a one-line message naming the file, resource and field,
and a reason (shown by `gitops validate --list-policies` and in the README).
"""

from __future__ import annotations

import fnmatch
import ipaddress
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

POLICIES: dict[str, tuple[str, str]] = {
    "GO101": (
        "probes-present",
        "Without a readiness probe a pod gets traffic before it can serve; "
        "without a liveness probe a wedged process is never restarted.",
    ),
    "GO102": (
        "probes-distinct",
        "Liveness and readiness mean different things: a failing dependency "
        "should take a pod out of the Service, not restart it.",
    ),
    "GO103": (
        "startup-probe",
        "Long initialDelaySeconds slow every rollout; a startupProbe covers slow "
        "starts and lets fast starts be Ready at once.",
    ),
    "GO104": (
        "resources",
        "Requests let the scheduler place pods and the HPA compute utilization; "
        "limits keep one pod from starving its node.",
    ),
    "GO105": (
        "hpa-cpu-request",
        "A CPU-utilization HPA divides usage by the CPU request: without one it cannot scale.",
    ),
    "GO106": ("hpa-target", "An HPA whose target is not in the same render scales nothing."),
    "GO107": (
        "hpa-no-replicas",
        "spec.replicas on an HPA-scaled Deployment makes every sync reset the "
        "replica count and Argo CD report OutOfSync forever.",
    ),
    "GO108": (
        "service-selector",
        "A Service whose selector matches no pod template has no endpoints.",
    ),
    "GO109": (
        "service-port",
        "A targetPort that names or numbers no container port sends traffic nowhere.",
    ),
    "GO110": ("probe-port", "A probe on an undeclared port fails forever."),
    "GO111": (
        "netpol-selects",
        "A NetworkPolicy that selects no workload protects nothing (usually a label typo).",
    ),
    "GO112": (
        "netpol-cidr",
        "An invalid ipBlock CIDR is rejected by the API server or, worse, silently means something else.",
    ),
    "GO113": (
        "netpol-default-deny",
        "Without a default-deny policy, every pod the app policy does not select is open.",
    ),
    "GO114": (
        "pss-restricted",
        "The restricted Pod Security Standard is enforced on the app's "
        "namespaces: a pod that breaks it is rejected at admission.",
    ),
    "GO115": (
        "read-only-root",
        "A read-only root filesystem stops an attacker from changing the image at run time.",
    ),
    "GO116": (
        "image-tag",
        "`:latest` or no tag at all makes what runs depend on when a node pulled.",
    ),
    "GO117": (
        "image-digest",
        "Production runs exactly the bytes that were tested: pinned by digest.",
    ),
    "GO118": (
        "no-default-namespace",
        "Resources in `default` bypass the namespace's policies and quotas.",
    ),
    "GO119": ("sa-token", "A pod that never calls the Kubernetes API should not carry a token."),
    "GO120": ("argocd-project", "An Application in a missing project never syncs."),
    "GO121": (
        "argocd-destination",
        "The AppProject must allow the destination, or Argo CD refuses to sync.",
    ),
    "GO122": ("argocd-source-repo", "The AppProject must allow the source repository."),
    "GO123": (
        "argocd-path",
        "A source path that does not exist in the repository renders nothing.",
    ),
    "GO124": (
        "appset-generator",
        "An ApplicationSet generator that matches no directory creates no Application (and deletes the ones it made).",
    ),
}

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


@dataclass(frozen=True)
class Finding:
    id: str
    file: str
    resource: str
    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.id} {self.file}: {self.resource}: {self.field}: {self.message}"


@dataclass
class Doc:
    source: str  # the target (kustomization folder or file) it was rendered from
    body: dict
    environment: str | None = None

    @property
    def kind(self) -> str:
        return str(self.body.get("kind", ""))

    @property
    def name(self) -> str:
        return str((self.body.get("metadata") or {}).get("name", ""))

    @property
    def namespace(self) -> str | None:
        return (self.body.get("metadata") or {}).get("namespace")

    @property
    def ref(self) -> str:
        return f"{self.kind}/{self.name}"


@dataclass
class Context:
    """What the repository-level checks need to know."""

    root: Path
    digest_required: set[str] = field(default_factory=set)
    projects: dict[str, dict] = field(default_factory=dict)  # AppProjects of the whole run


@dataclass
class Result:
    findings: list[Finding] = field(default_factory=list)
    checks: int = 0


Check = Callable[[Doc, list[Doc], Context, Result], None]


def _fail(result: Result, pid: str, doc: Doc, where: str, message: str) -> None:
    result.findings.append(Finding(pid, doc.source, doc.ref, where, message))


def _pod(doc: Doc) -> tuple[dict, dict, str] | None:
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


def _containers(spec: dict, prefix: str) -> Iterator[tuple[dict, str, bool]]:
    """(container, field path, is_long_running) for every container of a pod spec."""
    for key in ("initContainers", "containers"):
        for container in spec.get(key) or []:
            name = container.get("name", "?")
            yield container, f"{prefix}.{key}[{name}]", key == "containers"


def _ports(spec: dict) -> tuple[set[str], set[int]]:
    names, numbers = set(), set()
    for container in spec.get("containers") or []:
        for port in container.get("ports") or []:
            if port.get("name"):
                names.add(str(port["name"]))
            if port.get("containerPort") is not None:
                numbers.add(int(port["containerPort"]))
    return names, numbers


def _port_ok(port: object, names: set[str], numbers: set[int]) -> bool:
    if isinstance(port, int):
        return port in numbers
    if isinstance(port, str):
        return int(port) in numbers if port.isdigit() else port in names
    return False


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


def _selects(selector: dict | None, labels: dict) -> bool:
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


# --- workload checks ----------------------------------------------------------
def check_probes(doc: Doc, docs: list[Doc], ctx: Context, result: Result) -> None:
    if doc.kind not in WORKLOAD_KINDS:
        return
    spec, _, prefix = _pod(doc)
    names, numbers = _ports(spec)
    for container, where, long_running in _containers(spec, prefix):
        if not long_running:
            continue
        result.checks += 4
        live, ready = container.get("livenessProbe"), container.get("readinessProbe")
        for probe_name, probe in (("livenessProbe", live), ("readinessProbe", ready)):
            if not probe:
                _fail(result, "GO101", doc, f"{where}.{probe_name}", "missing")
        if live and ready and _probe_target(live) == _probe_target(ready):
            _fail(
                result,
                "GO102",
                doc,
                f"{where}.readinessProbe",
                f"same check as livenessProbe {_probe_target(live)}; use a separate readiness endpoint",
            )
        for probe_name in ("startupProbe", "livenessProbe", "readinessProbe"):
            probe = container.get(probe_name)
            if not probe:
                continue
            delay = int(probe.get("initialDelaySeconds", 0))
            if delay > 10 and probe_name != "startupProbe":
                _fail(
                    result,
                    "GO103",
                    doc,
                    f"{where}.{probe_name}.initialDelaySeconds",
                    f"{delay}s delay; use a startupProbe instead of long initial delays",
                )
            for kind in ("httpGet", "tcpSocket", "grpc"):
                if kind in probe and not _port_ok(probe[kind].get("port"), names, numbers):
                    _fail(
                        result,
                        "GO110",
                        doc,
                        f"{where}.{probe_name}.{kind}.port",
                        f"port {probe[kind].get('port')!r} is not a declared container port",
                    )


def check_resources(doc: Doc, docs: list[Doc], ctx: Context, result: Result) -> None:
    pod = _pod(doc)
    if pod is None:
        return
    spec, _, prefix = pod
    for container, where, _ in _containers(spec, prefix):
        resources = container.get("resources") or {}
        for section in ("requests", "limits"):
            for resource in ("cpu", "memory"):
                result.checks += 1
                if resource not in (resources.get(section) or {}):
                    _fail(result, "GO104", doc, f"{where}.resources.{section}.{resource}", "not set")


def check_pod_security(doc: Doc, docs: list[Doc], ctx: Context, result: Result) -> None:
    pod = _pod(doc)
    if pod is None:
        return
    spec, _, prefix = pod
    pod_sc = spec.get("securityContext") or {}
    result.checks += 1
    for host in ("hostNetwork", "hostPID", "hostIPC"):
        if spec.get(host):
            _fail(result, "GO114", doc, f"{prefix}.{host}", "must not be true")
    for volume in spec.get("volumes") or []:
        if "hostPath" in volume:
            _fail(
                result,
                "GO114",
                doc,
                f"{prefix}.volumes[{volume.get('name')}].hostPath",
                "not allowed",
            )
    if pod_sc.get("runAsUser") == 0:
        _fail(result, "GO114", doc, f"{prefix}.securityContext.runAsUser", "must not be 0")
    result.checks += 1
    if spec.get("automountServiceAccountToken") is not False:
        _fail(result, "GO119", doc, f"{prefix}.automountServiceAccountToken", "must be false")
    pod_seccomp = (pod_sc.get("seccompProfile") or {}).get("type")
    for container, where, _ in _containers(spec, prefix):
        sc = container.get("securityContext") or {}
        result.checks += 6
        if sc.get("allowPrivilegeEscalation") is not False:
            _fail(
                result,
                "GO114",
                doc,
                f"{where}.securityContext.allowPrivilegeEscalation",
                "must be false",
            )
        if sc.get("privileged"):
            _fail(result, "GO114", doc, f"{where}.securityContext.privileged", "must not be true")
        drops = [str(c) for c in (sc.get("capabilities") or {}).get("drop") or []]
        if "ALL" not in drops:
            _fail(
                result,
                "GO114",
                doc,
                f"{where}.securityContext.capabilities.drop",
                "must include ALL",
            )
        adds = [str(c) for c in (sc.get("capabilities") or {}).get("add") or []]
        if set(adds) - {"NET_BIND_SERVICE"}:
            _fail(
                result,
                "GO114",
                doc,
                f"{where}.securityContext.capabilities.add",
                f"only NET_BIND_SERVICE may be added, not {sorted(set(adds) - {'NET_BIND_SERVICE'})}",
            )
        if sc.get("runAsNonRoot", pod_sc.get("runAsNonRoot")) is not True:
            _fail(
                result,
                "GO114",
                doc,
                f"{where}.securityContext.runAsNonRoot",
                "must be true (here or in the pod securityContext)",
            )
        if sc.get("runAsUser") == 0:
            _fail(result, "GO114", doc, f"{where}.securityContext.runAsUser", "must not be 0")
        seccomp = (sc.get("seccompProfile") or {}).get("type", pod_seccomp)
        if seccomp not in {"RuntimeDefault", "Localhost"}:
            _fail(
                result,
                "GO114",
                doc,
                f"{where}.securityContext.seccompProfile.type",
                "must be RuntimeDefault or Localhost (here or in the pod securityContext)",
            )
        if sc.get("readOnlyRootFilesystem") is not True:
            _fail(
                result,
                "GO115",
                doc,
                f"{where}.securityContext.readOnlyRootFilesystem",
                "must be true",
            )


_DIGEST = re.compile(r"@sha256:[0-9a-f]{64}$")


def check_images(doc: Doc, docs: list[Doc], ctx: Context, result: Result) -> None:
    pod = _pod(doc)
    if pod is None:
        return
    spec, _, prefix = pod
    for container, where, _ in _containers(spec, prefix):
        image = str(container.get("image", ""))
        result.checks += 2
        has_digest = bool(_DIGEST.search(image))
        name_part = image.split("@")[0]
        last = name_part.rsplit("/", 1)[-1]
        tag = last.split(":", 1)[1] if ":" in last else None
        if tag == "latest":
            _fail(result, "GO116", doc, f"{where}.image", f"{image!r} uses :latest")
        elif tag is None and not has_digest:
            _fail(result, "GO116", doc, f"{where}.image", f"{image!r} has no tag or digest")
        if doc.environment in ctx.digest_required and not has_digest:
            _fail(
                result,
                "GO117",
                doc,
                f"{where}.image",
                f"{image!r} is not pinned by digest ({doc.environment} requires it)",
            )


def check_namespace(doc: Doc, docs: list[Doc], ctx: Context, result: Result) -> None:
    if doc.kind in CLUSTER_SCOPED or not doc.kind:
        return
    result.checks += 1
    if doc.namespace in (None, "", "default"):
        _fail(
            result,
            "GO118",
            doc,
            "metadata.namespace",
            "resolves to 'default'" if not doc.namespace else "is 'default'",
        )


# --- cross-resource checks ----------------------------------------------------
def _same_ns(doc: Doc, docs: list[Doc], kinds: set[str]) -> list[Doc]:
    return [d for d in docs if d.kind in kinds and d.namespace == doc.namespace]


def check_hpa(doc: Doc, docs: list[Doc], ctx: Context, result: Result) -> None:
    if doc.kind != "HorizontalPodAutoscaler":
        return
    spec = doc.body.get("spec") or {}
    ref = spec.get("scaleTargetRef") or {}
    result.checks += 1
    targets = [d for d in _same_ns(doc, docs, {ref.get("kind", "")}) if d.name == ref.get("name")]
    if not targets:
        _fail(
            result,
            "GO106",
            doc,
            "spec.scaleTargetRef",
            f"{ref.get('kind')}/{ref.get('name')} is not in this render",
        )
        return
    target = targets[0]
    result.checks += 1
    if "replicas" in (target.body.get("spec") or {}):
        _fail(
            result,
            "GO107",
            target,
            "spec.replicas",
            f"set, but {doc.ref} owns the replica count; remove it",
        )
    uses_cpu = (
        any((m.get("resource") or {}).get("name") == "cpu" for m in spec.get("metrics") or [])
        or "targetCPUUtilizationPercentage" in spec
    )
    if uses_cpu:
        pod_spec, _, prefix = _pod(target)
        for container, where, _ in _containers(pod_spec, prefix):
            result.checks += 1
            if "cpu" not in ((container.get("resources") or {}).get("requests") or {}):
                _fail(
                    result,
                    "GO105",
                    target,
                    f"{where}.resources.requests.cpu",
                    f"not set, but {doc.ref} scales on CPU utilization",
                )


def check_service(doc: Doc, docs: list[Doc], ctx: Context, result: Result) -> None:
    if doc.kind != "Service":
        return
    spec = doc.body.get("spec") or {}
    selector = spec.get("selector")
    if not selector:
        return  # a selector-less Service (manual endpoints) is allowed
    result.checks += 1
    selected = [
        w
        for w in _same_ns(doc, docs, WORKLOAD_KINDS | {"Pod"})
        if all(_pod(w)[1].get(k) == v for k, v in selector.items())
    ]
    if not selected:
        _fail(
            result,
            "GO108",
            doc,
            "spec.selector",
            f"{selector} matches no pod template in this render",
        )
        return
    for index, port in enumerate(spec.get("ports") or []):
        target = port.get("targetPort", port.get("port"))
        result.checks += 1
        for workload in selected:
            names, numbers = _ports(_pod(workload)[0])
            if not _port_ok(target, names, numbers):
                _fail(
                    result,
                    "GO109",
                    doc,
                    f"spec.ports[{port.get('name', index)}].targetPort",
                    f"{target!r} is not a container port of {workload.ref}",
                )


def _cidrs(spec: dict) -> Iterator[tuple[str, str]]:
    for direction, peer_key in (("ingress", "from"), ("egress", "to")):
        for i, rule in enumerate(spec.get(direction) or []):
            for j, peer in enumerate(rule.get(peer_key) or []):
                block = peer.get("ipBlock")
                if not block:
                    continue
                yield f"spec.{direction}[{i}].{peer_key}[{j}].ipBlock.cidr", str(block.get("cidr"))
                for k, cidr in enumerate(block.get("except") or []):
                    yield f"spec.{direction}[{i}].{peer_key}[{j}].ipBlock.except[{k}]", str(cidr)


def check_network_policy(doc: Doc, docs: list[Doc], ctx: Context, result: Result) -> None:
    if doc.kind != "NetworkPolicy":
        return
    spec = doc.body.get("spec") or {}
    for where, cidr in _cidrs(spec):
        result.checks += 1
        try:
            ipaddress.ip_network(cidr, strict=True)
        except ValueError as exc:
            _fail(result, "GO112", doc, where, f"{cidr!r} is not a valid CIDR ({exc})")
    selector = spec.get("podSelector")
    if selector:  # {} selects every pod: nothing to check
        result.checks += 1
        workloads = _same_ns(doc, docs, WORKLOAD_KINDS | {"Pod"})
        if not any(_selects(selector, _pod(w)[1]) for w in workloads):
            _fail(result, "GO111", doc, "spec.podSelector", f"{selector} selects no workload's pods")


def _is_default_deny(doc: Doc) -> bool:
    spec = doc.body.get("spec") or {}
    return (
        doc.kind == "NetworkPolicy"
        and not (spec.get("podSelector") or {})
        and {"Ingress", "Egress"} <= set(spec.get("policyTypes") or [])
        and not spec.get("ingress")
        and not spec.get("egress")
    )


def check_default_deny(doc: Doc, docs: list[Doc], ctx: Context, result: Result) -> None:
    if doc.kind not in WORKLOAD_KINDS:
        return
    result.checks += 1
    if not any(_is_default_deny(d) for d in _same_ns(doc, docs, {"NetworkPolicy"})):
        _fail(
            result,
            "GO113",
            doc,
            "metadata.namespace",
            f"namespace {doc.namespace or 'default'!r} has no default-deny NetworkPolicy "
            "(podSelector {}, policyTypes Ingress and Egress, no rules)",
        )


# --- Argo CD ----------------------------------------------------------------
def _projects(docs: list[Doc]) -> dict[str, dict]:
    return {d.name: d.body.get("spec") or {} for d in docs if d.kind == "AppProject"}


def _repo_allowed(repo: str, patterns: list[str]) -> bool:
    norm = repo.removesuffix(".git")
    return any(fnmatch.fnmatchcase(norm, p.removesuffix(".git")) or p == "*" for p in patterns)


def _destination_allowed(dest: dict, allowed: list[dict]) -> bool:
    for rule in allowed:
        for key in ("name", "server"):
            if key in rule and key in dest and not fnmatch.fnmatchcase(str(dest[key]), str(rule[key])):
                break
            if key in rule and key not in dest and rule[key] != "*":
                break
        else:
            if fnmatch.fnmatchcase(str(dest.get("namespace", "")), str(rule.get("namespace", "*"))):
                return True
    return False


def _app_spec_checks(
    doc: Doc,
    spec: dict,
    where: str,
    projects: dict[str, dict],
    ctx: Context,
    result: Result,
    label: str = "",
) -> None:
    project = spec.get("project", "default")
    result.checks += 4
    if project not in projects:
        _fail(
            result,
            "GO120",
            doc,
            f"{where}.project",
            f"AppProject {project!r} is not defined{label}",
        )
        return
    proj = projects[project]
    dest = spec.get("destination") or {}
    if not _destination_allowed(dest, proj.get("destinations") or []):
        _fail(
            result,
            "GO121",
            doc,
            f"{where}.destination",
            f"{dest} is not allowed by AppProject {project!r}{label}",
        )
    sources = spec.get("sources") or ([spec["source"]] if spec.get("source") else [])
    for i, source in enumerate(sources):
        repo = str(source.get("repoURL", ""))
        if not _repo_allowed(repo, [str(p) for p in proj.get("sourceRepos") or []]):
            _fail(
                result,
                "GO122",
                doc,
                f"{where}.source[{i}].repoURL",
                f"{repo!r} is not in AppProject {project!r} sourceRepos{label}",
            )
        path = source.get("path")
        if path is not None and not (ctx.root / str(path)).is_dir():
            _fail(
                result,
                "GO123",
                doc,
                f"{where}.source[{i}].path",
                f"{path!r} does not exist in the repository{label}",
            )


_TEMPLATE = re.compile(r"\{\{-?\s*\.([A-Za-z0-9_.]+)\s*-?\}\}")


def _render_template(node: object, params: dict) -> object:
    """Substitute `{{ .a.b }}` references (what this repository's templates use)."""
    if isinstance(node, dict):
        return {k: _render_template(v, params) for k, v in node.items()}
    if isinstance(node, list):
        return [_render_template(v, params) for v in node]
    if isinstance(node, str):

        def sub(match: re.Match) -> str:
            value: object = params
            for part in match.group(1).split("."):
                if not isinstance(value, dict) or part not in value:
                    raise KeyError(match.group(1))
                value = value[part]
            return str(value)

        return _TEMPLATE.sub(sub, node)
    return node


def check_argocd(doc: Doc, docs: list[Doc], ctx: Context, result: Result) -> None:
    if doc.kind == "Application":
        _app_spec_checks(doc, doc.body.get("spec") or {}, "spec", ctx.projects, ctx, result)
    elif doc.kind == "ApplicationSet":
        spec = doc.body.get("spec") or {}
        template = spec.get("template") or {}
        projects = ctx.projects
        for g, generator in enumerate(spec.get("generators") or []):
            git = generator.get("git")
            if not git:
                continue
            for kind in ("files", "directories"):
                for k, entry in enumerate(git.get(kind) or []):
                    pattern = str(entry.get("path", ""))
                    matches = sorted(ctx.root.glob(pattern))
                    matches = [m for m in matches if (m.is_file() if kind == "files" else m.is_dir())]
                    result.checks += 1
                    where = f"spec.generators[{g}].git.{kind}[{k}].path"
                    if entry.get("exclude"):
                        continue
                    if not matches:
                        _fail(
                            result,
                            "GO124",
                            doc,
                            where,
                            f"{pattern!r} matches nothing in the repository",
                        )
                        continue
                    for match in matches:
                        _appset_element(doc, template, match, kind, projects, ctx, result)


def _appset_element(
    doc: Doc, template: dict, match: Path, kind: str, projects: dict, ctx: Context, result: Result
) -> None:
    import yaml

    folder = match.parent if kind == "files" else match
    rel = folder.relative_to(ctx.root).as_posix()
    params: dict = {"path": {"path": rel, "basename": folder.name}}
    if kind == "files":
        params.update(yaml.safe_load(match.read_text()) or {})
    label = f" (for {match.relative_to(ctx.root).as_posix()})"
    try:
        spec = _render_template(template.get("spec") or {}, params)
    except KeyError as exc:
        _fail(
            result,
            "GO124",
            doc,
            "spec.template",
            f"template uses missing key .{exc.args[0]}{label}",
        )
        return
    _app_spec_checks(doc, spec, "spec.template.spec", projects, ctx, result, label)


CHECKS: list[Check] = [
    check_probes,
    check_resources,
    check_pod_security,
    check_images,
    check_namespace,
    check_hpa,
    check_service,
    check_network_policy,
    check_default_deny,
    check_argocd,
]


def run(docs: Iterable[Doc], ctx: Context) -> Result:
    """Run every check; cross-resource checks look only within the same render."""
    docs = list(docs)
    ctx.projects = _projects(docs)
    groups: dict[str, list[Doc]] = {}
    for doc in docs:
        groups.setdefault(doc.source, []).append(doc)
    result = Result()
    for group in groups.values():
        for doc in group:
            for check in CHECKS:
                check(doc, group, ctx, result)
    return result
