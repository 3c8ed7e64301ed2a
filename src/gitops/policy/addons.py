"""Cluster add-ons (Metrics Server): what they render is pinned, and so is how Argo CD syncs them.

An add-on is not the app: it lives in kube-system, binds built-in roles, registers an
APIService, and comes from upstream as it is. The app's rules do not fit it, so the runner
gives what an add-on folder renders to these checks only (policy/registry.py), and these
are stricter: the exact objects, each with the digest of its reviewed rendering
(``repo.Addon.reviewed``), the pinned image, and the APIService wired to the add-on's
Service. Around it, the Argo CD objects that sync it have their reviewed shape: the addons
ApplicationSet, its AppProject and nothing else in that project. Every fact read here is in
the repository model (repo.py ``ADDONS``).
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
import re
from collections.abc import Iterator

from ..repo import (
    ADDONS_APPSET,
    ADDONS_APPSET_SYNC_POLICY,
    ADDONS_DEPLOYER,
    ADDONS_DEPLOYER_REVIEWED,
    ADDONS_DEPLOYER_ROLE,
    ADDONS_DIR,
    ADDONS_PROJECT,
    ADDONS_PROJECT_ROLES,
    ADDONS_SYNC_POLICY,
    Addon,
    Resource,
)
from .registry import INPUT, Doc, Outcome, Scope, check

ADDON_FILE = "AddonFile"  # the kind validate gives each file it finds under addons/
ADDON_EMPTY = "AddonEmptyRender"  # the kind validate gives an add-on render with no document (GO162)
TREE_ONLY = frozenset({("apps", "ReplicaSet"), ("", "Pod")})  # shown by Argo CD, never synced (appproject.yaml)
DIGEST_RE = re.compile(r"@sha256:[0-9a-f]{64}")  # the pinned tag may be pinned by digest too (docs/addons.md)
CLUSTERS_GENERATOR = [{"git": {"files": [{"path": "clusters/*/config.yaml"}]}}]


def resource_of(body: dict) -> Resource:
    meta = body.get("metadata") or {}
    group = str(body.get("apiVersion", "")).rpartition("/")[0]
    return Resource(group, str(body.get("kind", "")), str(meta.get("namespace") or ""), str(meta.get("name", "")))


def rendering_digest(body: dict) -> str:
    """sha256 of a rendered object, its containers' images left out (GO164 checks them by name)."""
    body = copy.deepcopy(body)
    template = ((body.get("spec") or {}).get("template") or {}).get("spec") or {}
    for key in ("initContainers", "containers"):
        for container in template.get(key) or []:
            if isinstance(container, dict) and "image" in container:
                container["image"] = ""
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()


def _addon(doc: Doc, scope: Scope) -> Addon | None:
    return scope.context.addon(doc.addon) if doc.addon is not None else None


@check("GO162", "addon-resources", mandatory=True, addons=True)
def addon_resources(doc: Doc, scope: Scope) -> Iterator[Outcome]:
    """A cluster add-on's folder renders exactly the objects reviewed for it (repo.py ADDONS):
    a new kind, another object or one in another namespace is something nobody reviewed,
    synced to kube-system or the whole cluster of every cluster; a missing one leaves the
    add-on half installed."""
    addon = _addon(doc, scope)
    if addon is None:
        if doc.addon is not None:
            yield Outcome("(render)", f"{doc.addon!r} is not a reviewed add-on")
        return
    if doc.kind != ADDON_EMPTY:
        found = resource_of(doc.body)
        problem = f"not an object of the reviewed add-on {addon.name} ({len(addon.reviewed)} objects: repo.py ADDONS)"
        yield Outcome("metadata", None if found in addon.resources else problem)
    first = next((d for d in scope.render if d.addon == doc.addon), None)
    if first is doc:
        rendered = {resource_of(d.body) for d in scope.render if d.addon == doc.addon and d.kind != ADDON_EMPTY}
        for missing in sorted(addon.resources - rendered):
            yield Outcome("(render)", f"{missing} of add-on {addon.name} is not rendered")


