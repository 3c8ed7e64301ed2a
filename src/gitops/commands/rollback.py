"""`gitops rollback ENV [--revision SHA | --to TAG | --steps N]`: ENV as it was before.

Without ``--to`` or ``--steps``, ENV's folders (image and configuration) go back to a
revision (restore.py): the one Argo CD deployed before the current one (with ``--argocd``
or ``ARGOCD_SERVER``), else the commit before the last one that changed them, or
``--revision SHA``.

With ``--to`` or ``--steps``, only the image goes back. "Ran before" means: the image
stood in ENV's overlay at an earlier commit of this
branch (``git log --first-parent`` of the overlay's kustomization). An image that never
stood there is refused, whatever registry holds it; in an environment that must be
pinned by digest, the earlier entry must carry one. The edit is the same byte-preserving
one as `set-image` and `promote`, with the same ``--commit``/``--push`` and
``--pr-body`` paths.
"""

from __future__ import annotations

import argparse
import contextlib
from dataclasses import dataclass

from .. import console, gitutil, images, oci, rendered_diff, restore
from ..argocd_api import ArgoAPI
from ..deploy import ImageChange, deploy_or_body, plan_image
from ..errors import FAILED, GitopsError
from ..repo import Repo

HISTORY = 500  # commits of the overlay looked at: years of deploys
MAX_KUSTOMIZATION = 1 << 20


@dataclass(frozen=True)
class Ran:
    """One image ENV's overlay held, from the commit that set it."""

    ref: images.ImageRef
    commit: str
    date: str


def history(repo: Repo, env: str) -> list[Ran]:
    """The images ENV's overlay held on this branch, newest first, one entry per change."""
    path = repo.kustomization(env)
    where = repo.rel(path)
    log = gitutil.git(
        repo.root, "log", "--first-parent", f"--max-count={HISTORY}", "--format=%H %cs", "--", where, check=False
    )
    if log.returncode != 0:
        raise GitopsError(f"rollback: git log -- {where}: {gitutil.last_line(log)}", FAILED)
    ran: list[Ran] = []
    for line in log.stdout.splitlines():
        commit, _, date = line.partition(" ")
        shown = gitutil.git(repo.root, "show", f"{commit}:{where}", check=False)
        if shown.returncode != 0 or len(shown.stdout) > MAX_KUSTOMIZATION:
            continue  # the file did not exist under this name then, or is no kustomization a person wrote
        try:
            ref = images.read_text(shown.stdout, repo.app, f"{where}@{commit[:12]}")
        except GitopsError:
            continue  # an entry that was broken then is not an image ENV ran
        if ran and ran[-1].ref == ref:
            ran[-1] = Ran(ref, commit, date)  # the same image, set earlier: keep the oldest commit
            continue
        ran.append(Ran(ref, commit, date))
    return ran


def choose(repo: Repo, env: str, to: str | None, steps: int | None) -> tuple[images.ImageRef, Ran]:
    """The current image and the earlier one to go back to."""
    path = repo.kustomization(env)
    where = repo.rel(path)
    current = images.read(path, repo.app, where)
    if to is not None:
        oci.tag(to)  # bad input: exit 2 before any git work
    # Only this repository's image comes back: an old entry naming another registry does not.
    name = current.name or repo.image
    ran = [r for r in history(repo, env) if (r.ref.name or repo.image) == name]
    # The images to go back to: each tag once (its newest entry), newest first, never the tag
    # running now (the same tag without its digest is no rollback). --steps counts these.
    earlier: list[Ran] = []
    for r in ran:
        if r.ref.tag != current.tag and all(e.ref.tag != r.ref.tag for e in earlier):
            earlier.append(r)
    # What a person reads to choose: the tag running now, then exactly those.
    seen = ", ".join([f"{current.tag} (now)", *(str(r.ref.tag) for r in earlier[:8])])
    if to is not None and to == current.tag:
        raise GitopsError(f"rollback: {env} runs {repo.app}:{to} now: nothing to roll back ({seen})", FAILED)
    if to is not None:
        matches = [r for r in earlier if r.ref.tag == to]
        if not matches:
            raise GitopsError(
                f"rollback: {env} never ran {repo.app}:{to} ({where} history on this branch: {seen}); "
                "only an image it ran before can come back",
                FAILED,
            )
        chosen = matches[0]
    else:
        n = 1 if steps is None else steps
        if n < 1:
            raise GitopsError(f"rollback: --steps {n}: give 1 or more", 2)
        if n > len(earlier):
            raise GitopsError(f"rollback: --steps {n}: {env} ran {len(earlier)} earlier image(s) ({seen})", FAILED)
        chosen = earlier[n - 1]
    if env in repo.digest_required and not chosen.ref.digest:
        raise GitopsError(
            f"rollback: {env} must be pinned by digest, and {repo.app}:{chosen.ref.tag} "
            f"(set in {chosen.commit[:12]}) had none",
            FAILED,
        )
    return current, chosen


def plan_rollback(repo: Repo, env: str, to: str | None = None, steps: int | None = None) -> ImageChange:
    current, chosen = choose(repo, env, to, steps)
    name = chosen.ref.name if chosen.ref.name != current.name else None
    return plan_image(repo, env, str(chosen.ref.tag), chosen.ref.digest, name)


def pr_body(repo: Repo, env: str, change: ImageChange, chosen: Ran, diffs: dict[str, str]) -> str:
    title = f"rollback({env}): {repo.app} {change.after.tag} (was {change.before.tag})"
    lines = [
        title,
        "",
        f"Rolls **{repo.app}** in `{env}` back to an image it ran before.",
        "",
        "| | image |",
        "|---|---|",
        f"| {env} now | `{change.before}` |",
        f"| {env} after merge | `{change.after}` (set in {chosen.commit[:12]}, {chosen.date}) |",
        "",
        *rendered_diff.markdown(diffs),
    ]
    return "\n".join(lines) + "\n"


