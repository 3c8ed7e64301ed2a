"""The promotion gate: promote only what Argo CD reports live and healthy.

For every cluster of the source environment, its Application (``<app>-<cluster>``, as the
ApplicationSet names it) must be Synced and Healthy, with no sync running, at a Git
revision whose rendered Deployment runs exactly the image being promoted, and Argo CD's
live summary must show that image running. Then health must be stable (health.py): the
sync finished after that commit was made, health unchanged and no pod restarted for
``healthyFor`` (or the environment's ``soak``). Anything else refuses the promotion with
one line naming the cluster, its state and, when it is not healthy, the resources that
are not and why (``--force`` turns that into a note in the pull request body); a wait
says how long is left. Without an Argo CD API the gate is not checked, and the tool says so.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from . import health
from .argocd_api import ArgoAPI, Live
from .errors import FAILED, GitopsError
from .images import ImageRef
from .repo import Repo


def rendered(name: str, ref: ImageRef) -> str:
    """The image string Kustomize renders for an `images:` entry."""
    text = f"{name}:{ref.tag}" if ref.tag else name
    return f"{text}@{ref.digest}" if ref.digest else text


@dataclass(frozen=True)
class ClusterState:
    cluster: str
    live: Live | None

    def row(self) -> str:
        if self.live is None:
            return f"| {self.cluster} | no Application | | | |"
        images = ", ".join(f"`{code(i)}`" for i in self.live.images) or "-"
        return (
            f"| {cell(self.cluster)} | {cell(self.live.sync)} | {cell(self.live.health)} | "
            f"`{cell(self.live.revision[:12]) or '-'}` | {images} |"
        )


def cell(text: str) -> str:
    """Text from the Argo CD server, safe in a Markdown table cell or code span."""
    return "".join(c for c in text if c.isprintable() and c not in "|`@<>[]\\")[:200]


def code(text: str) -> str:
    """Text from the Argo CD server for a code span in a table cell: an image keeps its ``@`` (tag@digest);
    inside a code span it mentions nobody."""
    return "".join(c for c in text if c.isprintable() and c not in "|`<>[]\\")[:200]


def app_name(repo: Repo, cluster: str) -> str:
    return f"{repo.app}-{cluster}"


def states(repo: Repo, api: ArgoAPI, env: str) -> list[ClusterState]:
    return [ClusterState(c.name, api.live(app_name(repo, c.name))) for c in repo.clusters() if c.environment == env]


def refusal(repo: Repo, api: ArgoAPI, env: str, ref: ImageRef) -> str | None:
    """Why ``env`` may not be promoted from with ``ref`` now, or None when it may."""
    clusters = states(repo, api, env)
    if not clusters:
        return f"{env} has no cluster folder: nothing to check"
    image = rendered(ref.name or repo.image, ref)
    for state in clusters:
        name = app_name(repo, state.cluster)
        live = state.live
        if live is None:
            return f"{env}: cluster {state.cluster}: Argo CD has no Application {name}"
        if not live.settled:
            why = f"{env}: cluster {state.cluster} is {live.describe()}, not Synced + Healthy"
            return why + (": " + "; ".join(live.reasons[:3]) if live.reasons else "")
        at_revision = api.deployed_images(name, live.revision)
        if image not in at_revision:
            shown = ", ".join(sorted(at_revision)) or "no Deployment"
            return f"{env}: cluster {state.cluster} runs revision {live.revision[:12]} with {shown}, not {image}"
        if image not in live.images:
            running = ", ".join(live.images) or "no image"
            return f"{env}: cluster {state.cluster}: Argo CD sees {running} running, not {image}"
        try:
            committed = health.parse_time(api.revision_date(name, live.revision))
        except GitopsError:
            committed = None
        stability = health.stability(api, api.application(name))
        why = health.unstable(stability, committed, repo.stable_for(env), dt.datetime.now(dt.UTC))
        if why:
            return f"{env}: cluster {state.cluster}: {why}"
    return None


def table(title: str, clusters: list[ClusterState]) -> list[str]:
    return [
        f"#### {title}",
        "",
        "| cluster | sync | health | revision | running image |",
        "|---|---|---|---|---|",
        *(c.row() for c in clusters),
        "",
    ]


def check(repo: Repo, api: ArgoAPI | None, source: str, ref: ImageRef, force: bool) -> list[str]:
    """Run the gate; returns the pull request body's lines about it. Raises when it refuses."""
    if api is None:
        return ["Argo CD gate: **not checked** (no `--argocd` / `ARGOCD_SERVER`): nobody confirmed that "
                f"`{source}` runs this image and is healthy.", ""]  # fmt: skip
    reason = refusal(repo, api, source, ref)
    if reason and not force:
        raise GitopsError(f"promote: refused by the Argo CD gate: {reason} (--force to promote anyway)", FAILED)
    head = (
        [f"Argo CD gate: **forced past** (`--force`): {reason}.", ""]
        if reason
        else [f"Argo CD gate: every `{source}` cluster is Synced + Healthy and runs this image.", ""]
    )
    return head + table(f"{source} in Argo CD now", states(repo, api, source))