@check("GO163", "addon-reviewed-rendering", mandatory=True, addons=True)
def addon_reviewed_rendering(doc: Doc, scope: Scope) -> Iterator[Outcome]:
    """Each object a cluster add-on renders is its reviewed rendering, pinned by a sha256 in
    the code (repo.py ADDONS, the image aside: GO164): a widened ClusterRole, a new flag, a
    hand edit of the vendored files changes it, and takes a reviewed change to the code
    (docs/addons.md says how to bump the add-on)."""
    addon = _addon(doc, scope)
    reviewed = addon.reviewed.get(resource_of(doc.body)) if addon else None
    if reviewed is None:
        return  # GO162 refuses it
    digest = rendering_digest(doc.body)
    problem = f"not the reviewed rendering of add-on {addon.name} (sha256 {digest}; repo.py ADDONS)"
    yield Outcome("(rendering)", None if digest == reviewed else problem)


@check("GO164", "addon-image", mandatory=True, addons=True)
def addon_image(doc: Doc, scope: Scope) -> Iterator[Outcome]:
    """A cluster add-on runs the pinned release of its image from the mirror in this
    repository's registry (gitops.yaml image's registry and owner, the add-on's name, its
    pinned tag, by digest or not): an upstream staging tag or another registry runs what
    nobody reviewed."""
    addon = _addon(doc, scope)
    if addon is None or doc.kind not in ("Deployment", "DaemonSet", "StatefulSet"):
        return
    wanted = f"{addon.mirror(scope.context.image)}:{addon.version}"
    template = ((doc.body.get("spec") or {}).get("template") or {}).get("spec") or {}
    for key in ("initContainers", "containers"):
        for container in template.get(key) or []:
            image = str((container or {}).get("image", "")) if isinstance(container, dict) else ""
            where = f"spec.template.spec.{key}[{(container or {}).get('name', '?')}].image"
            pinned = image.startswith(wanted) and (image == wanted or bool(DIGEST_RE.fullmatch(image[len(wanted) :])))
            yield Outcome(where, None if pinned else f"{image!r} is not {wanted!r} (or it @sha256:<64 hex>)")


@check("GO165", "addon-apiservice", mandatory=True, addons=True)
def addon_apiservice(doc: Doc, scope: Scope) -> Iterator[Outcome]:
    """An add-on's APIService sends every request for its API group to the Service the
    add-on deploys, in its own namespace: pointed anywhere else, the API server sends the
    cluster's metrics requests (and their credentials) to whoever serves there."""
    addon = _addon(doc, scope)
    if addon is None or doc.kind != "APIService":
        return
    name, namespace, service = addon.api_service
    given = ((doc.body.get("spec") or {}).get("service")) or {}
    got = (given.get("namespace"), given.get("name")) if isinstance(given, dict) else (None, None)
    problem = f"{got[0]}/{got[1]} is not the add-on's Service {namespace}/{service}"
    yield Outcome("spec.service", None if doc.name == name and got == (namespace, service) else problem)


@check("GO166", "addon-files", stages=(INPUT,), mandatory=True)
def addon_files(doc: Doc, scope: Scope) -> Iterator[Outcome]:
    """The add-ons folder holds the reviewed add-ons' files and nothing else: a file the
    gate does not know (a second kustomization, a patch waiting to be referenced, a new
    add-on) is refused until the code that pins add-ons names it (repo.py ADDONS)."""
    if doc.kind != ADDON_FILE:
        return
    known = {os.path.join(a.path, name) for a in scope.context.addons for name in a.files}
    problem = f"not a file of a reviewed add-on under {ADDONS_DIR}/ (repo.py ADDONS)"
    yield Outcome("(file)", None if os.path.normpath(doc.source) in known else problem)


def _map(value: object) -> dict:
    """``value`` when it is a mapping, else an empty one (its type is another check's finding)."""
    return value if isinstance(value, dict) else {}


