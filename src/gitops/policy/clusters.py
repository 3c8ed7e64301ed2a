"""Cluster folders: the config.yaml the ApplicationSet reads, and the kustomization beside it.

The ApplicationSet turns every `clusters/*/config.yaml` into an Application with
`missingkey=error`: an unknown key, a missing one or a wrong type breaks or silently
changes what Argo CD does (`autoSync: "false"` is a non-empty string, so true). The
file's schema is data (``config_schema``), checked with jsonschema; the checks below add
what one file cannot say (unique names, the overlay's namespace, the kustomization).
"""

from __future__ import annotations

import difflib
import functools
import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from types import MappingProxyType

from jsonschema import Draft202012Validator

from .. import files
from ..errors import GitopsError
from .applications import applications
from .inputs import KUSTOMIZATION_FILES, inside, is_kustomization_doc, references, walk
from .registry import DOCUMENT, INPUT, Context, Doc, Outcome, Scope, check

CLUSTER_CONFIG_FILE = "config.yaml"
CONFIG_KIND = "ClusterConfig"  # how findings name a config.yaml: ClusterConfig/<folder>
CLUSTER_LABEL = "flask-gitops/cluster"
# The end of a pattern: Python's '$' (jsonschema's) also matches before a final newline, so
# "dev\n" passed as a DNS label; '(?!\n)' keeps the pattern ECMA-262 (JSON Schema's dialect).
END = r"$(?!\n)"
DNS_LABEL = r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?" + END
# https, a host (and port), an optional path; no query, fragment or trailing slash (the
# ApplicationSet appends /version).
HTTPS_URL = r"^https://[A-Za-z0-9]([-A-Za-z0-9.]*[A-Za-z0-9])?(:[0-9]{1,5})?(/[^\s?#]*[^\s?#/])?" + END

# What a pattern means, for the one-line error.
PATTERNS = {DNS_LABEL: "a DNS label (a-z, 0-9, '-', at most 63)", HTTPS_URL: "an https:// URL without query or '/' end"}


def config_schema(environments: tuple[str, ...]) -> dict:
    """The JSON Schema of clusters/<cluster>/config.yaml (environments from gitops.yaml)."""
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "clusters/<cluster>/config.yaml",
        "type": "object",
        "additionalProperties": False,
        "required": ["cluster", "environment", "namespace", "autoSync", "url"],
        "properties": {
            "cluster": {
                "type": "object",
                "additionalProperties": False,
                "required": ["name"],
                "properties": {"name": {"type": "string", "pattern": DNS_LABEL}},
            },
            "environment": {"type": "string", "enum": list(environments)},
            "namespace": {"type": "string", "pattern": DNS_LABEL},
            "autoSync": {"type": "boolean"},
            "url": {"type": "string", "pattern": HTTPS_URL},
        },
    }


def cluster_doc(folder: Path, root: Path) -> Doc:
    """A cluster folder's config.yaml as an input document: ClusterConfig/<folder>, the file as spec."""
    path = folder / CLUSTER_CONFIG_FILE
    body: dict = {"kind": CONFIG_KIND, "metadata": {"name": folder.name}}
    if not inside(Path(os.path.realpath(path)), Path(os.path.realpath(root))):
        body["error"] = "its real location (symlinks resolved) is outside the repository"
    else:
        try:
            stat = path.stat()
        except FileNotFoundError:
            body["error"] = "missing: every cluster folder needs one"
        except OSError as exc:
            body["error"] = f"cannot be read: {exc.strerror}"
        else:
            spec, error = _load_config(path, stat.st_mtime_ns, stat.st_size)
            body.update({"error": error} if error else {"spec": spec})
    env = body["spec"].get("environment") if isinstance(body.get("spec"), dict) else None
    source = os.path.relpath(os.path.abspath(path), os.path.abspath(root))
    return Doc(source, body, str(env) if env is not None else None)


@functools.lru_cache(maxsize=1024)
def _load_config(path: Path, mtime_ns: int, size: int) -> tuple[object, str | None]:
    """(content, None) or (None, why not): parsed once per version of the file."""
    try:
        return files.load_yaml(path), None  # bounded, regular files only, strict YAML
    except GitopsError as exc:
        return None, f"cannot be read: {' '.join(str(exc).split())[:160]}"


