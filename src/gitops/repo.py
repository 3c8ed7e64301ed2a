"""The repository: its root, its gitops.yaml, its environments, clusters and targets.

This module is the one reader of gitops.yaml and of each cluster's config.yaml, each
checked against its one schema (file_schemas.py). A cluster's config.yaml is read into a
``ClusterConfig`` that keeps every problem found in it: `gitops validate` reports them
(GO127), the other commands stop at the first with one line (``ClusterConfig.cluster``).
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import cast

from . import file_schemas
from .errors import GitopsError, one_line
from .files import inside, load_yaml

GITOPS_YAML = "gitops.yaml"
CLUSTER_CONFIG = "config.yaml"  # in each cluster folder: what the ApplicationSet's git generator reads
KUSTOMIZATION_FILES = ("kustomization.yaml", "kustomization.yml", "Kustomization")
DEFAULT_REVISION = "HEAD"  # the repository's default branch, the one pull requests merge into
DEFAULT_SYNC_OPTIONS = frozenset({"CreateNamespace=true", "ServerSideApply=true", "PruneLast=true"})
DEFAULT_GENERATORS = frozenset({"git"})
DEFAULT_HEALTHY_FOR = 30  # seconds: health reported a moment after a sync can be stale


def find_root(start: Path | None = None) -> Path:
    """The nearest directory at or above ``start`` (a folder) holding gitops.yaml."""
    try:
        if start is not None and not start.is_dir():
            raise GitopsError(f"-C {one_line(str(start))}: not a folder")
        here = (start or Path.cwd()).resolve()
        for candidate in (here, *here.parents):
            if (candidate / GITOPS_YAML).is_file():
                return candidate
    except (OSError, RuntimeError, ValueError) as exc:  # a vanished cwd, a symlink loop, a NUL byte
        raise GitopsError(f"{one_line(str(start or '.'))}: cannot use this folder: {exc}") from None
    raise GitopsError(f"{GITOPS_YAML} not found in {one_line(str(here))} or any parent (run inside the repository)")


@dataclass
class Cluster:
    name: str
    path: Path  # the cluster folder
    environment: str
    namespace: str
    auto_sync: bool
    url: str


@dataclass(frozen=True)
class ClusterConfig:
    """A cluster folder's config.yaml as read, with every problem its schema or reading found."""

    folder: Path
    source: str  # the file, from the repository root
    content: object = None  # the parsed file (None when it could not be read)
    readable: bool = False
    problems: tuple[tuple[str, str], ...] = ()  # (field, message); "(file)" when it could not be read

    @property
    def data(self) -> dict | None:
        """The content when it was read and is a mapping, whatever else is wrong with it."""
        return self.content if self.readable and isinstance(self.content, dict) else None

    @property
    def environment(self) -> str | None:
        """The environment as written (its problems say whether it is one of gitops.yaml's)."""
        env = (self.data or {}).get("environment")
        return None if env is None else str(env)

    def cluster(self) -> Cluster:
        """The typed cluster, or a one-line error naming the file's first problem."""
        if self.problems:
            where, problem = self.problems[0]
            raise GitopsError(
                one_line(f"{self.source}: {problem}" if where == "(file)" else f"{self.source}: {where}: {problem}")
            )
        data = cast(dict, self.content)  # a mapping of the schema's types: it has no problems
        return Cluster(
            name=data["cluster"]["name"],
            path=self.folder,
            environment=data["environment"],
            namespace=data["namespace"],
            auto_sync=data["autoSync"],
            url=data["url"],
        )


def read_cluster_config(folder: Path, root: Path, environments: tuple[str, ...]) -> ClusterConfig:
    """``folder``'s config.yaml, checked against its schema (parsed once per version of the file)."""
    path = folder / CLUSTER_CONFIG
    source = os.path.relpath(os.path.abspath(path), os.path.abspath(root))
    if not inside(Path(os.path.realpath(path)), Path(os.path.realpath(root))):
        return ClusterConfig(
            folder, source, problems=(("(file)", "its real location (symlinks resolved) is outside the repository"),)
        )
    try:
        stat = path.stat()
    except FileNotFoundError:
        return ClusterConfig(folder, source, problems=(("(file)", "missing: every cluster folder needs one"),))
    except OSError as exc:
        return ClusterConfig(folder, source, problems=(("(file)", f"cannot be read: {exc.strerror}"),))
    return _parse_cluster_config(folder, source, environments, stat.st_mtime_ns, stat.st_size)


