"""Rollback to a revision: an environment's folders as they were at an earlier commit.

``gitops rollback ENV`` restores everything that makes ENV what it is in this repository,
its overlay folder and its clusters' folders (image and configuration), to a revision:
the one Argo CD deployed before the current one (each cluster's ``status.history``), or
``--revision SHA``. The files are copied byte for byte from that commit (added, changed or
deleted as they were), as a new commit: history is never rewritten.

A rollback is sticky. Its commit records what it rolled back from in trailers:

    Rolled-back-from: <the revision ENV was at>
    Rolled-back-image: <the image ENV ran there>

While that commit is the newest change to ENV's folders, deploying that image or that
revision into ENV again is refused, naming the rollback (``--force`` overrides). Anything
newer (another deploy, another rollback) ends it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from . import files, gitutil, images
from .errors import BAD_INPUT, FAILED, GitopsError
from .repo import Repo

HISTORY = 500  # commits of ENV's folders looked at
FROM = "Rolled-back-from"
IMAGE = "Rolled-back-image"


def folders(repo: Repo, env: str) -> list[Path]:
    """What makes ``env`` in this repository: its overlay and its clusters' folders."""
    return [repo.overlay(env), *(c.path for c in repo.clusters() if c.environment == env)]


def resolve(repo: Repo, revision: str, what: str = "--revision") -> str:
    """The full commit id of ``revision``, or exit 2 naming it."""
    if not revision or revision.startswith("-") or len(revision) > 200 or not revision.isprintable():
        raise GitopsError(f"rollback: {what} {revision!r}: not a commit", BAD_INPUT)
    found = gitutil.git(repo.root, "rev-parse", "--verify", "--quiet", f"{revision}^{{commit}}", check=False)
    if found.returncode != 0:
        raise GitopsError(f"rollback: {what} {revision}: no such commit in this repository (git fetch?)", BAD_INPUT)
    return found.stdout.strip()


def changes_of(repo: Repo, env: str, until: str = "HEAD") -> list[str]:
    """The commits that changed ``env``'s folders, newest first (first-parent history of ``until``)."""
    rel = [repo.rel(p) for p in folders(repo, env)]
    try:
        log = gitutil.git(repo.root, "log", "--first-parent", f"--max-count={HISTORY}", "--format=%H", until, "--",
                          *rel, check=False)  # fmt: skip
    except GitopsError:
        return []  # no git here: nothing was deployed through it
    return log.stdout.split() if log.returncode == 0 else []


def _tree(repo: Repo, revision: str, env: str) -> dict[str, tuple[str, str]]:
    """Path -> (mode, blob id) of every entry under ``env``'s folders at ``revision`` (NUL-separated:
    any file name)."""
    rel = [repo.rel(p) for p in folders(repo, env)]
    listed = gitutil.git_bytes(repo.root, "ls-tree", "-r", "-z", "--full-tree", revision, "--", *rel)
    entries = {}
    for record in listed.decode("utf-8", "surrogateescape").split("\0"):
        if record:
            meta, _, name = record.partition("\t")
            mode, _kind, oid = meta.split()
            entries[name] = (mode, oid)
    return entries


@dataclass(frozen=True)
class Restore:
    """ENV's folders going back to ``revision`` from ``current`` (an edit `deploy` can make)."""

    env: str
    revision: str
    current: str
    image_now: images.ImageRef
    image_then: images.ImageRef
    changes: tuple[files.Change, ...]

    @property
    def changed(self) -> bool:
        return bool(self.changes)

    def file_changes(self) -> list[files.Change]:
        return list(self.changes)

    def files(self) -> list[Path]:
        return [c.path for c in self.changes]

    def summary(self) -> str:
        if not self.changes:
            return f"{self.env}: already as at {self.revision[:12]}"
        names = ", ".join(c.label for c in self.changes)
        return f"{self.env}: restored as at {self.revision[:12]} (was {self.current[:12]}): {names}"

    def subject(self, app: str) -> str:
        image = f"{IMAGE}: {self.image_now}\n" if self.image_now != self.image_then else ""
        return (
            f"rollback({self.env}): {app} as at {self.revision[:12]} (from {self.current[:12]})\n\n"
            f"{FROM}: {self.current}\n{image}"
        )


