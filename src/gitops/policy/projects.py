"""AppProjects: the boundary of what Argo CD may sync, so no wildcards and no new ones unreviewed."""

from __future__ import annotations

from collections.abc import Iterator

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