@functools.lru_cache(maxsize=1024)
def _parse_cluster_config(
    folder: Path, source: str, environments: tuple[str, ...], mtime_ns: int, size: int
) -> ClusterConfig:
    try:
        content = load_yaml(folder / CLUSTER_CONFIG)  # bounded, regular files only, strict YAML
    except GitopsError as exc:
        return ClusterConfig(
            folder, source, problems=(("(file)", f"cannot be read: {' '.join(str(exc).split())[:160]}"),)
        )
    problems = file_schemas.cluster_config_problems(content, environments)
    return ClusterConfig(folder, source, content, readable=True, problems=problems)


@dataclass
class Repo:
    root: Path
    repo_url: str
    image: str
    app: str
    overlays_dir: Path
    clusters_dir: Path
    environments: list[str]
    digest_required: set[str] = field(default_factory=set)
    skip_policies: list[str] = field(default_factory=list)  # policy ids switched off for this repository
    # What Argo CD is told beyond a path (policy/controls.py); the defaults are this repository's own.
    argocd_dir: Path | None = None  # the folder the root Application syncs
    revision: str = DEFAULT_REVISION  # the one targetRevision Applications and generators may track
    reviewed_sync_options: frozenset[str] = DEFAULT_SYNC_OPTIONS
    reviewed_annotations: frozenset[str] = frozenset()
    reviewed_app_fields: frozenset[str] = frozenset()
    reviewed_generators: frozenset[str] = DEFAULT_GENERATORS
    reviewed_finalizers: frozenset[str] = frozenset()
    manual_sync: frozenset[str] = frozenset()  # environments never synced automatically
    reviewed_projects: frozenset[str] | None = None  # the AppProjects that may exist (None: the policy default)
    healthy_for: int = DEFAULT_HEALTHY_FOR  # seconds of stable health the promotion gate waits for
    soak: dict[str, int] = field(default_factory=dict)  # environment -> seconds, before it is promoted from

    @classmethod
    def load(cls, root: Path | None = None) -> Repo:
        root = find_root(root)
        data = file_schemas.check(load_yaml(root / GITOPS_YAML, GITOPS_YAML), file_schemas.GITOPS_YAML, GITOPS_YAML)
        envs = list(data["environments"])
        for key in ("digestRequired", "manualSync", "soak"):
            unknown = [env for env in data.get(key, []) if env not in envs]
            if unknown:
                raise GitopsError(f"{GITOPS_YAML}: {key}: {', '.join(unknown)} not in environments")
        return cls(
            root=root,
            repo_url=data["repoURL"],
            image=data["image"],
            app=data.get("app", "flask-app"),
            overlays_dir=root / data.get("overlays", "apps/flask-app/overlays"),
            clusters_dir=root / data.get("clusters", "clusters"),
            environments=envs,
            digest_required=set(data.get("digestRequired", [])),
            skip_policies=list(data.get("skipPolicies", [])),
            argocd_dir=root / data.get("argocd", "argocd"),
            revision=data.get("revision", DEFAULT_REVISION),
            reviewed_sync_options=frozenset(data.get("reviewedSyncOptions", DEFAULT_SYNC_OPTIONS)),
            reviewed_annotations=frozenset(data.get("reviewedAnnotations", ())),
            reviewed_app_fields=frozenset(data.get("reviewedAppFields", ())),
            reviewed_generators=frozenset(data.get("reviewedGenerators", DEFAULT_GENERATORS)),
            reviewed_finalizers=frozenset(data.get("reviewedFinalizers", ())),
            # Without a manualSync list, the last environment of the promotion order (prod) syncs by hand.
            manual_sync=frozenset(data.get("manualSync", envs[-1:])),
            reviewed_projects=frozenset(data["reviewedAppProjects"]) if "reviewedAppProjects" in data else None,
            healthy_for=file_schemas.seconds(data.get("healthyFor", f"{DEFAULT_HEALTHY_FOR}s")),
            soak={env: file_schemas.seconds(text) for env, text in data.get("soak", {}).items()},
        )

    def stable_for(self, env: str) -> int:
        """Seconds of stable health ``env`` needs before it is promoted from."""
        return max(self.healthy_for, self.soak.get(env, 0))

    def rel(self, path: Path) -> str:
        try:
            return os.path.relpath(path, self.root)
        except ValueError:
            return str(path)

    def overlay(self, env: str) -> Path:
        if env not in self.environments:
            raise GitopsError(
                f"{GITOPS_YAML}: environments: unknown environment {env!r} (known: {', '.join(self.environments)})"
            )
        return self.overlays_dir / env

    def kustomization(self, env: str) -> Path:
        path = self.overlay(env) / "kustomization.yaml"
        if not path.is_file():
            what = "not a regular file" if os.path.lexists(path) else f"missing (environment {env!r} has no overlay)"
            raise GitopsError(f"{self.rel(path)}: {what}")
        return path

    def cluster_folders(self) -> list[Path]:
        """Every folder of the clusters folder, whatever its config.yaml holds."""
        try:
            return sorted(p for p in self.clusters_dir.iterdir() if p.is_dir())
        except OSError as exc:
            where = self.rel(self.clusters_dir)
            raise GitopsError(f"{where}: cannot list the cluster folders: {exc.strerror}") from None

    def cluster_config(self, folder: Path) -> ClusterConfig:
        """A cluster folder's config.yaml as read, problems included (what `gitops validate` reports)."""
        return read_cluster_config(folder, self.root, tuple(self.environments))

    def cluster_configs(self) -> dict[str, ClusterConfig]:
        """Every cluster folder's config.yaml, by folder name (none when there is no clusters folder)."""
        folders = self.cluster_folders() if self.clusters_dir.is_dir() else []
        return {folder.name: self.cluster_config(folder) for folder in folders}

    def clusters(self) -> list[Cluster]:
        return [self.cluster(folder) for folder in self.cluster_folders()]

    def cluster(self, folder: Path) -> Cluster:
        """The cluster of a folder, from its config.yaml; a one-line error when it has a problem."""
        return self.cluster_config(folder).cluster()

    def is_cluster_folder(self, target: Path) -> bool:
        return target.is_dir() and Path(os.path.abspath(target)).parent == Path(os.path.abspath(self.clusters_dir))

    def default_targets(self) -> list[Path]:
        """What `gitops validate` checks with no arguments: clusters, overlays, argocd/."""
        targets = [c.path for c in self.clusters()]
        targets += [self.overlays_dir / env for env in self.environments]
        return targets + self.argocd_targets()

    def argocd_targets(self) -> list[Path]:
        """What the root Application syncs: every kustomization folder under argocd/ (any file name
        kustomize reads), and argocd/ itself when it has none (Argo CD then reads its files as they are)."""
        folder = self.argocd_dir or self.root / "argocd"
        found = sorted({p.parent for name in KUSTOMIZATION_FILES for p in folder.rglob(name) if p.is_file()})
        if folder.is_dir() and not is_kustomization(folder):
            found.insert(0, folder)
        return found

    def environment_of(self, target: Path) -> str | None:
        """The environment an overlay or cluster folder renders, as written (GO127 checks a cluster's)."""
        for env in self.environments:
            if (self.overlays_dir / env).resolve() == target.resolve():
                return env
        if self.is_cluster_folder(target):
            return self.cluster_config(target).environment
        return None


def is_kustomization(path: Path) -> bool:
    return path.is_dir() and any((path / name).is_file() for name in KUSTOMIZATION_FILES)