def _app_spec_problems(spec: dict, addons: dict[str, Addon], project: str) -> Iterator[tuple[str, str | None]]:
    """(field, problem) of an add-on Application template spec."""
    yield "project", None if spec.get("project") == project else f"{spec.get('project')!r} is not {project!r}"
    source = spec.get("source") or {}
    path = source.get("path") if isinstance(source, dict) else None
    addon = addons.get(str(path))
    known = ", ".join(sorted(addons))
    yield "source.path", None if addon else f"{path!r} is not an add-on's folder ({known})"
    destination = spec.get("destination") or {}
    namespace = destination.get("namespace") if isinstance(destination, dict) else None
    wanted = addon.namespace if addon else None
    yield "destination.namespace", None if addon is None or namespace == wanted else f"{namespace!r} is not {wanted!r}"
    policy = spec.get("syncPolicy")
    if not isinstance(policy, dict):
        yield "syncPolicy", f"{policy!r} is not the reviewed sync policy (repo.py ADDONS_SYNC_POLICY)"
        return
    for key in sorted({*ADDONS_SYNC_POLICY, *(str(k) for k in policy)}):
        wanted, got = ADDONS_SYNC_POLICY.get(key), policy.get(key)
        why = " (prune and selfHeal on every cluster: docs/addons.md)" if key == "automated" else ""
        reviewed = f"the reviewed {wanted!r}" if key in ADDONS_SYNC_POLICY else "in the reviewed sync policy"
        problem = f"{got!r} is not {reviewed}{why} (repo.py ADDONS_SYNC_POLICY)"
        yield f"syncPolicy.{key}", None if got == wanted else problem


@check("GO167", "addons-applicationset", mandatory=True)
def addons_applicationset(doc: Doc, scope: Scope) -> Iterator[Outcome]:
    """The cluster add-ons are synced by one ApplicationSet of a reviewed shape: a git
    generator over every cluster folder's config.yaml, the addons project written out (never
    templated), an add-on's folder into its namespace, with the reviewed sync policy (pruned
    and self-healed everywhere, nothing else) and its resources kept when it goes; and no
    other Application or ApplicationSet uses the addons project, whose whitelist lets it
    write RBAC and kube-system."""
    if doc.kind not in ("Application", "ApplicationSet") or not scope.context.addons:
        return
    spec = _map(doc.body.get("spec"))
    addons = {a.path: a for a in scope.context.addons}
    if doc.kind == "ApplicationSet" and doc.name == ADDONS_APPSET:
        generators = [
            {"git": {"files": _map(g.get("git")).get("files")}} if isinstance(g, dict) and set(g) == {"git"} else g
            for g in spec.get("generators") or []
        ]
        problem = "must be one git generator over clusters/*/config.yaml (every cluster gets the add-ons)"
        yield Outcome("spec.generators", None if generators == CLUSTERS_GENERATOR else problem)
        yield Outcome("spec.templatePatch", "no templatePatch on the add-ons" if "templatePatch" in spec else None)
        policy = spec.get("syncPolicy")
        problem = f"{policy!r} is not the reviewed {ADDONS_APPSET_SYNC_POLICY!r} (repo.py ADDONS_APPSET_SYNC_POLICY)"
        yield Outcome("spec.syncPolicy", None if policy == ADDONS_APPSET_SYNC_POLICY else problem)
        template = spec.get("template")
        yield Outcome("spec.template", None if isinstance(template, dict) else f"{template!r} is not a mapping")
        inner = _map(_map(template).get("spec"))
        project = inner.get("project")
        templated = isinstance(project, str) and "{{" in project
        yield Outcome("spec.template.spec.project", "templated: write it out" if templated else None)
        for where, problem in _app_spec_problems(inner, addons, ADDONS_PROJECT):
            yield Outcome(f"spec.template.spec.{where}", problem)
        return
    where = "spec.template.spec.project" if doc.kind == "ApplicationSet" else "spec.project"
    if doc.kind == "ApplicationSet" and not isinstance(spec.get("template"), dict):
        problem = f"{spec.get('template')!r} is not a mapping: which project it uses cannot be read"
        yield Outcome("spec.template", problem)
        return
    template = _map(_map(spec.get("template")).get("spec")) if doc.kind == "ApplicationSet" else spec
    project = template.get("project")
    patch = str(spec.get("templatePatch") or "") if doc.kind == "ApplicationSet" else ""
    uses = project == ADDONS_PROJECT or (isinstance(project, str) and "{{" in project) or ADDONS_PROJECT in patch
    problem = f"only ApplicationSet {ADDONS_APPSET!r} may use the {ADDONS_PROJECT!r} project"
    yield Outcome(where, problem if uses else None)


