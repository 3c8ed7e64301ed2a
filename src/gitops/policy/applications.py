"""Argo CD: every Application, and every one an ApplicationSet would make, must be allowed to sync."""

from __future__ import annotations

import fnmatch
from collections.abc import Iterator
from pathlib import Path

from .. import appset
from ..errors import GitopsError
from .registry import Doc, Outcome, Scope, check


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


def _generator_entries(doc: Doc, root: Path) -> Iterator[tuple[str, str, str, bool, list[Path]]]:
    """(field, path pattern, files or directories, excluded, matches) of every git generator entry."""
    spec = doc.body.get("spec")
    generators = spec.get("generators") if isinstance(spec, dict) else None
    for g, generator in enumerate(generators if isinstance(generators, list) else []):
        git = generator.get("git") if isinstance(generator, dict) else None
        if not isinstance(git, dict):
            continue  # not a git generator Argo CD can read: its render fails (GO124)
        for kind in ("files", "directories"):
            entries = git.get(kind)
            for k, entry in enumerate(entries if isinstance(entries, list) else []):
                entry = entry if isinstance(entry, dict) else {}
                pattern = str(entry.get("path", ""))
                matches = [m for m in sorted(root.glob(pattern)) if (m.is_file() if kind == "files" else m.is_dir())]
                yield f"spec.generators[{g}].git.{kind}[{k}].path", pattern, kind, bool(entry.get("exclude")), matches


def _rendered(doc: Doc, scope: Scope) -> appset.Rendered:
    """The ApplicationSet rendered by Argo CD's own code (gitops.appset), once per document and scope."""

    def run() -> appset.Rendered:
        projects = [
            {"apiVersion": "argoproj.io/v1alpha1", "kind": "AppProject", "metadata": {"name": n}, "spec": s}
            for n, s in scope.projects.items()
        ]
        try:
            return appset.render([doc.body], scope.context.root, projects)[0]
        except GitopsError as exc:  # the renderer refused, or met its bounds: one finding (GO124)
            return appset.Rendered(doc.name, errors=[appset.RenderError("spec.generators", "", str(exc))])

    return scope.memo(("appset", id(doc)), run)


def _elements(doc: Doc, scope: Scope) -> Iterator[tuple[str, dict]]:
    """(label, Application spec) per Application the ApplicationSet generates."""
    rendered = _rendered(doc, scope)
    for app, source in zip(rendered.applications, rendered.generated_from, strict=True):
        label = f" (for {source})" if source else f" (Application {(app.get('metadata') or {}).get('name')})"
        yield label, app.get("spec") or {}


def _apps(doc: Doc, scope: Scope) -> Iterator[tuple[dict, str, str, dict | None]]:
    """(Application spec, field prefix, label, its AppProject spec or None) of an Application or ApplicationSet."""
    if doc.kind == "Application":
        found = [(doc.body.get("spec") or {}, "spec", "")]
    elif doc.kind == "ApplicationSet":
        found = [(spec, "spec.template.spec", label) for label, spec in _elements(doc, scope)]
    else:
        found = []
    for spec, where, label in found:
        yield spec, where, label, scope.projects.get(spec.get("project", "default"))


@check("GO124", "appset-generator")
def appset_generator(doc: Doc, scope: Scope) -> Iterator[Outcome]:
    """An ApplicationSet generator that matches no directory creates no Application (and
    deletes the ones it made)."""
    if doc.kind != "ApplicationSet":
        return
    for where, pattern, _, excluded, matches in _generator_entries(doc, scope.context.root):
        if not excluded:
            yield Outcome(where, None if matches else f"{pattern!r} matches nothing in the repository")
    rendered = _rendered(doc, scope)
    for error in rendered.errors:
        yield Outcome(error.field, f"Argo CD cannot render it: {error}")
    if not rendered.errors:
        yield Outcome("spec.template", None)


@check("GO120", "argocd-project")
def argocd_project(doc: Doc, scope: Scope) -> Iterator[Outcome]:
    """An Application in a missing project never syncs."""
    unread = scope.context.unread_projects  # their failure is reported: not a missing project per Application
    for spec, where, label, project in _apps(doc, scope):
        name = spec.get("project", "default")
        missing = project is None and not unread
        yield Outcome(f"{where}.project", f"AppProject {name!r} is not defined{label}" if missing else None)


@check("GO121", "argocd-destination")
def argocd_destination(doc: Doc, scope: Scope) -> Iterator[Outcome]:
    """The AppProject must allow the destination, or Argo CD refuses to sync."""
    for spec, where, label, project in _apps(doc, scope):
        if project is None:
            continue  # GO120 says why
        dest = spec.get("destination") or {}
        allowed = _destination_allowed(dest, project.get("destinations") or [])
        problem = f"{dest} is not allowed by AppProject {spec.get('project', 'default')!r}{label}"
        yield Outcome(f"{where}.destination", None if allowed else problem)


def _sources(spec: dict) -> list[dict]:
    return spec.get("sources") or ([spec["source"]] if spec.get("source") else [])


@check("GO122", "argocd-source-repo")
def argocd_source_repo(doc: Doc, scope: Scope) -> Iterator[Outcome]:
    """The AppProject must allow the source repository."""
    for spec, where, label, project in _apps(doc, scope):
        if project is None:
            continue
        patterns = [str(p) for p in project.get("sourceRepos") or []]
        for i, source in enumerate(_sources(spec)):
            repo = str(source.get("repoURL", ""))
            problem = f"{repo!r} is not in AppProject {spec.get('project', 'default')!r} sourceRepos{label}"
            yield Outcome(f"{where}.source[{i}].repoURL", None if _repo_allowed(repo, patterns) else problem)


@check("GO123", "argocd-path")
def argocd_path(doc: Doc, scope: Scope) -> Iterator[Outcome]:
    """A source path that does not exist in the repository renders nothing."""
    for spec, where, label, project in _apps(doc, scope):
        if project is None:
            continue
        for i, source in enumerate(_sources(spec)):
            path = source.get("path")
            if path is not None:
                exists = (scope.context.root / str(path)).is_dir()
                problem = f"{path!r} does not exist in the repository{label}"
                yield Outcome(f"{where}.source[{i}].path", None if exists else problem)


def applications(doc: Doc, scope: Scope) -> list[tuple[dict, str, str, dict | None]]:
    """``_apps``, computed once per document and scope (several checks read the same Applications)."""
    return scope.memo(("applications", id(doc)), lambda: list(_apps(doc, scope)))
