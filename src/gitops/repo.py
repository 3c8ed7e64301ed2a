"""The repository: its root, its gitops.yaml, its environments, clusters and targets."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from .errors import GitopsError
from .files import load_yaml

CONFIG_FILE = "gitops.yaml"
KUSTOMIZATION_FILES = ("kustomization.yaml", "kustomization.yml", "Kustomization")


def find_root(start: Path | None = None) -> Path:
    """The nearest directory at or above ``start`` holding gitops.yaml."""
    here = (start or Path.cwd()).resolve()
    for candidate in (here, *here.parents):
        if (candidate / CONFIG_FILE).is_file():
            return candidate
    raise GitopsError(f"{CONFIG_FILE} not found in {here} or any parent (run inside the repository)")


@dataclass
class Cluster:
    name: str
    path: Path  # the cluster folder
    environment: str
    namespace: str
    auto_sync: bool
    url: str


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

    @classmethod
    def load(cls, root: Path | None = None) -> Repo:
        root = find_root(root)
        path = root / CONFIG_FILE
        data = load_yaml(path)
        if not isinstance(data, dict):
            raise GitopsError(f"{path}: expected a mapping at the top level")
        try:
            envs = list(data["environments"])
            repo = cls(
                root=root,
                repo_url=str(data["repoURL"]),
                image=str(data["image"]),
                app=str(data.get("app", "flask-app")),
                overlays_dir=root / data.get("overlays", "apps/flask-app/overlays"),
                clusters_dir=root / data.get("clusters", "clusters"),
                environments=envs,
                digest_required=set(data.get("digestRequired") or []),
                skip_policies=[str(pid) for pid in data.get("skipPolicies") or []],
            )
        except (KeyError, TypeError) as exc:
            raise GitopsError(f"{path}: missing or malformed field {exc}") from None
        if len(set(envs)) != len(envs) or not envs:
            raise GitopsError(f"{path}: field environments must list distinct names")
        return repo

    def rel(self, path: Path) -> str:
        try:
            return os.path.relpath(path, self.root)
        except ValueError:
            return str(path)

    def overlay(self, env: str) -> Path:
        if env not in self.environments:
            raise GitopsError(
                f"{CONFIG_FILE}: environments: unknown environment {env!r} (known: {', '.join(self.environments)})"
            )
        return self.overlays_dir / env

    def kustomization(self, env: str) -> Path:
        path = self.overlay(env) / "kustomization.yaml"
        if not path.is_file():
            raise GitopsError(f"{self.rel(path)}: missing (environment {env!r} has no overlay)")
        return path

    def clusters(self) -> list[Cluster]:
        out = []
        for folder in sorted(p for p in self.clusters_dir.iterdir() if p.is_dir()):
            config_path = folder / "config.yaml"
            if not config_path.is_file():
                raise GitopsError(f"{self.rel(config_path)}: missing (every cluster folder needs one)")
            data = load_yaml(config_path)
            try:
                out.append(
                    Cluster(
                        name=str(data["cluster"]["name"]),
                        path=folder,
                        environment=str(data["environment"]),
                        namespace=str(data["namespace"]),
                        auto_sync=bool(data.get("autoSync", False)),
                        url=str(data.get("url", "")),
                    )
                )
            except (KeyError, TypeError) as exc:
                raise GitopsError(f"{self.rel(config_path)}: missing field {exc}") from None
        return out

    def default_targets(self) -> list[Path]:
        """What `gitops validate` checks with no arguments: clusters, overlays, argocd/."""
        targets = [c.path for c in self.clusters()]
        targets += [self.overlays_dir / env for env in self.environments]
        argocd = self.root / "argocd"
        targets += [p.parent for p in sorted(argocd.rglob("kustomization.yaml"))]
        return targets

    def environment_of(self, target: Path) -> str | None:
        """The environment a target renders, when it is a known overlay or cluster."""
        target = target.resolve()
        for env in self.environments:
            if (self.overlays_dir / env).resolve() == target:
                return env
        if target.parent == self.clusters_dir.resolve() and (target / "config.yaml").is_file():
            data = load_yaml(target / "config.yaml")
            if isinstance(data, dict):
                return str(data.get("environment"))
        return None


def is_kustomization(path: Path) -> bool:
    return path.is_dir() and any((path / name).is_file() for name in KUSTOMIZATION_FILES)
