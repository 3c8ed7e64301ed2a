"""Access: RBAC that grants no wildcards and no cluster-admin, and no Secrets in Git."""

from __future__ import annotations

from collections.abc import Iterator

from ..repo import ADDONS_DEPLOYER_ROLE, RBAC
from .registry import Doc, Outcome, Scope, check

ROLE_KINDS = {"Role", "ClusterRole"}
BINDING_KINDS = {"RoleBinding", "ClusterRoleBinding"}
# The rule fields where `*` grants everything there is, now and in future versions.
WILDCARD_RULE_FIELDS = ("verbs", "resources", "nonResourceURLs")
# Roles nobody in this repository binds: each one grants the whole cluster.
FORBIDDEN_ROLES = {"cluster-admin", "admin", "edit"}
# Verbs that grant more than they name: create bindings to any role, edit a role beyond
# one's own rights, act as another user, group or service account.
PRIVILEGE_VERBS = ("escalate", "bind", "impersonate")
# Resources that are credentials or a shell: reading or creating them is taking over.
SENSITIVE_RESOURCES = {
    "secrets", "serviceaccounts/token", "pods/exec", "pods/attach", "pods/portforward", "nodes/proxy",
    "certificatesigningrequests/approval", "tokenrequests", "tokenreviews",
}  # fmt: skip
# Subjects that stand for everyone (signed in or not), or every service account.
BROAD_SUBJECTS = {
    ("Group", "system:authenticated"),
    ("Group", "system:unauthenticated"),
    ("Group", "system:serviceaccounts"),
    ("User", "system:anonymous"),
    ("Group", "system:nodes"),
}


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
    """A binding to cluster-admin (or the built-in admin and edit roles) gives its subjects
    every permission on the cluster or namespace; the app needs none of them. A binding may
    name only a role written beside it, whose rules the gate reads."""
    if doc.kind not in BINDING_KINDS:
        return
    ref = doc.body.get("roleRef") or {}
    role = ref.get("name")
    if role in FORBIDDEN_ROLES:
        yield Outcome("roleRef.name", f"binds {role!r}")
        return
    # Only a role written beside the binding, whose rules the gate has read (GO132, GO152).
    defined = {d.name for d in scope.render if d.kind == ref.get("kind")}
    problem = f"binds {ref.get('kind')} {role!r}, which is not in this render"
    yield Outcome("roleRef.name", None if role in defined else problem)


@check("GO140", "no-secrets")
def no_secrets(doc: Doc, scope: Scope) -> Iterator[Outcome]:
    """A Secret in Git is readable by everyone who can read the repository, for ever
    (history keeps it): secrets come from a secret store at run time, never from Git."""
    if doc.kind == "Secret" and str(doc.body.get("apiVersion", "v1")) == "v1":
        yield Outcome("kind", "a Secret in Git; use the secret store (External Secrets, Sealed Secrets)")


@check("GO152", "rbac-privilege")
def rbac_privilege(doc: Doc, scope: Scope) -> Iterator[Outcome]:
    """RBAC that escalates: the `escalate`, `bind` and `impersonate` verbs let a subject
    give itself any permission; a role that aggregates others, or adds itself to a built-in
    role, grants what it does not list; a binding to `system:authenticated`,
    `system:unauthenticated`, `system:anonymous`, `system:nodes` or every service account
    grants a role to everyone. One exception: the add-ons' deployer role may `bind` the
    roles the add-ons' bindings name (repo.py ADDONS), listed by resourceNames."""
    if doc.kind in ROLE_KINDS:
        if doc.body.get("aggregationRule"):
            yield Outcome("aggregationRule", "gathers the rules of other roles, cluster-admin's among them")
        labels = (doc.body.get("metadata") or {}).get("labels") or {}
        for key in sorted(str(k) for k in labels if str(k).startswith("rbac.authorization.k8s.io/aggregate-to-")):
            yield Outcome(f"metadata.labels.{key}", "adds these rules to a built-in role everyone is bound to")
        for i, rule in enumerate(doc.body.get("rules") or []):
            verbs = [str(v) for v in (rule or {}).get("verbs") or [] if str(v).lower() in PRIVILEGE_VERBS]
            if verbs and _addon_binding(doc, rule, scope):
                verbs = []
            yield Outcome(f"rules[{i}].verbs", f"{verbs} grants more than it names" if verbs else None)
            sensitive = sorted({str(r) for r in (rule or {}).get("resources") or []} & SENSITIVE_RESOURCES)
            yield Outcome(f"rules[{i}].resources", f"{sensitive}: credentials or a shell" if sensitive else None)
    elif doc.kind in BINDING_KINDS:
        for i, subject in enumerate(doc.body.get("subjects") or []):
            if not isinstance(subject, dict):
                continue
            kind, name = str(subject.get("kind", "")), str(subject.get("name", ""))
            broad = (kind, name) in BROAD_SUBJECTS or (kind == "Group" and name.startswith("system:serviceaccounts:"))
            yield Outcome(f"subjects[{i}]", f"{kind} {name!r} is everyone of its kind" if broad else None)


def _addon_binding(doc: Doc, rule: object, scope: Scope) -> bool:
    """Is ``rule`` the add-ons' deployer's `bind` of roles the add-ons bind, each by name?"""
    if doc.name != ADDONS_DEPLOYER_ROLE or not isinstance(rule, dict):
        return False
    kinds = {"roles": "Role", "clusterroles": "ClusterRole"}
    resources = [str(r) for r in rule.get("resources") or []]
    names = [str(n) for n in rule.get("resourceNames") or []]
    binds = {b for a in scope.context.addons for b in a.binds}
    return (
        rule.get("verbs") == ["bind"]
        and rule.get("apiGroups") == [RBAC]
        and bool(resources)
        and bool(names)
        and all(r in kinds for r in resources)
        and all((kinds[r], n) in binds for r in resources for n in names)
    )