def run(repo: Repo, args: argparse.Namespace) -> int:
    if args.to is not None and args.steps is not None:
        raise GitopsError("rollback: give --to TAG or --steps N, not both", 2)
    if args.revision is not None and (args.to is not None or args.steps is not None):
        raise GitopsError("rollback: --revision restores configuration and image; --to/--steps only the image", 2)
    if args.to is None and args.steps is None:
        return run_revision(repo, args)
    current, chosen = choose(repo, args.env, args.to, args.steps)  # bad input fails here, before any lock
    refused = restore.sticky(repo, args.env, image=images.ImageRef(chosen.ref.name or repo.image, chosen.ref.tag,
                                                                     chosen.ref.digest))  # fmt: skip
    if refused and not args.force:
        raise GitopsError(f"rollback: refused: {refused} (--force to deploy it anyway)", 1)
    name = chosen.ref.name if chosen.ref.name != current.name else None

    def plan() -> ImageChange:
        # The image chosen above, once: a push race re-applies the same one, never another.
        return plan_image(repo, args.env, str(chosen.ref.tag), chosen.ref.digest, name)

    def body_of(change: ImageChange, diffs: dict[str, str]) -> str:
        return pr_body(repo, args.env, change, chosen, diffs)

    now = restore.changes_of(repo, args.env)
    message = f"rollback({args.env}): {repo.app} {chosen.ref.tag}"
    if now:
        message += f"\n\n{restore.FROM}: {now[0]}\n{restore.IMAGE}: {current}\n"
    return deploy_or_body(repo, args.env, plan, args, body_of, message)


def run_revision(repo: Repo, args: argparse.Namespace) -> int:
    api = ArgoAPI.from_env(args.argocd)
    if args.revision is not None:
        revision = restore.resolve(repo, args.revision)
        checked = True
    elif api is not None:
        revision = restore.resolve(repo, restore.previous_deploy(repo, api, args.env), "Argo CD's previous deploy")
        checked = False
    else:
        changed = restore.changes_of(repo, args.env)
        if len(changed) < 2:
            raise GitopsError(f"rollback: {args.env} has no earlier revision on this branch", 1)
        revision, checked = changed[1], True
    planned = restore.plan_restore(repo, args.env, revision, checked)  # bad input fails here, before any lock
    refused = restore.sticky(repo, args.env, revision=revision) or restore.sticky(
        repo, args.env, image=planned.image_then
    )
    if refused and not args.force:
        raise GitopsError(f"rollback: refused: {refused} (--force to restore it anyway)", 1)

    def plan() -> restore.Restore:
        return restore.plan_restore(repo, args.env, revision, checked)

    def body_of(change: restore.Restore, diffs: dict[str, str]) -> str:
        return revision_body(repo, change, diffs)

    code = deploy_or_body(repo, args.env, plan, args, body_of, guard=restore.folders(repo, args.env))
    if api is not None and args.push and not args.pr_body:
        for line in [*end_stale_syncs(repo, api, args.env), *window_notes(repo, api, args.env)]:
            console.say(line)
    return code


def end_stale_syncs(repo: Repo, api: ArgoAPI, env: str) -> list[str]:
    """After the push: a sync still running on ENV's clusters is the bad release's (Argo CD waits
    for it to be healthy before it prunes, and starts no other sync meanwhile). End it when the
    token may (``applications, sync``), then ask Argo CD to look at the remote again."""
    notes = []
    for cluster in (c for c in repo.clusters() if c.environment == env):
        name = f"{repo.app}-{cluster.name}"
        try:
            state = api.application(name).get("status") or {}
        except GitopsError:
            continue
        if (state.get("operationState") or {}).get("phase") == "Running":
            try:
                api.call("DELETE", f"/api/v1/applications/{name}/operation")
                notes.append(f"rollback: ended Argo CD's sync of the rolled-back revision on {name}")
            except GitopsError:
                notes.append(
                    f"rollback: Argo CD is still syncing the rolled-back revision on {name}; its next retry takes "
                    "the rollback (syncPolicy.retry.refresh), or end that sync in the UI (it needs sync rights)"
                )
        with contextlib.suppress(GitopsError):
            api.application(name, refresh="normal")
    return notes


def revision_body(repo: Repo, change: restore.Restore, diffs: dict[str, str]) -> str:
    lines = [
        change.subject(repo.app).splitlines()[0],
        "",
        f"Restores `{change.env}` (its overlay and cluster folders: image and configuration) as they were at "
        f"{change.revision[:12]}, rolling back from {change.current[:12]}.",
        "",
        "| | image |",
        "|---|---|",
        f"| {change.env} now | `{change.image_now}` |",
        f"| {change.env} after merge | `{change.image_then}` |",
        "",
        "Files: " + ", ".join(f"`{c.label}`" for c in change.changes),
        "",
        *rendered_diff.markdown(diffs),
    ]
    return "\n".join(lines) + "\n"


def window_notes(repo: Repo, api: ArgoAPI, env: str) -> list[str]:
    """What Argo CD's sync windows allow now for ``env``'s clusters, when they deny a sync."""
    notes = []
    for cluster in (c for c in repo.clusters() if c.environment == env):
        name = f"{repo.app}-{cluster.name}"
        try:
            windows = api.call("GET", f"/api/v1/applications/{name}/syncwindows")
        except GitopsError:
            continue
        if windows.get("canSync") is False:
            notes.append(
                f"rollback: pushed, but a sync window denies syncs of {name} now: Argo CD applies the rollback "
                "when the window opens, or when someone syncs it in the UI with the window's manual-sync override"
            )
    return notes