# The addons AppProject's spec fields GO168 reads (namespaceResourceBlacklist: GO142); any other is refused.
PROJECT_FIELDS = (
    "description",
    "sourceRepos",
    "destinations",
    "destinationServiceAccounts",
    "clusterResourceWhitelist",
    "namespaceResourceWhitelist",
    "namespaceResourceBlacklist",
    "roles",
)


@check("GO168", "addons-appproject", mandatory=True)
def addons_appproject(doc: Doc, scope: Scope) -> Iterator[Outcome]:
    """The addons AppProject allows exactly what the add-ons are: this repository, each
    known cluster by name in the add-ons' namespace only, their cluster-scoped objects each
    by name, their namespaced kinds (and the ReplicaSets and Pods Argo CD shows), synced as
    the add-ons' own service account, one read-only role, and no other field (sync windows,
    orphaned resources, signature keys...). A kind without a name, another namespace or
    another account lets Git write RBAC or kube-system beyond the add-on; a role that may
    sync, override or exec lets a person do it by hand."""
    ctx = scope.context
    if doc.kind != "AppProject" or doc.name != ADDONS_PROJECT or not ctx.addons:
        return
    spec = _map(doc.body.get("spec"))
    repos = spec.get("sourceRepos")
    yield Outcome("spec.sourceRepos", None if repos == [ctx.repo_url] else f"{repos} is not [{ctx.repo_url!r}]")
    namespaces = {a.namespace for a in ctx.addons}
    clusters = {str(_map(_map(c.data).get("cluster")).get("name")) for c in ctx.cluster_configs.values() if c.data}
    for i, dest in enumerate(spec.get("destinations") or []):
        dest = dest if isinstance(dest, dict) else {}
        ok = (
            set(dest) == {"name", "namespace"}
            and isinstance(dest["namespace"], str)
            and isinstance(dest["name"], str)
            and dest["namespace"] in namespaces
            and dest["name"] in clusters
        )
        problem = f"{dest} is not a known cluster (by name) and an add-on namespace ({', '.join(sorted(namespaces))})"
        yield Outcome(f"spec.destinations[{i}]", None if ok else problem)
    accounts = spec.get("destinationServiceAccounts") or []
    wanted = [{"server": "*", "namespace": ns, "defaultServiceAccount": ADDONS_DEPLOYER} for ns in sorted(namespaces)]
    yield Outcome("spec.destinationServiceAccounts", None if accounts == wanted else f"{accounts} is not {wanted}")
    reviewed = {r for a in ctx.addons for r in a.resources}
    cluster_scoped = {(r.group, r.kind, r.name) for r in reviewed if not r.namespace}
    listed = set()
    for i, item in enumerate(spec.get("clusterResourceWhitelist") or []):
        item = item if isinstance(item, dict) else {}
        key = (str(item.get("group", "")), str(item.get("kind", "")), str(item.get("name", "")))
        listed.add(key)
        problem = f"{key[1] or '?'} {key[2] or '(no name)'} is not a cluster-scoped object of an add-on, by name"
        yield Outcome(f"spec.clusterResourceWhitelist[{i}]", None if key in cluster_scoped else problem)
    for group, kind, name in sorted(cluster_scoped - listed):
        yield Outcome("spec.clusterResourceWhitelist", f"{kind} {name} ({group or 'core'}) is missing: its sync fails")
    kinds = {(r.group, r.kind) for r in reviewed if r.namespace} | TREE_ONLY
    for i, item in enumerate(spec.get("namespaceResourceWhitelist") or []):
        item = item if isinstance(item, dict) else {}
        key = (str(item.get("group", "")), str(item.get("kind", "")))
        problem = f"{key[1] or '?'} ({key[0] or 'core'}) is not a namespaced kind of an add-on"
        yield Outcome(f"spec.namespaceResourceWhitelist[{i}]", None if key in kinds else problem)
    roles = spec.get("roles")
    reviewed_roles = list(ADDONS_PROJECT_ROLES)
    allowed = {p for r in reviewed_roles for p in r["policies"]}
    for i, role in enumerate(roles if isinstance(roles, list) else []):
        policies = role.get("policies") if isinstance(role, dict) else None
        for j, policy in enumerate(policies if isinstance(policies, list) else []):
            problem = f"{policy!r} is not a policy of the reviewed read-only role"
            yield Outcome(f"spec.roles[{i}].policies[{j}]", None if policy in allowed else problem)
    problem = "is not exactly the reviewed read-only role (repo.py ADDONS_PROJECT_ROLES)"
    yield Outcome("spec.roles", None if roles == reviewed_roles else problem)
    for key in sorted(str(k) for k in spec if k not in PROJECT_FIELDS):
        yield Outcome(f"spec.{key}", f"not a field of the reviewed add-ons' project ({', '.join(PROJECT_FIELDS)})")


