"""The repository: its root, its gitops.yaml, its environments, clusters, add-ons and targets.

This module is the one reader of gitops.yaml and of each cluster's config.yaml, each
checked against its one schema (file_schemas.py). A cluster's config.yaml is read into a
``ClusterConfig`` that keeps every problem found in it: `gitops validate` reports them
(GO127), the other commands stop at the first with one line (``ClusterConfig.cluster``).

The cluster add-ons (``ADDONS``: Metrics Server) are reviewed code, not settings: what each
one is made of, where it lives and what its rendering must be are facts here, read by the
policies (policy/addons.py), `gitops configure` and the tests; docs/addons.md says how to
change them.
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple, cast

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


class Resource(NamedTuple):
    """A Kubernetes object as RBAC and AppProjects name it (namespace "" when cluster-scoped)."""

    group: str
    kind: str
    namespace: str
    name: str

    def __str__(self) -> str:
        return f"{self.kind}/{self.namespace + '/' if self.namespace else ''}{self.name}"


@dataclass(frozen=True)
class Addon:
    """A cluster add-on: synced to every cluster by the addons ApplicationSet, pinned by the gate.

    ``reviewed`` is every object its folder renders, each with the sha256 of its reviewed
    rendering (policy/addons.py ``rendering_digest``: the image left out, GO164 checks it).
    A change to what the add-on deploys is a change to these lines, reviewed with the code.
    """

    name: str  # its Applications are <name>-<cluster>
    path: str  # its kustomization folder, from the repository root
    namespace: str
    image: str  # the image name upstream's manifests use after vendoring (kustomization images: name)
    version: str  # the pinned release: the image tag
    files: tuple[str, ...]  # every file of its folder, from the folder
    reviewed: dict[Resource, str]
    binds: frozenset[tuple[str, str]]  # (Role or ClusterRole, name) its bindings name that it does not define
    api_service: tuple[str, str, str]  # (APIService, its Service's namespace, its Service's name)

    @property
    def resources(self) -> frozenset[Resource]:
        return frozenset(self.reviewed)

    def application(self, cluster: str) -> str:
        return f"{self.name}-{cluster}"

    def mirror(self, app_image: str) -> str:
        """The image repository the add-on runs from: the app's registry and owner, the add-on's name."""
        return f"{app_image.rsplit('/', 1)[0]}/{self.name}" if "/" in app_image else self.name


RBAC = "rbac.authorization.k8s.io"
METRICS_SERVER = Addon(
    name="metrics-server",
    path="addons/metrics-server",
    namespace="kube-system",
    image="metrics-server",
    version="v0.8.0",  # tools/versions.mk METRICS_SERVER_VERSION (a test keeps the two equal)
    files=(
        "kustomization.yaml",
        "upstream/apiservice.yaml",
        "upstream/deployment.yaml",
        "upstream/rbac.yaml",
        "upstream/service.yaml",
    ),
    reviewed={
        Resource(
            "apiregistration.k8s.io", "APIService", "", "v1beta1.metrics.k8s.io"
        ): "a80ab640369908c67e1f7a4b4469bf28cd5b53efcfa6d7f692260655f8c6edf4",
        Resource(
            RBAC, "ClusterRole", "", "system:aggregated-metrics-reader"
        ): "6b814b4d937169cab3d50150d95c691caaa0c91638ac073ce1cacc230d915b0f",
        Resource(
            RBAC, "ClusterRole", "", "system:metrics-server"
        ): "4547bd46e71b3c215746114a4bc2a044c51c15c9829f36d847428ac0169c4f9d",
        Resource(
            RBAC, "ClusterRoleBinding", "", "metrics-server:system:auth-delegator"
        ): "9adc9d958b82a20e99f63d7404e3a8372dfcac1cc75a9b0b9923985a60dfb715",
        Resource(
            RBAC, "ClusterRoleBinding", "", "system:metrics-server"
        ): "00653463040490c72c68727ef0b260b16fdadd28fb89baaaa90db5695d6eda0c",
        Resource(
            RBAC, "RoleBinding", "kube-system", "metrics-server-auth-reader"
        ): "2e74506ed77776d4c292fd953ecb4783d81e57f2e5a670a79d5f19344153dbc2",
        Resource(
            "", "ServiceAccount", "kube-system", "metrics-server"
        ): "6bedc4470e0e65b2f3e0a4cfb70ef76eec3aa8df5a70530be399ac390f40dec3",
        Resource(
            "", "Service", "kube-system", "metrics-server"
        ): "06f000e11957020aeb03b46fec5cea8db3fbbe9766aa562881e9f5e128311f19",
        Resource(
            "apps", "Deployment", "kube-system", "metrics-server"
        ): "ecc88532c0bc838770ffb9ce8700e0ec5687c79aa080b02f1b395d6d98632445",
    },
    binds=frozenset(
        {
            ("ClusterRole", "system:auth-delegator"),
            ("ClusterRole", "system:metrics-server"),
            ("Role", "extension-apiserver-authentication-reader"),
        }
    ),
    api_service=("v1beta1.metrics.k8s.io", "kube-system", "metrics-server"),
)
ADDONS: tuple[Addon, ...] = (METRICS_SERVER,)
ADDONS_DIR = "addons"  # every add-on's folder is under it (and nothing else is)
ADDONS_APPSET = (
    "addons"  # the ApplicationSet that makes every add-on's Applications (argocd/applicationset-addons.yaml)
)
ADDONS_PROJECT = "addons"  # their AppProject (argocd/projects/appproject-addons.yaml)
# The Argo CD annotations that ApplicationSet, and only it, carries (GO150): it is created
# before the app's (docs/addons.md); gitops.yaml reviewedAnnotations would allow it on every object.
ADDONS_APPSET_ANNOTATIONS = frozenset({"argocd.argoproj.io/sync-wave=-1"})
# The account Argo CD syncs them as on every workload cluster (argocd/destinations/*-addons.yaml),
# and its ClusterRole, Role (in each add-on's namespace) and bindings.
ADDONS_DEPLOYER = "flask-gitops-sync:addons-deployer"
ADDONS_DEPLOYER_ROLE = "flask-gitops-addons-deployer"
# How Argo CD syncs every add-on Application (the addons ApplicationSet's template), exactly:
# pruned and self-healed everywhere, applied server-side, retried; and what the
# ApplicationSet itself keeps when it or a cluster folder goes (argocd/applicationset-addons.yaml).
ADDONS_SYNC_POLICY: dict = {
    "automated": {"prune": True, "selfHeal": True},
    "syncOptions": ["ServerSideApply=true"],
    "retry": {"limit": 5, "refresh": True, "backoff": {"duration": "5s", "factor": 2, "maxDuration": "30s"}},
}
ADDONS_APPSET_SYNC_POLICY: dict = {"preserveResourcesOnDeletion": True}
# The one role of the addons AppProject (argocd/projects/appproject-addons.yaml): read-only.
ADDONS_PROJECT_ROLES: tuple[dict, ...] = (
    {
        "name": "read-only",
        "description": "See the add-on applications, their diffs and logs; change nothing.",
        "policies": [
            f"p, proj:{ADDONS_PROJECT}:read-only, applications, get, {ADDONS_PROJECT}/*, allow",
            f"p, proj:{ADDONS_PROJECT}:read-only, logs, get, {ADDONS_PROJECT}/*, allow",
        ],
        "groups": ["flask-gitops:developers", "flask-gitops:platform"],
    },
)
# Those objects, each with the sha256 of its reviewed rendering (policy/addons.py
# ``rendering_digest``): whatever they may do is pinned here, like the add-ons' own objects
# (GO169); `gitops validate` prints the new sha256 of a changed one.
ADDONS_DEPLOYER_REVIEWED: dict[Resource, str] = {
    Resource(
        "", "ServiceAccount", "flask-gitops-sync", "addons-deployer"
    ): "65ee99cfbeaf3d41ed0d80febec09102eb7dd43b1e2e6ff3279030d3ac398446",
    Resource(
        RBAC, "ClusterRole", "", ADDONS_DEPLOYER_ROLE
    ): "5e624852ce15abb3c089cd71eabb61f7f919ca188d99de61e7c07701a7b2bad1",
    Resource(
        RBAC, "ClusterRoleBinding", "", ADDONS_DEPLOYER_ROLE
    ): "6766670163bee463222d093dea0469ddfdeece5a382f8c96604e33a22348b483",
    Resource(
        RBAC, "Role", "kube-system", ADDONS_DEPLOYER_ROLE
    ): "12477eafef35da9a76a1353eb9146e37955ac30f05a6c3344b8624ffb168c5be",
    Resource(
        RBAC, "RoleBinding", "kube-system", ADDONS_DEPLOYER_ROLE
    ): "e56528c500e02308bcd7536f100957c25f9aa10a31a5d6291ec344384d2c68cf",
}


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
    addons: tuple[Addon, ...] = ADDONS  # the cluster add-ons (reviewed code, not gitops.yaml)

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

    def addon_of(self, folder: Path) -> Addon | None:
        """The add-on whose folder ``folder`` is (None for any other folder)."""
        here = Path(os.path.abspath(folder))
        return next((a for a in self.addons if Path(os.path.abspath(self.root / a.path)) == here), None)

    def addon_files(self) -> list[Path]:
        """Every file and folder under the add-ons folder (what GO166 compares with the reviewed files)."""
        top = self.root / ADDONS_DIR
        if not top.is_dir() or top.is_symlink():
            return [top] if os.path.lexists(top) else []
        found: list[Path] = []
        for dirpath, dirnames, filenames in os.walk(top):
            dirnames.sort()
            found += [Path(dirpath) / name for name in sorted(filenames)]
            found += [Path(dirpath) / name for name in dirnames if (Path(dirpath) / name).is_symlink()]
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
