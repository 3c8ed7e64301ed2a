"""Cluster folders: the config.yaml the ApplicationSet reads, and the kustomization beside it.

The repository model reads every `clusters/*/config.yaml` against its one schema
(repo.py, file_schemas.py) and keeps the problems it finds: GO127 reports them. The checks
below add what one file cannot say (unique names, the overlay's namespace, the
kustomization).
"""

from __future__ import annotations

import functools
import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from types import MappingProxyType

from .. import file_schemas, files
from ..errors import GitopsError
from ..repo import ClusterConfig
from .addons import addon_application
from .applications import applications
from .inputs import KUSTOMIZATION_FILES, is_kustomization_doc, references, walk
from .registry import DOCUMENT, INPUT, Context, Doc, Outcome, Scope, check

CONFIG_KIND = "ClusterConfig"  # how findings name a config.yaml: ClusterConfig/<folder>
CLUSTER_LABEL = "flask-gitops/cluster"


def cluster_doc(config: ClusterConfig) -> Doc:
    """A cluster folder's config.yaml as an input document: ClusterConfig/<folder>, the file as spec."""
    body: dict = {"kind": CONFIG_KIND, "metadata": {"name": config.folder.name}}
    body.update({"spec": config.content} if config.readable else {"error": config.problems[0][1]})
    return Doc(config.source, body, config.environment)


def _config(doc: Doc) -> dict | None:
    """The config of a ClusterConfig input that is a mapping, else None."""
    if doc.kind != CONFIG_KIND or doc.body.get("error"):
        return None
    spec = doc.body.get("spec")
    return spec if isinstance(spec, dict) else None


@check("GO127", "cluster-config", stages=(INPUT,))
def cluster_config(doc: Doc, scope: Scope) -> Iterator[Outcome]:
    """clusters/*/config.yaml feeds the ApplicationSet template with missingkey=error: an
    unknown or missing key stops the controller from updating every Application of the
    set, and a wrong type changes meaning (`autoSync: "false"` is true). Known keys only,
    exact types, an environment of gitops.yaml, an https url."""
    if doc.kind != CONFIG_KIND:
        return
    config = scope.context.cluster_configs.get(doc.name)
    if "spec" in doc.body and (config is None or doc.body["spec"] != config.content):
        # A config given as a document (not as this repository's file holds it): its own schema.
        problems = file_schemas.cluster_config_problems(doc.body["spec"], scope.context.environments)
    elif config is not None:
        problems = config.problems
    else:
        return
    for where, problem in problems:
        yield Outcome(where, problem)
    if not problems:
        yield Outcome("(file)")


def _signature(paths: list[Path]) -> tuple:
    """What changes when any of ``paths`` changes (name, mtime, size): the key of the caches below."""
    found = []
    for path in paths:
        try:
            stat = path.stat()
        except OSError:
            found.append((str(path), None, None))
        else:
            found.append((str(path), stat.st_mtime_ns, stat.st_size))
    return tuple(found)


def cluster_configs(scope: Scope) -> Mapping[str, dict]:
    """Every cluster folder's config.yaml that is a mapping, by folder name (as the model read them)."""

    def read() -> Mapping[str, dict]:
        configs = scope.context.cluster_configs.items()
        return MappingProxyType({name: c.data for name, c in configs if c.data is not None})

    return scope.memo("cluster_configs", read)


def _name(config: dict) -> object:
    cluster = config.get("cluster")
    return cluster.get("name") if isinstance(cluster, dict) else None


def _sibling_names(scope: Scope, folder: str) -> dict[str, list[str]]:
    """cluster.name -> the other cluster folders that use it."""
    names: dict[str, list[str]] = {}
    for other, config in cluster_configs(scope).items():
        name = _name(config)
        if other != folder and isinstance(name, str):
            names.setdefault(name, []).append(other)
    return names


@check("GO128", "cluster-name", stages=(INPUT,))
def cluster_name(doc: Doc, scope: Scope) -> Iterator[Outcome]:
    """cluster.name names the Argo CD cluster, the Application and the sync windows: it
    equals the folder name and is unique, or two folders deploy to one cluster under one
    Application name."""
    config = _config(doc)
    cluster = (config or {}).get("cluster")
    if not isinstance(cluster, dict) or not isinstance(cluster.get("name"), str):
        return  # GO127 says why
    name, folder = cluster["name"], doc.name
    yield Outcome("cluster.name", None if name == folder else f"{name!r} differs from the folder name {folder!r}")
    others = _sibling_names(scope, folder).get(name)
    yield Outcome("cluster.name", f"{name!r} is also used by clusters/{', clusters/'.join(others)}" if others else None)


@functools.lru_cache(maxsize=64)
def _read_namespace(signature: tuple) -> str | None:
    for path, mtime, _ in signature:
        if mtime is None:
            continue
        try:
            body = files.load_yaml(Path(path))
        except GitopsError:
            return None
        namespace = body.get("namespace") if isinstance(body, dict) else None
        return namespace if isinstance(namespace, str) else None
    return None


def overlay_namespace(ctx: Context, env: str) -> str | None:
    """The namespace an environment's overlay sets, if it sets one (read once per change)."""
    if ctx.overlays is None:
        return None
    return _read_namespace(_signature([ctx.overlays / env / name for name in KUSTOMIZATION_FILES]))


def _kustomization_doc(folder_source: str, scope: Scope) -> Doc | None:
    """The kustomization input of a folder (by its path from the root)."""
    by_folder = scope.memo(
        "kustomization_by_folder",
        lambda: {str(Path(d.source).parent): d for d in reversed(scope.render) if is_kustomization_doc(d)},
    )
    return by_folder.get(folder_source)


