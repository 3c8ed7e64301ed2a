"""Access: RBAC that grants no wildcards and no cluster-admin, and no Secrets in Git."""

from __future__ import annotations

from collections.abc import Iterator

from .registry import Doc, Outcome, Scope, check

ROLE_KINDS = {"Role", "ClusterRole"}
BINDING_KINDS = {"RoleBinding", "ClusterRoleBinding"}
# The rule fields where `*` grants everything there is, now and in future versions.
WILDCARD_RULE_FIELDS = ("verbs", "resources", "nonResourceURLs")
# Roles nobody in this repository binds: each one grants the whole cluster.
FORBIDDEN_ROLES = {"cluster-admin"}


@check("GO132", "rbac-wildcard")
def rbac_wildcard(doc: Doc, scope: Scope) -> Iterator[Outcome]:
    """A `*` in a Role's verbs or resources grants everything, including what later
    Kubernetes versions add (escalate, bind, impersonate, every Secret): name each one."""
    if doc.kind not in ROLE_KINDS:
        return
    for i, rule in enumerate(doc.body.get("rules") or []):
        for key in WILDCARD_RULE_FIELDS:
            values = [str(v) for v in rule.get(key) or []]
            wild = [v for v in values if "*" in v]
            if values:
                yield Outcome(
                    f"rules[{i}].{key}", f"wildcard {wild} grants everything; list each one" if wild else None
                )


@check("GO133", "rbac-cluster-admin")
def rbac_cluster_admin(doc: Doc, scope: Scope) -> Iterator[Outcome]:
    """A binding to cluster-admin gives its subjects every permission on the cluster; the
    app needs none of them."""
    if doc.kind not in BINDING_KINDS:
        return
    role = (doc.body.get("roleRef") or {}).get("name")
    yield Outcome("roleRef.name", f"binds {role!r}" if role in FORBIDDEN_ROLES else None)


@check("GO140", "no-secrets")
def no_secrets(doc: Doc, scope: Scope) -> Iterator[Outcome]:
    """A Secret in Git is readable by everyone who can read the repository, for ever
    (history keeps it): secrets come from a secret store at run time, never from Git."""
    if doc.kind == "Secret" and str(doc.body.get("apiVersion", "v1")) == "v1":
        yield Outcome("kind", "a Secret in Git; use the secret store (External Secrets, Sealed Secrets)")
