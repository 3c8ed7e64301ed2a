"""The merge gate: yamllint, the input policies, kustomize, Argo CD's render, kubeconform, the policies.

`gitops validate` is the command; this module (with argocd_render.py for the Argo CD stage)
is the engine that `set-image`, `promote`, `rollback` and `configure` also run.
"""

from __future__ import annotations

import dataclasses
import json
import os
import tempfile
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from . import argocd_render, bounded, policy
from .errors import GitopsError
from .files import load_documents, read_text, yaml_error
from .kustomize import Rendered, build_many
from .policy.addons import ADDON_EMPTY, ADDON_FILE
from .policy.clusters import cluster_doc
from .policy.controls import SOURCE_OVERRIDE, is_source_override
from .policy.inputs import input_docs, walk
from .repo import ADDONS_PROJECT, Repo, is_kustomization
from .toolchain import kubernetes_versions, schemas_dir, tool

SCHEMA_LOCATION = (
    "{{ .NormalizedKubernetesVersion }}-standalone{{ .StrictSuffix }}/{{ .ResourceKind }}{{ .KindSuffix }}.json"
)
YAML_SUFFIXES = (".yaml", ".yml")
SKIP_DIRS = {".git", ".venv", ".tools", "build", "node_modules", "__pycache__"}


@dataclass
class Report:
    errors: list[str] = field(default_factory=list)  # one line each
    files: int = 0
    documents: int = 0
    checks: int = 0
    seconds: float = 0.0
    targets: int = 0

    def summary(self) -> str:
        return (
            f"validate: {self.targets} targets, {self.files} files, {self.documents} documents, "
            f"{self.checks} checks, {len(self.errors)} failures in {self.seconds:.2f}s"
        )


def yaml_files(paths: list[Path]) -> list[Path]:
    out: list[Path] = []
    for path in paths:
        if path.is_file():
            out.append(path)
            continue
        for dirpath, dirnames, filenames in os.walk(path):
            dirnames[:] = sorted(d for d in dirnames if d not in SKIP_DIRS)
            out += [Path(dirpath) / f for f in sorted(filenames) if f.endswith(YAML_SUFFIXES)]
    return sorted(set(out))


def run_yamllint(files: list[Path], root: Path, report: Report) -> None:
    from yamllint import linter
    from yamllint.config import YamlLintConfig

    config_path = root / ".yamllint"
    config = YamlLintConfig(file=str(config_path)) if config_path.is_file() else YamlLintConfig("extends: default")
    for path in files:
        rel = os.path.relpath(path, root)
        if config.is_file_ignored(rel):
            continue
        try:
            text = read_text(path, rel)
        except GitopsError as exc:
            report.errors.append(f"YAML {exc}")
            continue
        # Like `yamllint --strict`: warnings fail too.
        try:
            problems = list(linter.run(text, config, rel))
        except yaml.YAMLError as exc:  # yamllint's own reader refuses some characters (NUL) outright
            report.errors.append(f"YAML {yaml_error(rel, exc)}")
            continue
        except (TypeError, ValueError, IndexError, AttributeError) as exc:
            # yamllint itself crashes on a few malformed files (a lone "]", for one): still one finding.
            report.errors.append(f"YAML {rel}: not YAML that yamllint can read ({type(exc).__name__})")
            continue
        for problem in problems:
            report.errors.append(
                f"YAML {rel}:{problem.line}:{problem.column}: {problem.level}: {problem.desc}"
                + (f" ({problem.rule})" if problem.rule else "")
            )