@check("GO129", "cluster-namespace", stages=(INPUT,))
def cluster_namespace(doc: Doc, scope: Scope) -> Iterator[Outcome]:
    """The ApplicationSet deploys into config.yaml's namespace and the overlay puts every
    object in its own: when they differ, Argo CD syncs into a namespace the objects do not
    name, and the AppProject destination no longer matches."""
    config = _config(doc)
    if config is None or config.get("environment") not in scope.context.environments:
        return  # GO127 says why
    expected = overlay_namespace(scope.context, config["environment"])
    ns = config.get("namespace")
    if not isinstance(ns, str):
        return  # GO127 says why
    problem = f"{ns!r} differs from the namespace of overlay {config['environment']!r} ({expected!r})"
    if expected is None:
        problem = f"overlay {config['environment']!r} sets no namespace (or cannot be read); it must set {ns!r}"
    yield Outcome("namespace", None if ns == expected else problem)
    kust = _kustomization_doc(str(Path(doc.source).parent), scope)
    if kust is not None and "namespace" in kust.body:
        own = kust.body["namespace"]
        problem = f"{own!r} differs from config.yaml's namespace {ns!r}"
        yield Outcome("namespace", None if own == ns else problem, kust)


def _label_values(body: dict) -> Iterator[tuple[str, object]]:
    for i, entry in enumerate(body.get("labels") or []):
        pairs = entry.get("pairs") if isinstance(entry, dict) else None
        if isinstance(pairs, dict) and CLUSTER_LABEL in pairs:
            yield f"labels[{i}].pairs.{CLUSTER_LABEL}", pairs[CLUSTER_LABEL]
    common = body.get("commonLabels")
    if isinstance(common, dict) and CLUSTER_LABEL in common:
        yield f"commonLabels.{CLUSTER_LABEL}", common[CLUSTER_LABEL]


@check("GO130", "cluster-overlay", stages=(INPUT,))
def cluster_overlay(doc: Doc, scope: Scope) -> Iterator[Outcome]:
    """A cluster folder renders the overlay of the environment its config.yaml names, and no
    other, with its own flask-gitops/cluster label: a copied folder that still points at
    another environment or carries another cluster's label deploys the wrong thing."""
    config = _config(doc)
    ctx = scope.context
    if config is None or ctx.overlays is None or config.get("environment") not in ctx.environments:
        return  # GO127 says why
    kust = _kustomization_doc(str(Path(doc.source).parent), scope)
    if kust is None:
        return
    env = config["environment"]
    folder = (ctx.root / doc.source).parent
    reached = {k.file.parent for k in walk(folder, ctx.root) if not k.outside}
    overlays = {e: Path(os.path.realpath(ctx.overlays / e)) for e in ctx.environments}
    fields = {r.path: r.field for r in references(kust.body, Path(os.path.realpath(folder))) if r.spec.fetch}
    missing = f"does not render overlay {env!r} ({os.path.relpath(overlays[env], ctx.root)}), its environment"
    yield Outcome(fields.get(overlays[env], "resources"), None if overlays[env] in reached else missing, kust)
    for other, path in overlays.items():
        if other != env and path in reached:
            problem = f"renders overlay {other!r}, not its environment {env!r}"
            yield Outcome(fields.get(path, "resources"), problem, kust)
    name = (config.get("cluster") or {}).get("name") if isinstance(config.get("cluster"), dict) else None
    values = list(_label_values(kust.body))
    if not any(w.startswith("labels[") for w, _ in values):
        yield Outcome("labels", f"no {CLUSTER_LABEL}: {name} pair (includeSelectors: false)", kust)
    for where_label, value in values:
        problem = f"{value!r} is not this cluster's name {name!r}"
        yield Outcome(where_label, None if value == name else problem, kust)


def app_environment(spec: dict, scope: Scope) -> str | None:
    """The environment an Application deploys: its destination cluster's, else its namespace's overlay's."""
    ctx = scope.context
    dest = spec.get("destination") or {}
    if dest.get("name") is not None:
        for config in cluster_configs(scope).values():
            if _name(config) == dest["name"]:
                return str(config.get("environment"))
    for env in ctx.environments:
        if dest.get("namespace") is not None and overlay_namespace(ctx, env) == dest.get("namespace"):
            return env
    return None


@check("GO144", "manual-sync", stages=(INPUT, DOCUMENT))
def manual_sync(doc: Doc, scope: Scope) -> Iterator[Outcome]:
    """Production changes when a person presses Sync inside the sync windows: a prod
    cluster with `autoSync: true`, or a prod Application with an automated sync policy,
    deploys every merge at once. (The cluster add-ons sync by themselves everywhere: their
    change is a code change, GO163.)"""
    manual = scope.context.manual_sync
    config = _config(doc)
    if config is not None:
        if config.get("environment") in manual:
            problem = f"must be false: {config['environment']!r} syncs by hand (gitops.yaml manualSync)"
            yield Outcome("autoSync", None if config.get("autoSync") is False else problem)
        return
    if doc.kind == CONFIG_KIND:
        return
    for spec, where, label, _ in applications(doc, scope):
        env = app_environment(spec, scope)
        if env in manual and addon_application(spec, scope) is None:  # add-ons sync everywhere (GO167)
            automated = "automated" in (spec.get("syncPolicy") or {})
            problem = f"automated sync on {env!r}, which syncs by hand (gitops.yaml manualSync){label}"
            yield Outcome(f"{where}.syncPolicy.automated", problem if automated else None)
