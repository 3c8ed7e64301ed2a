"""`gitops status`: which image each environment runs, on which clusters, since when."""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict, dataclass

from .. import gitutil, images
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
        last = gitutil.git(repo.root, "log", "-1", "--format=%h %cs", "--", repo.rel(path), check=False)
        commit, _, date = last.stdout.strip().partition(" ")
        rows.append(
            EnvStatus(
                env,
                [c.name for c in clusters if c.environment == env],
                ref.name,
                ref.tag,
                ref.digest,
                commit or None,
                date or None,
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
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() for row in table)


def status_json(rows: list[EnvStatus]) -> str:
    return json.dumps([asdict(r) for r in rows], indent=2)


def run(repo: Repo, args: argparse.Namespace) -> int:
    rows = status(repo)
    print(status_json(rows) if args.output == "json" else status_table(rows))
    return 0
