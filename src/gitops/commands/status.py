"""`gitops status`: which image each environment runs, on which clusters, since when.

With ``--live``, what Argo CD reports too: each cluster's Application, and the Argo CD
objects of argocd/ (the root Application and the ApplicationSet) with the messages of
their conditions. Anything not healthy is listed, and the exit code is then 1.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict, dataclass, field

from .. import console, files, gate, gitutil, images
from ..argocd_api import ArgoAPI, appset_health, live_of
from ..errors import FAILED, GitopsError, one_line
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
    state: str = ""  # "edited, not committed" / "committed, not pushed" when Git differs from what was pushed


def git_state(repo: Repo, path) -> str:
    """Whether ``path`` differs from what was committed, or its last commit is on no remote yet.

    Pushed means on any remote-tracking branch (`git push local HEAD:main` counts, whatever
    the branch's upstream is); a checkout with no remote says nothing about pushing.
    """
    try:
        rel = repo.rel(path)
        if gitutil.git(repo.root, "status", "--porcelain", "--", rel, check=False).stdout.strip():
            return "edited, not committed"
        last = gitutil.git(repo.root, "log", "-1", "--format=%H", "HEAD", "--", rel, check=False).stdout.strip()
        remotes = gitutil.git(repo.root, "for-each-ref", "--format=%(refname)", "refs/remotes", check=False)
        if last and remotes.stdout.strip():
            found = gitutil.git(
                repo.root, "for-each-ref", "--contains", last, "--format=%(refname)", "refs/remotes", check=False
            )
            if found.returncode == 0 and not found.stdout.strip():
                return "committed, not pushed"
    except GitopsError:
        pass
    return ""


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
                git_state(repo, path),
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
            (f"{r.commit} {r.date}" if r.commit else "uncommitted") + (f" ({r.state})" if r.state else ""),
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
    messages: list[str]
    problem: str | None  # why this is not healthy, None when it is
    reasons: list[str] = field(default_factory=list)  # its resources that are not healthy, and why


def live(repo: Repo, api: ArgoAPI) -> list[ClusterLive]:
    """What Argo CD reports now for each cluster folder's Application."""
    rows = []
    for cluster in repo.clusters():
        name = gate.app_name(repo, cluster.name)
        state = api.live(name)
        if state is None:
            rows.append(ClusterLive(cluster.name, cluster.environment, name, "Missing", "-", "", [], [],
                                    "not in Argo CD"))  # fmt: skip
            continue
        problem = None
        errors = [c for c in state.conditions if c.endswith("Error")]
        if state.health == "Missing" and state.sync == "OutOfSync" and not cluster.auto_sync:
            pass  # a manual-sync cluster nobody has synced yet: waiting for a person, as designed
        elif state.health != "Healthy":
            problem = f"{state.sync}/{state.health}"
        if errors and problem is None:
            problem = f"{state.sync}/{state.health} with {', '.join(errors)}"
        rows.append(
            ClusterLive(cluster.name, cluster.environment, name, state.sync, state.health, state.revision,
                        list(state.images), [*state.reasons, *state.messages], problem, list(state.reasons))
        )  # fmt: skip
    return rows


@dataclass
class ObjectLive:
    """One Argo CD object of argocd/ (the root Application, the ApplicationSet) as Argo CD reports it."""

    kind: str
    name: str
    sync: str
    health: str
    messages: list[str]
    problem: str | None


def argocd_objects(repo: Repo) -> list[tuple[str, str]]:
    """(kind, name) of the Applications and ApplicationSets in argocd/*.yaml (what the bootstrap applies)."""
    folder = repo.root / "argocd"
    try:
        paths = sorted(p for p in folder.iterdir() if p.suffix in (".yaml", ".yml") and p.is_file())
    except OSError:
        return []
    found = []
    for path in paths:
        try:
            docs = files.load_documents(path, repo.rel(path))
        except GitopsError:
            continue  # `gitops validate` reports a broken file; status shows what it can
        for doc in docs:
            kind, meta = doc.get("kind"), doc.get("metadata")
            name = meta.get("name") if isinstance(meta, dict) else None
            api_version = doc.get("apiVersion")
            if (
                kind in ("Application", "ApplicationSet")
                and isinstance(name, str)
                and isinstance(api_version, str)
                and api_version.startswith("argoproj.io/")
            ):
                found.append((kind, name))
    return found


def objects_live(repo: Repo, api: ArgoAPI) -> list[ObjectLive]:
    rows = []
    for kind, name in argocd_objects(repo):
        if kind == "Application":
            try:
                state = live_of(api.application(name))
            except GitopsError as error:
                if ": HTTP 404:" not in str(error):
                    raise
                rows.append(ObjectLive(kind, name, "Missing", "-", [], "not in Argo CD"))
                continue
            errors = [c for c in state.conditions if c.endswith("Error")]
            problem = None if state.health == "Healthy" and not errors else f"{state.sync}/{state.health}"
            rows.append(ObjectLive(kind, name, state.sync, state.health, list(state.messages), problem))
        else:
            appset = api.application_set(name)
            if appset is None:
                rows.append(ObjectLive(kind, name, "-", "Missing", [], "not in Argo CD"))
                continue
            health, messages = appset_health(appset)
            rows.append(ObjectLive(kind, name, "-", health, list(messages), None if health == "Healthy" else health))
    return rows


def live_table(rows: list[ClusterLive]) -> str:
    header = ("CLUSTER", "ENVIRONMENT", "SYNC", "HEALTH", "REVISION", "RUNNING IMAGE")
    table = [header] + [
        (r.cluster, r.environment, r.sync, r.health, r.revision[:12] or "-", ",".join(r.images) or "-") for r in rows
    ]
    table = [tuple(one_line(cell, 200) for cell in row) for row in table]
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() for row in table)