def run_kubeconform(rendered: list[tuple[str, str]], schemas: Path, report: Report) -> None:
    """Validate every document against every pinned Kubernetes version, in one pass each."""
    with tempfile.TemporaryDirectory(prefix="gitops-validate-") as tmp:
        names: dict[str, str] = {}
        for index, (label, text) in enumerate(rendered):
            path = Path(tmp) / f"{index:05d}.yaml"
            path.write_text(text)
            names[str(path)] = label
        if not names:
            return
        for version in kubernetes_versions():
            result = bounded.run(
                [
                    tool("kubeconform"),
                    "-strict",
                    "-output",
                    "json",
                    "-n",
                    str(os.cpu_count() or 2),
                    "-kubernetes-version",
                    version,
                    "-schema-location",
                    str(schemas / SCHEMA_LOCATION),
                    *names,
                ],
                what="kubeconform",
            )
            try:
                resources = json.loads(result.stdout or "{}").get("resources") or []
            except json.JSONDecodeError:
                raise GitopsError(f"kubeconform: unreadable output: {result.stderr.strip()[:200]}", 1) from None
            for res in resources:
                status = res.get("status")
                if status in ("statusValid", "statusSkipped", "statusEmpty"):
                    continue
                label = names.get(res.get("filename"), res.get("filename"))
                who = f"{res.get('kind') or '?'}/{res.get('name') or '?'}"
                msg = res.get("msg", "")
                if "could not find schema" in msg:
                    msg = f"no schema for {res.get('version')} {res.get('kind')} (kubeconform never skips)"
                else:
                    msg = msg.split(" - at ", 1)[-1] if " - at " in msg else msg
                    msg = msg.replace("problem validating schema. Check JSON formatting: ", "")
                report.errors.append(f"SCHEMA {label}: {who}: Kubernetes {version}: {msg}")
            if result.returncode != 0 and not resources:
                raise GitopsError(f"kubeconform failed: {result.stderr.strip()[:300]}", 1)


def policy_context(repo: Repo) -> policy.Context:
    """What the policies know of the repository: the model Repo.load read and typed (gitops.yaml)."""
    reviewed = repo.reviewed_projects
    return policy.Context(
        root=repo.root,
        digest_required=frozenset(repo.digest_required),
        environments=tuple(repo.environments),
        overlays=repo.overlays_dir,
        clusters=repo.clusters_dir,
        reviewed_projects=reviewed
        if reviewed is not None
        else policy.registry.DEFAULT_REVIEWED_APPPROJECTS | ({ADDONS_PROJECT} if repo.addons else set()),
        manual_sync=repo.manual_sync,
        repo_url=repo.repo_url,
        revision=repo.revision,
        argocd=repo.argocd_dir,
        reviewed_sync_options=repo.reviewed_sync_options,
        reviewed_annotations=repo.reviewed_annotations,
        reviewed_app_fields=repo.reviewed_app_fields,
        reviewed_generators=repo.reviewed_generators,
        reviewed_finalizers=repo.reviewed_finalizers,
        image=repo.image,
        app=repo.app,
        cluster_configs=repo.cluster_configs(),
        addons=repo.addons,
    )


def argocd_targets(repo: Repo) -> list[Path]:
    """What the root Application syncs (Repo.argocd_targets): the Argo CD objects, the AppProjects among them."""
    return repo.argocd_targets()


def default_targets(repo: Repo) -> list[Path]:
    """Every cluster folder (whatever its config.yaml holds: the policies say), overlay and argocd/ folder."""
    clusters = repo.cluster_folders() if repo.clusters_dir.is_dir() else []
    overlays = [repo.overlays_dir / env for env in repo.environments]
    return [*clusters, *overlays, *argocd_targets(repo)]


def repository_projects(repo: Repo, targets: list[Path], report: Report) -> dict[str, dict]:
    """The AppProject specs, by name, of the repository's argocd/ kustomizations other than ``targets``.

    What an Application is checked against when its projects are not in the run (GO120-GO123):
    `gitops validate argocd` knows the AppProjects of argocd/projects/, wherever under argocd/
    they live. A kustomization that does not build is a failure: without it, its projects
    would be reported missing.
    """
    given = {t.resolve() for t in targets}
    others = [t for t in argocd_targets(repo) if t.resolve() not in given]
    projects: dict[str, dict] = {}
    for target, result in zip(others, build_many(others, root=repo.root), strict=True):
        if not isinstance(result, Rendered):
            reason = getattr(result, "reason", result)
            report.errors.append(f"KUSTOMIZE {repo.rel(target)}: build failed (its AppProjects are unknown): {reason}")
            continue
        for body in result.documents():
            if body.get("kind") == "AppProject":
                projects[str((body.get("metadata") or {}).get("name", ""))] = body.get("spec") or {}
    return projects