def _config(doc: Doc) -> dict | None:
    """The config of a ClusterConfig input that is a mapping, else None."""
    if doc.kind != CONFIG_KIND or doc.body.get("error"):
        return None
    spec = doc.body.get("spec")
    return spec if isinstance(spec, dict) else None


_TYPE_NAMES: dict[object, str] = {
    str: "a string",
    int: "a number",
    float: "a number",
    bool: "a boolean",
    list: "a list",
    dict: "a mapping",
    type(None): "null",
    "string": "a string",
    "boolean": "a boolean",
    "object": "a mapping",
    "array": "a list",
}


def _field(path: object) -> str:
    return ".".join(str(p) for p in path) or "(top level)"


def _schema_problems(config: object, environments: tuple[str, ...]) -> Iterator[tuple[str, str]]:
    schema = config_schema(environments)
    seen: set[tuple[str, str]] = set()
    for error in sorted(Draft202012Validator(schema).iter_errors(config), key=lambda e: list(map(str, e.path))):
        where = list(error.path)
        if error.validator == "additionalProperties":
            known = sorted(error.schema.get("properties", {}))
            for key in sorted(set(error.instance) - set(known)):
                close = difflib.get_close_matches(str(key), known, n=1) or [
                    k for k in known if k.lower() == key.lower()
                ]
                hint = f"did you mean {close[0]}?" if close else f"known: {', '.join(known)}"
                found = (_field([*where, key]), f"unknown key ({hint})")
                if found not in seen:
                    seen.add(found)
                    yield found
            continue
        if error.validator == "required":
            for key in error.validator_value:
                if key not in error.instance:
                    found = (_field([*where, key]), "missing (the ApplicationSet template needs it)")
                    if found not in seen:
                        seen.add(found)
                        yield found
            continue
        if error.validator == "enum":
            message = f"{error.instance!r} is not an environment of gitops.yaml ({', '.join(environments)})"
        elif error.validator == "type":
            found_type = _TYPE_NAMES.get(type(error.instance), "a value")
            message = f"{error.instance!r} is {found_type}, not {_TYPE_NAMES[error.validator_value]}"
            if error.validator_value == "boolean":
                message += " (write true or false, unquoted)"
        elif error.validator == "pattern":
            message = f"{error.instance!r} is not {PATTERNS.get(error.validator_value, error.validator_value)}"
        else:
            message = error.message
        found = (_field(where), message)
        if found not in seen:
            seen.add(found)
            yield found


@check("GO127", "cluster-config", stages=(INPUT,))
def cluster_config(doc: Doc, scope: Scope) -> Iterator[Outcome]:
    """clusters/*/config.yaml feeds the ApplicationSet template with missingkey=error: an
    unknown or missing key stops the controller from updating every Application of the
    set, and a wrong type changes meaning (`autoSync: "false"` is true). Known keys only,
    exact types, an environment of gitops.yaml, an https url."""
    if doc.kind != CONFIG_KIND:
        return
    if doc.body.get("error"):
        yield Outcome("(file)", doc.body["error"])
        return
    problems = list(_schema_problems(doc.body.get("spec"), scope.context.environments))
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
    """Every cluster folder's config.yaml that is a mapping, by folder name (read once per scope)."""

    def read() -> Mapping[str, dict]:
        ctx = scope.context
        if ctx.clusters is None or not ctx.clusters.is_dir():
            return MappingProxyType({})
        folders = sorted(p for p in ctx.clusters.iterdir() if p.is_dir())
        configs = {f.name: _config(cluster_doc(f, ctx.root)) for f in folders}
        return MappingProxyType({name: config for name, config in configs.items() if config is not None})

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
    deploys every merge at once."""
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
        if env in manual:
            automated = "automated" in (spec.get("syncPolicy") or {})
            problem = f"automated sync on {env!r}, which syncs by hand (gitops.yaml manualSync){label}"
            yield Outcome(f"{where}.syncPolicy.automated", problem if automated else None)