def _local_commit(repo: Repo, revision: str) -> bool:
    try:
        found = gitutil.git(repo.root, "cat-file", "-e", f"{revision}^{{commit}}", check=False)
    except GitopsError:
        return False
    return found.returncode == 0


def objects_table(rows: list[ObjectLive]) -> str:
    header = ("ARGO CD", "NAME", "SYNC", "HEALTH", "MESSAGE")
    table = [header] + [(r.kind, r.name, r.sync, r.health, "; ".join(r.messages) or "-") for r in rows]
    table = [tuple(one_line(cell, 200) for cell in row) for row in table]
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() for row in table)


def not_healthy(clusters: list[ClusterLive], objects: list[ObjectLive]) -> list[tuple[str, str, list[str]]]:
    """(what, state, messages) of everything Argo CD does not report healthy."""
    found = [(f"ApplicationSet {o.name}" if o.kind == "ApplicationSet" else f"Application {o.name}", o.problem,
              o.messages) for o in objects if o.problem]  # fmt: skip
    found += [(f"Application {c.application}", c.problem, c.messages) for c in clusters if c.problem]
    return found  # type: ignore[return-value]


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
    objects = objects_live(repo, api)
    problems = not_healthy(clusters, objects)
    if args.output == "json":
        document = {
            "environments": [asdict(r) for r in rows],
            "live": [asdict(c) for c in clusters],
            "argocd": [asdict(o) for o in objects],
            "healthy": not problems,
        }
        console.say(json.dumps(document, indent=2))
    else:
        console.say(status_table(rows) + "\n\n" + live_table(clusters))
        unknown = sorted({c.revision[:12] for c in clusters if c.revision and not _local_commit(repo, c.revision)})
        if unknown:
            console.say(
                f"(REVISION is the commit Argo CD synced; {', '.join(unknown)} is not in this checkout: with make up "
                "it is the remote's deploy/local, your main plus one commit setting its repoURL, so its hash "
                "differs from main's under CHANGED)"
            )
        console.say("\n" + objects_table(objects))
        if problems:
            console.say("\nnot healthy:")
            for what, state, messages in problems:
                console.say("- " + one_line(f"{what}: {state}" + "".join(f"; {m}" for m in messages), 1000))
    if problems:
        console.flush()
        reasons = {f"Application {c.application}": c.reasons[0] for c in clusters if c.problem and c.reasons}
        shown = ", ".join(
            f"{what} ({state}{': ' + reasons[what] if what in reasons else ''})" for what, state, _ in problems
        )
        raise GitopsError(f"status --live: not healthy in Argo CD: {shown}", FAILED)
    return 0
