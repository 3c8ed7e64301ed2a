"""`gitops promote`: copy one environment's image to the next, optionally as a pull-request body."""

from __future__ import annotations

import argparse
import sys

from .. import gitutil, images
from ..errors import GitopsError
from ..repo import Repo
from .diff import rendered_diffs
from .set_image import Log, commit_and_push, set_image


def check_order(repo: Repo, source: str, target: str, force: bool) -> None:
    for env in (source, target):
        repo.overlay(env)
    order = repo.environments
    if order.index(target) != order.index(source) + 1 and not force:
        raise GitopsError(
            f"gitops.yaml: environments: {source} -> {target} is not the next stage "
            f"(order: {' -> '.join(order)}); use --force to skip stages"
        )


def promote(repo: Repo, source: str, target: str, force: bool = False, log: Log = print) -> bool:
    check_order(repo, source, target, force)
    ref = images.read(repo.kustomization(source), repo.app, repo.rel(repo.kustomization(source)))
    if not ref.tag:
        raise GitopsError(f"{repo.rel(repo.kustomization(source))}: images[name={repo.app}].newTag: missing")
    return set_image(repo, target, ref.tag, ref.digest, ref.name, log=log)


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
    lines += ["", "### Rendered changes per cluster"]
    if not diffs:
        lines.append("No rendered change.")
    for cluster, diff in diffs.items():
        lines += [
            "",
            f"<details><summary>{cluster}</summary>",
            "",
            "```diff",
            diff.rstrip(),
            "```",
            "",
            "</details>",
        ]
    return "\n".join(lines) + "\n"


def run(repo: Repo, args: argparse.Namespace) -> int:
    check_order(repo, args.source, args.target, args.force)
    before = images.read(repo.kustomization(args.target), repo.app)
    # With --pr-body, stdout is the body alone: progress goes to stderr.
    log: Log = (lambda msg: print(msg, file=sys.stderr)) if args.pr_body else print

    def apply() -> bool:
        return promote(repo, args.source, args.target, args.force, log=log)

    apply()
    if args.pr_body:
        after = images.read(repo.kustomization(args.target), repo.app)
        affected = [c.path.name for c in repo.clusters() if c.environment == args.target]
        diffs = rendered_diffs(repo, "HEAD", affected)
        print(pr_body(repo, args.source, args.target, before, after, diffs), end="")
    if args.commit or args.push:
        commit_and_push(repo, args.target, apply, args.push, log)
    return 0
