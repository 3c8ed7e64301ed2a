"""AppProjects: the boundary of what Argo CD may sync, so no wildcards and no new ones unreviewed."""

from __future__ import annotations

from collections.abc import Iterator

from ..repo import ADDONS_PROJECT
from .registry import Doc, Outcome, Scope, check

# The AppProject fields where a `*` (or any glob) widens the project to everything.
WILDCARD_FIELDS = (
    "sourceRepos[*]",
    "sourceNamespaces[*]",
    "destinations[*].server",
    "destinations[*].name",
    "destinations[*].namespace",
    "clusterResourceWhitelist[*].group",
    "clusterResourceWhitelist[*].kind",
    "namespaceResourceWhitelist[*].group",
    "namespaceResourceWhitelist[*].kind",
)


def _values(spec: dict, path: str) -> Iterator[tuple[str, object]]:
    """(field, value) for a ``key[*]`` or ``key[*].sub`` path, items named by index."""
    head, _, rest = path.partition(".")
    key = head.removesuffix("[*]")
    for i, item in enumerate(spec.get(key) or []):
        if rest:
            yield f"spec.{key}[{i}].{rest}", (item or {}).get(rest) if isinstance(item, dict) else None
        else:
            yield f"spec.{key}[{i}]", item


@check("GO141", "appproject-wildcard")
def appproject_wildcard(doc: Doc, scope: Scope) -> Iterator[Outcome]:
    """An AppProject with `*` in its source repositories, destinations or resource
    whitelists lets any Application in it deploy anything from anywhere to anywhere,
    kube-system and cluster-scoped RBAC included."""
    if doc.kind != "AppProject":
        return
    spec = doc.body.get("spec") or {}
    for path in WILDCARD_FIELDS:
        for where, value in _values(spec, path):
            if value is not None:
                yield Outcome(where, f"{value!r} is a wildcard; name each one" if "*" in str(value) else None)


@check("GO142", "appproject-blacklist")
def appproject_blacklist(doc: Doc, scope: Scope) -> Iterator[Outcome]:
    """An AppProject names the namespaced kinds it never syncs (namespaceResourceBlacklist:
    RBAC, Secrets), so widening its whitelist later cannot quietly let them in."""
    if doc.kind != "AppProject":
        return
    blacklist = (doc.body.get("spec") or {}).get("namespaceResourceBlacklist")
    yield Outcome("spec.namespaceResourceBlacklist", None if blacklist else "missing or empty")


@check("GO143", "appproject-reviewed")
def appproject_reviewed(doc: Doc, scope: Scope) -> Iterator[Outcome]:
    """An AppProject is the boundary of what its Applications may do, and a new one moves
    that boundary: only the reviewed projects (gitops.yaml reviewedAppProjects) exist."""
    if doc.kind != "AppProject":
        return
    reviewed = scope.context.reviewed_projects
    problem = f"{doc.name!r} is not in gitops.yaml reviewedAppProjects ({', '.join(sorted(reviewed)) or 'none'})"
    yield Outcome("metadata.name", None if doc.name in reviewed else problem)


# Kinds no AppProject may let Git create: they change who may do what, or which projects exist.
NEVER_WHITELISTED = {
    ("rbac.authorization.k8s.io", "Role"),
    ("rbac.authorization.k8s.io", "RoleBinding"),
    ("rbac.authorization.k8s.io", "ClusterRole"),
    ("rbac.authorization.k8s.io", "ClusterRoleBinding"),
    ("argoproj.io", "AppProject"),
    ("", "Secret"),
}


@check("GO158", "appproject-impersonation")
def appproject_impersonation(doc: Doc, scope: Scope) -> Iterator[Outcome]:
    """Argo CD syncs as a service account of each destination, never as its own cluster
    admin: an AppProject with destinations names the service account for each of them
    (`destinationServiceAccounts`, no `*` namespace), and its whitelists never let Git
    create RBAC objects, AppProjects or Secrets; but the addons project may list the
    add-ons' own bindings and roles (by name when cluster-scoped: GO168)."""
    if doc.kind != "AppProject":
        return
    spec = doc.body.get("spec") or {}
    if spec.get("destinations"):
        accounts = spec.get("destinationServiceAccounts") or []
        yield Outcome(
            "spec.destinationServiceAccounts", None if accounts else "missing: syncs would run as Argo CD itself"
        )
        for i, account in enumerate(accounts):
            namespace = str((account or {}).get("namespace", "")) if isinstance(account, dict) else ""
            problem = f"namespace {namespace!r} matches every namespace" if namespace in ("", "*") else None
            yield Outcome(f"spec.destinationServiceAccounts[{i}].namespace", problem)
    reviewed = {r for a in scope.context.addons for r in a.resources} if doc.name == ADDONS_PROJECT else set()
    for key in ("clusterResourceWhitelist", "namespaceResourceWhitelist"):
        for i, item in enumerate(spec.get(key) or []):
            if not isinstance(item, dict):
                continue
            kind = (str(item.get("group", "")), str(item.get("kind", "")))
            wild = "*" in kind[0] or "*" in kind[1]
            if key == "clusterResourceWhitelist":
                addon = any((r.group, r.kind, r.name, "") == (*kind, item.get("name"), r.namespace) for r in reviewed)
            else:
                addon = any((r.group, r.kind) == kind and r.namespace for r in reviewed)
            problem = (
                f"{kind[1]} ({kind[0] or 'core'}) may never come from Git"
                if (kind in NEVER_WHITELISTED and not addon) or wild
                else None
            )
            yield Outcome(f"spec.{key}[{i}]", problem)