def plan_restore(repo: Repo, env: str, revision: str, checked: bool = True) -> Restore:
    """``env``'s folders as at ``revision`` (nothing written). ``checked``: ``revision`` must be
    one of the commits that changed them (a revision given by hand)."""
    changed = changes_of(repo, env)
    if not changed:
        raise GitopsError(f"rollback: no commit on this branch changed {env}'s folders", FAILED)
    if checked and revision not in changed:
        shown = ", ".join(c[:12] for c in changed[:6])
        raise GitopsError(
            f"rollback: {revision[:12]} never changed {env} ({', '.join(repo.rel(p) for p in folders(repo, env))}); "
            f"the commits that did, newest first: {shown}",
            BAD_INPUT,
        )
    if revision == changed[0]:
        raise GitopsError(f"rollback: {env} is as at {revision[:12]} now: nothing to roll back", FAILED)
    rel = [repo.rel(p) for p in folders(repo, env)]
    dirty = gitutil.git(repo.root, "status", "--porcelain", "--ignored", "--", *rel).stdout.strip()
    if dirty:
        raise GitopsError(
            f"rollback: {', '.join(rel)}: uncommitted or ignored files; commit, stash or remove them first", FAILED
        )
    now, then_tree = _tree(repo, "HEAD", env), _tree(repo, revision, env)
    for name, (mode, _) in sorted([*now.items(), *then_tree.items()]):
        if mode != "100644":
            what = {"120000": "a symbolic link", "160000": "a submodule", "100755": "executable"}.get(mode, mode)
            raise GitopsError(
                f"rollback: {name} is {what} at one of the two revisions: only plain files are restored", FAILED
            )
    gone = [c for c in repo.clusters() if c.environment == env and repo.rel(c.path / "config.yaml") not in then_tree]
    if gone:
        raise GitopsError(
            f"rollback: cluster folder {repo.rel(gone[0].path)} did not exist at {revision[:12]}: restoring would "
            "remove the cluster (its Application and workloads); remove it in a change of its own",
            FAILED,
        )
    changes = []
    for name in sorted(set(now) | set(then_tree)):
        path = repo.root / name
        old = path.read_bytes() if name in now else None
        new = gitutil.git_bytes(repo.root, "cat-file", "blob", then_tree[name][1]) if name in then_tree else None
        if old != new:
            changes.append(files.Change(path, old, new, name))
    kustomization = repo.rel(repo.kustomization(env))
    if kustomization not in then_tree:
        raise GitopsError(f"rollback: {env} had no {kustomization} at {revision[:12]}: nothing to restore", FAILED)
    then = gitutil.git_bytes(repo.root, "cat-file", "blob", then_tree[kustomization][1]).decode("utf-8", "replace")
    return Restore(
        env,
        revision,
        changed[0],
        images.read(repo.kustomization(env), repo.app, kustomization),
        images.read_text(then, repo.app, f"{kustomization}@{revision[:12]}"),
        tuple(changes),
    )


def _same_image(a: images.ImageRef, b: images.ImageRef) -> bool:
    """The same bytes, as far as the references say: the digest when both have one, else the
    repository (host lowercased, its default port dropped) and the tag."""
    if a.digest and b.digest:
        return a.digest == b.digest

    def where(ref: images.ImageRef) -> str:
        host, _, rest = (ref.name or "").partition("/")
        return f"{host.lower().removesuffix(':443')}/{rest}"

    return where(a) == where(b) and a.tag == b.tag


def sticky(repo: Repo, env: str, image: images.ImageRef | None = None, revision: str | None = None) -> str | None:
    """Why putting ``image`` (or the folders of ``revision``) into ``env`` goes against its newest
    rollback, or None."""
    changed = changes_of(repo, env)
    if not changed:
        return None
    message = gitutil.git(repo.root, "log", "-1", "--format=%B", changed[0]).stdout
    trailers = dict(
        line.split(": ", 1) for line in message.splitlines() if line.startswith((f"{FROM}: ", f"{IMAGE}: "))
    )
    if not message.startswith(f"rollback({env}):") or FROM not in trailers:
        return None
    said = f"{env} was rolled back from it in {changed[0][:12]} ({message.splitlines()[0]})"
    if revision is not None and revision == trailers[FROM]:
        return f"revision {revision[:12]}: {said}"
    bad = trailers.get(IMAGE)
    if image is not None and bad:
        try:
            rolled_back = images.parse_reference(bad)
        except GitopsError:
            return None
        if _same_image(image, rolled_back):
            return f"{image}: {said}"
    return None


def previous_deploy(repo: Repo, api, env: str) -> str:
    """The revision Argo CD deployed to ``env`` before the current one (every cluster must agree)."""
    found: dict[str, str] = {}
    for cluster in (c for c in repo.clusters() if c.environment == env):
        name = f"{repo.app}-{cluster.name}"
        status = api.application(name).get("status") or {}
        current = (status.get("sync") or {}).get("revision", "")
        earlier = [h.get("revision") for h in status.get("history") or [] if isinstance(h, dict)]
        before = [r for r in earlier if isinstance(r, str) and r and r != current]
        if not before:
            raise GitopsError(f"rollback: Argo CD has no deploy of {name} before {current[:12] or 'now'}", FAILED)
        found[cluster.name] = before[-1]
    if not found:
        raise GitopsError(f"rollback: {env} has no cluster folder: Argo CD deployed it nowhere", FAILED)
    if len(set(found.values())) > 1:
        shown = ", ".join(f"{c} {r[:12]}" for c, r in found.items())
        raise GitopsError(f"rollback: {env}'s clusters were at different revisions before ({shown}); give --revision")
    return next(iter(found.values()))