def _source_overrides(root: Path) -> list[Path]:
    """Every .argocd-source file of the repository (the repo-server reads one in any synced folder)."""
    found = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d not in SKIP_DIRS)
        found += [Path(dirpath) / name for name in sorted(filenames) if is_source_override(name)]
    return found


def check_inputs(
    repo: Repo, ctx: policy.Context, targets: list[Path], skip: Iterable[str], report: Report, overrides: bool = True
) -> set[Path]:
    """The input-stage policies over what kustomize and Argo CD will read; the targets not to build.

    A target whose kustomizations reach the network or leave the repository is not built.
    """
    kustomizations = [t for t in targets if is_kustomization(t)]
    walks = {t: walk(t, repo.root) for t in kustomizations}
    docs = input_docs([k for found in walks.values() for k in found], repo.root)
    docs += [cluster_doc(repo.cluster_config(t)) for t in targets if repo.is_cluster_folder(t)]
    docs += [
        policy.Doc(repo.rel(path), {"kind": SOURCE_OVERRIDE}, label="Argo CD source override")
        for path in (_source_overrides(repo.root) if overrides else ())
    ]
    docs += [
        policy.Doc(repo.rel(path), {"kind": ADDON_FILE}, label="add-on file")
        for path in (repo.addon_files() if overrides else ())
    ]
    result = policy.run(docs, ctx, skip, stage=policy.INPUT)
    report.errors += [str(f) for f in result.findings]
    report.checks += result.checks
    mandatory = {pid for pid, p in policy.POLICIES.items() if p.mandatory}
    refused = {f.file for f in result.findings if f.id in mandatory}
    blocked = set()
    for target, found in walks.items():
        sources = {d.source for d in input_docs(found, repo.root)}
        if sources & refused:
            blocked.add(target)
    return blocked


def validate(repo: Repo, paths: list[Path] | None = None, skip: Iterable[str] = ()) -> Report:
    """Every step over ``paths`` (default: every cluster, overlay and argocd/ folder, and what Argo CD renders).

    With no ``paths``, every Application Argo CD would create from argocd/ (written there, or
    generated by an ApplicationSet) has its source rendered by the repo-server's own code, and
    the policies read that render. The policies in gitops.yaml's skipPolicies and in ``skip``
    do not run.
    """
    skip = skipped_policies(repo, skip)
    ctx = policy_context(repo)
    started = time.perf_counter()
    report = Report()
    targets = [Path(os.path.abspath(p)) for p in paths] if paths else default_targets(repo)
    for target in targets:
        if not target.exists():
            raise GitopsError(f"{target}: no such file or directory")

    # 1. yamllint over every YAML file (for the default run: the whole repository).
    lint_roots = targets if paths else [repo.root]
    files = yaml_files(lint_roots)
    report.files = len(files)
    run_yamllint(files, repo.root, report)

    # 2. Before kustomize runs: what it and Argo CD read (local files in the repository
    # only, bounded YAML, cluster configs); a target that would reach the network, leave the
    # repository or blow up is not built.
    blocked = check_inputs(repo, ctx, targets, skip, report)

    # 3. The Argo CD objects first (default run): the Applications they make decide what else
    # is rendered, and how.
    argocd = {t.resolve() for t in argocd_targets(repo)} if not paths else set()
    rendered: list[tuple[str, str, list[dict], str | None]] = []
    _render_targets(repo, [t for t in targets if t.resolve() in argocd], blocked, rendered, report)
    built = {label for label, _, _, _ in rendered}
    unread = [repo.rel(t) for t in targets if t.resolve() in argocd and is_kustomization(t)]
    ctx = dataclasses.replace(ctx, unread_projects=tuple(t for t in unread if t not in built))
    argocd_docs = [body for _, _, bodies, _ in rendered for body in bodies]
    if any(body.get("kind") in ("Application", "ApplicationSet") for body in argocd_docs):
        ctx = dataclasses.replace(ctx, projects=repository_projects(repo, targets, report))
    by_argocd: set[Path] = set()
    if argocd_docs:
        by_argocd = argocd_render.render_applications(
            repo, ctx, argocd_docs, targets, blocked, skip, rendered, report, check_inputs
        )

    # 4. The rest: kustomizations with kustomize, plain folders and files as they are.
    rest = [t for t in targets if t.resolve() not in argocd and t.resolve() not in by_argocd]
    _render_targets(repo, rest, blocked, rendered, report)
    report.targets = len(targets) + len({p for p in by_argocd if p not in {t.resolve() for t in targets}})
    report.documents = sum(len(docs) for _, _, docs, _ in rendered)

    # 5. kubeconform, offline and strict, against every pinned Kubernetes version.
    run_kubeconform([(label, text) for label, text, docs, _ in rendered if docs], schemas_dir(), report)

    # 6. Policy over every rendered document; Applications without their AppProjects in the
    # run are checked against the repository's.
    docs = [
        policy.Doc(label, body, env, addon=_addon_of(repo, label))
        for label, _, bodies, env in rendered
        for body in bodies
    ]
    # An add-on render with no document still owes its reviewed objects (GO162).
    docs += [
        policy.Doc(label, {"kind": ADDON_EMPTY}, env, label="(nothing rendered)", addon=_addon_of(repo, label))
        for label, _, bodies, env in rendered
        if not bodies and _addon_of(repo, label)
    ]
    if any(doc.kind in ("Application", "ApplicationSet") for doc in docs) and not ctx.projects:
        ctx = dataclasses.replace(ctx, projects=repository_projects(repo, targets, report))
    result = policy.run(docs, ctx, skip)
    report.errors += [str(f) for f in result.findings]
    report.checks += result.checks
    report.seconds = time.perf_counter() - started
    return report