RBAC_KINDS = frozenset({"ServiceAccount", "Role", "RoleBinding", "ClusterRole", "ClusterRoleBinding"})


def is_reviewed_deployer(body: dict) -> bool:
    """Is ``body`` one of the add-ons' deployer's objects, exactly as reviewed (repo.py ADDONS_DEPLOYER_REVIEWED)?"""
    reviewed = ADDONS_DEPLOYER_REVIEWED.get(resource_of(body))
    return reviewed is not None and rendering_digest(body) == reviewed


@check("GO169", "addons-deployer", mandatory=True)
def addons_deployer(doc: Doc, scope: Scope) -> Iterator[Outcome]:
    """The account Argo CD syncs the cluster add-ons as (argocd/destinations/*-addons.yaml)
    may write RBAC and kube-system objects by name: its ServiceAccount, roles and bindings
    are each their reviewed rendering, pinned by a sha256 in the code (repo.py
    ADDONS_DEPLOYER_REVIEWED), and no other binding names its role or grants it anything.
    A dropped resourceNames, a new verb, a binding to another role or another subject
    would let a change to Git write anything there."""
    if doc.kind not in RBAC_KINDS or not scope.context.addons:
        return
    found = resource_of(doc.body)
    account_ns, account = ADDONS_DEPLOYER.split(":")
    pinned = {(r.kind, r.name): r for r in ADDONS_DEPLOYER_REVIEWED}
    if (doc.kind, doc.name) in pinned:
        wanted = pinned[(doc.kind, doc.name)]
        if found != wanted:
            yield Outcome("metadata", f"is not the add-ons' deployer {wanted} (repo.py ADDONS_DEPLOYER_REVIEWED)")
            return
        digest = rendering_digest(doc.body)
        problem = f"differs from its reviewed rendering; new sha256 {digest} (repo.py ADDONS_DEPLOYER_REVIEWED)"
        yield Outcome("(rendering)", None if digest == ADDONS_DEPLOYER_REVIEWED[wanted] else problem)
        return
    if doc.kind not in ("RoleBinding", "ClusterRoleBinding"):
        return
    ref = doc.body.get("roleRef")
    role = ref.get("name") if isinstance(ref, dict) else None
    yield Outcome(
        "roleRef.name", f"binds the add-ons' deployer role {role!r}" if role == ADDONS_DEPLOYER_ROLE else None
    )
    subjects = doc.body.get("subjects")
    for i, subject in enumerate(subjects if isinstance(subjects, list) else []):
        subject = subject if isinstance(subject, dict) else {}
        ours = subject.get("kind") == "ServiceAccount" and (subject.get("namespace"), subject.get("name")) == (
            account_ns,
            account,
        )
        yield Outcome(f"subjects[{i}]", f"grants the add-ons' deployer {ADDONS_DEPLOYER!r} more" if ours else None)


def addon_application(spec: dict, scope: Scope) -> Addon | None:
    """The add-on an Application spec syncs: in the addons project (GO167, GO168), from an add-on's folder."""
    if spec.get("project") != ADDONS_PROJECT:
        return None
    source = spec.get("source") or {}
    path = source.get("path") if isinstance(source, dict) else None
    return next((a for a in scope.context.addons if a.path == path), None)
