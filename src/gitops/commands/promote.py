"""`gitops promote`: copy one environment's image to the next, optionally as a pull-request body."""

from __future__ import annotations

import argparse
import time

from .. import console, gate, gitutil, images, oci, rendered_diff, restore
from ..argocd_api import ArgoAPI
from ..deploy import ImageChange, Log, deploy_or_body, plan_image, write
from ..errors import FAILED, GitopsError
from ..repo import Repo

WAIT_INTERVAL = 5  # seconds between two checks of the gate with --wait


def check_order(repo: Repo, source: str, target: str, force: bool) -> None:
    for env in (source, target):
        repo.overlay(env)
    if source == target:
        raise GitopsError(f"promote: {source} -> {target}: the same environment")
    order = repo.environments
    if order.index(target) < order.index(source):
        raise GitopsError(
            f"promote: {source} -> {target} goes backwards (order: {' -> '.join(order)}); "
            f"to give {target} an image it ran before, use 'gitops rollback {target}'"
        )
    if order.index(target) != order.index(source) + 1 and not force:
        raise GitopsError(
            f"gitops.yaml: environments: {source} -> {target} is not the next stage "
            f"(order: {' -> '.join(order)}); use --force to skip stages"
        )


def plan_promote(repo: Repo, source: str, target: str, force: bool = False) -> ImageChange:
    """The change that gives ``target`` the image ``source`` runs; nothing is written."""
    check_order(repo, source, target, force)
    path = repo.kustomization(source)
    where = repo.rel(path)
    ref = images.read(path, repo.app, where)
    field = f"{where}: images[name={repo.app}]"
    if not ref.tag:
        raise GitopsError(f"{field}.newTag: missing")
    for value, check, key in ((ref.tag, oci.tag, "newTag"), (ref.digest, oci.digest, "digest")):
        if value is not None:
            try:
                check(value)
            except GitopsError:
                raise GitopsError(f"{field}.{key}: {value!r} is not valid; fix {source} first") from None
    if ref.name is not None:
        try:
            oci.image_name(ref.name)
        except GitopsError:
            raise GitopsError(f"{field}.newName: {ref.name!r} is not a valid image name") from None
    return plan_image(repo, target, ref.tag, ref.digest, ref.name)


def promote(repo: Repo, source: str, target: str, force: bool = False, log: Log = console.say) -> bool:
    """Give ``target`` the image of ``source`` (no git); True when the file changed."""
    from .. import files

    change = plan_promote(repo, source, target, force)
    with files.repo_lock(repo.root):
        write(repo, change, log)
    return change.changed


def _commit_of(repo: Repo, tag: str | None) -> str | None:
    """The commit a `sha-<hex>` tag was built from, if this repository has it."""
    if not tag or not tag.startswith("sha-"):
        return None
    result = gitutil.git(repo.root, "rev-parse", "--verify", "--quiet", f"{tag[4:]}^{{commit}}", check=False)
    return result.stdout.strip() or None


def pr_body(
    repo: Repo,
    source: str,
    target: str,
    before: images.ImageRef,
    after: images.ImageRef,
    diffs: dict[str, str],
    live: list[str] | None = None,
) -> str:
    title = f"promote({target}): {repo.app} {after.tag} from {source}"
    lines = [
        title,
        "",
        f"Promotes **{repo.app}** from `{source}` to `{target}`.",
        "",
        "| | image |",
        "|---|---|",
        f"| {target} now | `{before}` |",
        f"| {target} after merge | `{after}` |",
        "",
    ]
    old, new = _commit_of(repo, before.tag), _commit_of(repo, after.tag)
    lines.append("### Commits")
    if old and new:
        log = gitutil.git(
            repo.root,
            "log",
            "--oneline",
            "--no-decorate",
            f"{old}..{new}",
            "--",
            "src",
            "Dockerfile",
            "gunicorn.conf.py",
            "requirements",
        ).stdout.strip()
        lines += ["```", log or "(no service changes between the two images)", "```"]
    else:
        lines.append("(the commits of one or both images are not in this repository's history)")
    if live:
        lines += ["", "### Live state (Argo CD)", "", *live]
    lines += ["", *rendered_diff.markdown(diffs)]
    return "\n".join(lines) + "\n"


def wait_for_gate(repo: Repo, api: ArgoAPI, source: str, planned: ImageChange, wait: int, log: Log) -> None:
    """Re-check the gate every few seconds until it passes or ``wait`` seconds are over (then
    the gate below refuses with what is still missing)."""
    deadline = time.monotonic() + wait
    said = ""
    while time.monotonic() < deadline:
        reason = gate.refusal(repo, api, source, planned.after)
        if reason is None:
            return
        if reason != said:
            log(f"promote: waiting ({deadline - time.monotonic():.0f}s left): {reason}")
            said = reason
        time.sleep(min(WAIT_INTERVAL, max(0.0, deadline - time.monotonic())))


def run(repo: Repo, args: argparse.Namespace) -> int:
    def plan() -> ImageChange:
        return plan_promote(repo, args.source, args.target, args.force)

    planned = plan()  # bad input fails here, before any git check or lock
    refused = restore.sticky(repo, args.target, image=planned.after) if planned.changed else None
    if refused and not args.force:
        raise GitopsError(f"promote: refused: {refused} (--force to promote it anyway)", FAILED)
    api = ArgoAPI.from_env(args.argocd)
    if args.wait and api is not None:
        wait_for_gate(repo, api, args.source, planned, args.wait, console.quiet if args.pr_body else console.say)
    # The gate: the source environment runs this image, Synced and Healthy (or --force, said so).
    live = gate.check(repo, api, args.source, planned.after, args.force)
    if api is None:
        if not args.pr_body:  # the body says so itself, and stdout is the body alone
            console.say("promote: the Argo CD gate was not checked (no --argocd or ARGOCD_SERVER)")
    else:
        if not args.pr_body:  # one line, as for an unchecked gate: what the gate found
            said = live[0].removeprefix("Argo CD gate: ").replace("**", "").replace("`", "")
            passed = "" if said.startswith("forced past") else "passed: "
            console.say(f"promote: the Argo CD gate {passed}{said}")
        live += gate.table(f"{args.target} in Argo CD now", gate.states(repo, api, args.target))

    def body_of(change: ImageChange, diffs: dict[str, str]) -> str:
        return pr_body(repo, args.source, args.target, change.before, change.after, diffs, live)

    return deploy_or_body(repo, args.target, plan, args, body_of)
