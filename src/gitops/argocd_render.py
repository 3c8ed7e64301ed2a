"""The Argo CD stage of the gate: every Application rendered as the repo-server would.

Applications come from what the root Application syncs (written under argocd/, or generated
by an ApplicationSet with Argo CD's own code, gitops.appset); each one's source is rendered
by the repo-server's own code (`appset-render -manifests`), and the policies read that
render. The root folder, checked as kustomize renders it, must come out the same.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable
from pathlib import Path

import yaml

from . import appset, policy
from .errors import GitopsError
from .policy.sources import same_repo
from .repo import Repo


def _rendered_by_argocd(repo: Repo, ctx: policy.Context, argocd_docs: list[dict]) -> list[tuple[dict, str]]:
    """(Application, label) of every Application Argo CD would create: the ones written under argocd/
    and the ones its ApplicationSets generate (rendered by Argo CD's own code)."""
    apps = [(body, "") for body in argocd_docs if body.get("kind") == "Application"]
    appsets = [body for body in argocd_docs if body.get("kind") == "ApplicationSet"]
    if appsets:
        projects = [
            {"apiVersion": "argoproj.io/v1alpha1", "kind": "AppProject", "metadata": {"name": n}, "spec": s}
            for n, s in ctx.projects.items()
        ]
        for rendered in appset.render(appsets, repo.root, projects):
            apps += [(app, f"ApplicationSet {rendered.name}") for app in rendered.applications]
    return apps


def _source_path(repo: Repo, app: dict) -> Path | None:
    """The folder of this repository an Application syncs, when it has one source here (else None)."""
    spec = app.get("spec") or {}
    source = spec.get("source")
    if not isinstance(source, dict) or spec.get("sources") or not isinstance(source.get("path"), str):
        return None
    if not same_repo(source.get("repoURL", ""), repo.repo_url):
        return None
    folder = Path(os.path.abspath(repo.root / source["path"].lstrip("/")))
    root = Path(os.path.abspath(repo.root))
    inside = folder == root or str(folder).startswith(str(root) + os.sep)
    return folder if inside and folder.is_dir() else None


# Source overrides Argo CD's code may render here: they name no file and no address, so the
# render reads only the checked folder (components, patch files, helm, plugins and jsonnet
# options would read elsewhere or reach out: such an Application is not rendered, and GO146
# refuses it unless reviewed).
RENDERABLE = frozenset(
    f"kustomize.{k}"
    for k in (
        "patches", "images", "namePrefix", "nameSuffix", "namespace", "commonLabels", "commonAnnotations",
        "replicas", "forceCommonLabels", "forceCommonAnnotations", "labelWithoutSelector", "labelIncludeTemplates",
    )
) | {"directory.recurse", "directory.include", "directory.exclude", "repoURL", "path", "targetRevision"}  # fmt: skip


def _not_renderable(app: dict) -> str | None:
    """The first source field that keeps Argo CD's code from rendering ``app`` here, or None."""
    spec = app.get("spec") or {}
    if spec.get("sources"):
        return "spec.sources"
    source = spec.get("source") or {}
    for key, value in source.items() if isinstance(source, dict) else ():
        fields = [f"{key}.{k}" for k in value] if isinstance(value, dict) else [str(key)]
        for name in fields:
            if name not in RENDERABLE:
                return f"spec.source.{name}"
    patches = ((source.get("kustomize") or {}).get("patches") or []) if isinstance(source, dict) else []
    if any(not isinstance(p, dict) or p.get("path") for p in patches):
        return "spec.source.kustomize.patches[].path"
    return None


def _basic_source(app: dict) -> bool:
    source = (app.get("spec") or {}).get("source") or {}
    return isinstance(source, dict) and set(source) <= {"repoURL", "path", "targetRevision"}


def render_applications(
    repo: Repo,
    ctx: policy.Context,
    argocd_docs: list[dict],
    targets: list[Path],
    blocked: set[Path],
    skip: Iterable[str],
    rendered: list,
    report,
    check_inputs: Callable[..., set[Path]],
) -> set[Path]:
    """Render every Application's source as the repo-server would; the folders rendered so.

    A folder no target covers has its inputs checked first (and is not rendered when they
    are refused). The root folder (argocd/) is rendered so only when its Application
    overrides the source: otherwise kustomize's render of it is the same.
    """
    try:
        apps = _rendered_by_argocd(repo, ctx, argocd_docs)
    except GitopsError as exc:
        report.errors.append(f"ARGOCD {exc}")
        return set()
    argocd = {t.resolve() for t in repo.argocd_targets()}
    known = {t.resolve() for t in targets}
    wanted: list[tuple[dict, str, Path]] = []
    for app, origin in apps:
        folder = _source_path(repo, app)
        if folder is None:
            continue  # the policies refuse another repository or a missing path
        field = _not_renderable(app)
        if field is not None:
            name = (app.get("metadata") or {}).get("name", "?")
            report.errors.append(f"ARGOCD {repo.rel(folder)}: Application {name}: {field}: not rendered offline")
            continue
        wanted.append((app, origin, folder))
    new = sorted({f for _, _, f in wanted if f.resolve() not in known})
    refused = {p.resolve() for p in blocked}
    if new:
        refused |= {p.resolve() for p in check_inputs(repo, ctx, new, skip, report, overrides=False)}
    # A refused folder is neither built by kustomize nor rendered by Argo CD's code (whose
    # kustomize would reach the network): it counts as handled, its refusal is the finding.
    handled = {f.resolve() for _, _, f in wanted if f.resolve() in refused}
    wanted = [(a, o, f) for a, o, f in wanted if f.resolve() not in refused]
    if not wanted:
        return handled
    try:
        results = appset.manifests([a for a, _, _ in wanted], repo.root)
    except GitopsError as exc:
        report.errors.append(f"ARGOCD {exc}")
        return handled
    shared = {f for _, _, f in wanted if sum(1 for _, _, g in wanted if g == f) > 1}
    done = set(handled)
    for (app, origin, folder), result in zip(wanted, results, strict=True):
        name = (app.get("metadata") or {}).get("name", "?")
        label = repo.rel(folder)
        if folder in shared or not _basic_source(app) or folder.resolve() in argocd:
            label += f" (Application {name})"
        if result.error:
            where = f" from {origin}" if origin else ""
            report.errors.append(f"ARGOCD {label}: Application {name}{where}: Argo CD cannot render it: {result.error}")
            continue
        if folder.resolve() in argocd and _basic_source(app):
            # The root folder is checked as kustomize renders it; Argo CD must render the same
            # (a `.argocd-source` file or a chart would make it render something else).
            if _canonical(result.manifests) != _canonical(_docs_of(rendered, repo.rel(folder))):
                report.errors.append(
                    f"ARGOCD {label}: Application {name}: Argo CD renders this folder otherwise than kustomize "
                    f"(source type {result.source_type}): a source override hides in it"
                )
            continue
        text = "".join("---\n" + yaml.safe_dump(m, sort_keys=False) for m in result.manifests)
        rendered.append((label, text, result.manifests, repo.environment_of(folder)))
        done.add(folder.resolve())
    return done


def _docs_of(rendered: list, label: str) -> list[dict]:
    return [doc for found, _, docs, _ in rendered if found == label for doc in docs]


def _canonical(docs: list[dict]) -> list[str]:
    return sorted(json.dumps(doc, sort_keys=True) for doc in docs)
