"""Namespaces: nothing in `default` or the system namespaces, no Namespace objects, restricted Pod Security."""

from __future__ import annotations

from collections.abc import Iterator

from ..repo import ADDONS_PROJECT
from .addons import addon_application, is_reviewed_deployer
from .applications import applications
from .objects import CLUSTER_SCOPED
from .registry import Doc, Outcome, Scope, check


@check("GO118", "no-default-namespace")
def no_default_namespace(doc: Doc, scope: Scope) -> Iterator[Outcome]:
    """Resources in `default` bypass the namespace's policies and quotas."""
    if doc.kind in CLUSTER_SCOPED or not doc.kind:
        return
    problem = None
    if doc.namespace in (None, "", "default"):
        problem = "resolves to 'default'" if not doc.namespace else "is 'default'"
    yield Outcome("metadata.namespace", problem)


# Namespaces the cluster's own components live in: nothing of this repository goes there.
SYSTEM_NAMESPACES = {"kube-system", "kube-public", "kube-node-lease"}


@check("GO134", "system-namespaces")
def system_namespaces(doc: Doc, scope: Scope) -> Iterator[Outcome]:
    """kube-system, kube-public and kube-node-lease belong to the cluster itself: a binding,
    workload or Application there runs with the control plane's privileges or is readable
    by everyone. The one exception is a cluster add-on's own (repo.py ADDONS, pinned by
    GO162-GO168): its Applications and project, and its deployer's Role and RoleBinding
    as reviewed (GO169)."""
    addon_namespaces = {a.namespace for a in scope.context.addons}
    deployer = doc.kind in ("Role", "RoleBinding") and is_reviewed_deployer(doc.body)
    if doc.kind not in CLUSTER_SCOPED and doc.kind and doc.namespace is not None:
        system = doc.namespace in SYSTEM_NAMESPACES and not (deployer and doc.namespace in addon_namespaces)
        yield Outcome("metadata.namespace", f"is {doc.namespace!r}" if system else None)
    for spec, where, label, _ in applications(doc, scope):
        destination = spec.get("destination")
        ns = destination.get("namespace") if isinstance(destination, dict) else None
        ns = ns if isinstance(ns, str) else str(ns)
        addon = addon_application(spec, scope)
        system = ns in SYSTEM_NAMESPACES and not (addon and ns == addon.namespace)
        yield Outcome(f"{where}.destination.namespace", f"deploys into {ns!r}{label}" if system else None)
    if doc.kind == "AppProject":
        addons = doc.name == ADDONS_PROJECT
        spec = doc.body.get("spec")
        destinations = spec.get("destinations") if isinstance(spec, dict) else None
        for i, dest in enumerate(destinations if isinstance(destinations, list) else []):
            ns = dest.get("namespace") if isinstance(dest, dict) else None
            ns = ns if isinstance(ns, str) else str(ns)  # a list or mapping is no namespace (the schema says so)
            system = ns in SYSTEM_NAMESPACES and not (addons and ns in addon_namespaces)
            yield Outcome(f"spec.destinations[{i}].namespace", f"allows {ns!r}" if system else None)


@check("GO138", "no-namespace-objects")
def no_namespace_objects(doc: Doc, scope: Scope) -> Iterator[Outcome]:
    """Argo CD creates the app's namespaces with the restricted Pod Security labels
    (managedNamespaceMetadata); a Namespace object in Git can relabel one to privileged, or
    take over a namespace the app does not own."""
    if doc.kind == "Namespace":
        yield Outcome("kind", "a Namespace in Git; namespaces come from the Application's managedNamespaceMetadata")


PSS_PREFIX = "pod-security.kubernetes.io/"
PSS_MODES = ("enforce", "audit", "warn")
PSS_LEVEL = "restricted"


def _pss_labels(labels: dict, where: str, require_enforce: bool) -> Iterator[Outcome]:
    for mode in PSS_MODES:
        key = PSS_PREFIX + mode
        version = labels.get(f"{key}-version")
        if version is not None:
            problem = f"{version!r} pins an older standard: use 'latest'" if version != "latest" else None
            yield Outcome(f"{where}.{key}-version", problem)
        if key in labels:
            value = labels[key]
            problem = f"{value!r} is weaker than {PSS_LEVEL!r}" if value != PSS_LEVEL else None
            yield Outcome(f"{where}.{key}", problem)
        elif mode == "enforce" and require_enforce:
            yield Outcome(f"{where}.{key}", f"missing: the namespace would admit privileged pods (set {PSS_LEVEL!r})")


@check("GO139", "pod-security-labels")
def pod_security_labels(doc: Doc, scope: Scope) -> Iterator[Outcome]:
    """Every namespace the app runs in enforces the restricted Pod Security Standard: a
    namespace created without the label, or labelled baseline or privileged, admits pods
    that can take over their node."""
    if doc.kind == "Namespace":
        labels = (doc.body.get("metadata") or {}).get("labels") or {}
        yield from _pss_labels(labels, "metadata.labels", require_enforce=True)
    for spec, where, label, _ in applications(doc, scope):
        sync = spec.get("syncPolicy") or {}
        creates = "CreateNamespace=true" in (sync.get("syncOptions") or [])
        labels = (sync.get("managedNamespaceMetadata") or {}).get("labels") or {}
        if creates or labels:
            for outcome in _pss_labels(labels, f"{where}.syncPolicy.managedNamespaceMetadata.labels", creates):
                yield outcome._replace(problem=outcome.problem and outcome.problem + label)