def _addon_of(repo: Repo, label: str) -> str | None:
    """The add-on a render is of, by its label (the folder, and "(Application NAME)" when Argo CD rendered it)."""
    addon = repo.addon_of(repo.root / label.split(" (", 1)[0])
    return addon.name if addon else None


def _render_targets(repo: Repo, targets: list[Path], blocked: set[Path], rendered: list, report: Report) -> None:
    """Kustomizations with kustomize, plain folders and files as they are, appended to ``rendered``."""
    kustomizations = [t for t in targets if is_kustomization(t) and t not in blocked]
    plain = [t for t in targets if not is_kustomization(t)]
    for target, result in zip(kustomizations, build_many(kustomizations, root=repo.root), strict=True):
        label = repo.rel(target)
        if not isinstance(result, Rendered):
            report.errors.append(f"KUSTOMIZE {label}: build failed: {getattr(result, 'reason', result)}")
            continue
        if result.warnings:
            report.errors.append(f"KUSTOMIZE {label}: warning: {result.warnings.splitlines()[0]}")
        docs = result.documents()
        rendered.append((label, result.text, docs, repo.environment_of(result.target)))
    for target in plain:
        for path in yaml_files([target]):
            try:
                docs = load_documents(path, os.path.relpath(path, repo.root), code=1)
            except GitopsError as exc:
                report.errors.append(f"YAML {exc}")
                continue
            rendered.append((repo.rel(path), path.read_text(), docs, None))


def skipped_policies(repo: Repo, extra: Iterable[str] = ()) -> list[str]:
    """The policy ids switched off: gitops.yaml's skipPolicies plus ``extra`` (--skip-policy)."""
    skip = sorted({*repo.skip_policies, *extra})
    unknown = [pid for pid in skip if pid not in policy.POLICIES]
    if unknown:
        raise GitopsError(
            f"unknown policy id(s) {', '.join(unknown)} (gitops.yaml skipPolicies or --skip-policy); "
            "'gitops validate --list-policies' lists them"
        )
    try:
        policy.check_skippable(skip)
    except ValueError as exc:
        raise GitopsError(f"{exc} (gitops.yaml skipPolicies or --skip-policy)") from None
    return skip
