"""`gitops status`: which image each environment runs, on which clusters, since when."""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict, dataclass

from .. import console, gate, gitutil, images
from ..argocd import ArgoAPI
from ..errors import GitopsError, one_line
from ..repo import Repo


@dataclass
class EnvStatus:
    environment: str
    clusters: list[str]
    image: str | None
    tag: str | None
    digest: str | None
    commit: str | None
    date: str | None


def status(repo: Repo) -> list[EnvStatus]:
    clusters = repo.clusters()
    rows = []
    for env in repo.environments:
        path = repo.kustomization(env)
        ref = images.read(path, repo.app, repo.rel(path))
        commit, date = gitutil.last_change(repo.root, path)
        rows.append(
            EnvStatus(
                env,
                [c.name for c in clusters if c.environment == env],
                ref.name,
                ref.tag,
                ref.digest,
                commit,
                date,
            )
        )
    return rows


def status_table(rows: list[EnvStatus]) -> str:
    header = ("ENVIRONMENT", "CLUSTERS", "IMAGE", "TAG", "DIGEST", "CHANGED")
    table = [header] + [
        (
            r.environment,
            ",".join(r.clusters) or "-",
            r.image or "-",
            r.tag or "-",
            (r.digest or "-")[:19],
            f"{r.commit} {r.date}" if r.commit else "uncommitted",
        )
        for r in rows
    ]
    table = [tuple(one_line(cell, 200) for cell in row) for row in table]  # a hand-edited file cannot break the table
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() for row in table)


def status_json(rows: list[EnvStatus]) -> str:
    return json.dumps([asdict(r) for r in rows], indent=2)


@dataclass
class ClusterLive:
    cluster: str
    environment: str
    application: str
    sync: str
    health: str
    revision: str
    images: list[str]


def live(repo: Repo, api: ArgoAPI) -> list[ClusterLive]:
    """What Argo CD reports now for each cluster folder's Application."""
    rows = []
    for cluster in repo.clusters():
        name = gate.app_name(repo, cluster.name)
        state = api.live(name)
        if state is None:
            rows.append(ClusterLive(cluster.name, cluster.environment, name, "Missing", "-", "", []))
            continue
        images_ = list(state.images)
        rows.append(
            ClusterLive(cluster.name, cluster.environment, name, state.sync, state.health, state.revision, images_)
        )
    return rows


def live_table(rows: list[ClusterLive]) -> str:
    header = ("CLUSTER", "ENVIRONMENT", "SYNC", "HEALTH", "REVISION", "RUNNING IMAGE")
    table = [header] + [
        (r.cluster, r.environment, r.sync, r.health, r.revision[:12] or "-", ",".join(r.images) or "-") for r in rows
    ]
    table = [tuple(one_line(cell, 200) for cell in row) for row in table]
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() for row in table)


def run(repo: Repo, args: argparse.Namespace) -> int:
    rows = status(repo)
    if args.argocd and not args.live:
        raise GitopsError("status: --argocd needs --live", 2)
    if not args.live:
        console.say(status_json(rows) if args.output == "json" else status_table(rows))
        return 0
    api = ArgoAPI.from_env(args.argocd)
    if api is None:
        raise GitopsError("status --live: give --argocd URL or set ARGOCD_SERVER (and ARGOCD_AUTH_TOKEN)", 2)
    clusters = live(repo, api)
    if args.output == "json":
        console.say(
            json.dumps({"environments": [asdict(r) for r in rows], "live": [asdict(c) for c in clusters]}, indent=2)
        )
    else:
        console.say(status_table(rows) + "\n\n" + live_table(clusters))
    return 0
