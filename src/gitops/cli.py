"""`gitops`: the repository's own tooling. A thin CLI over pure functions.

Exit codes: 0 success (or nothing to do), 1 a check or step failed (validation
errors, a diff found, git refused), 2 bad input (nothing was changed).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from . import commands, images, policy
from .errors import GitopsError
from .render import build_many, write_atomic
from .repo import Repo


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="gitops",
        description="Deploy and promote flask-app by editing this repository; Argo CD does the rest.",
        epilog="Run 'gitops COMMAND --help' for a command's options. The README has the daily flows.",
    )
    parser.add_argument(
        "-C",
        "--root",
        type=Path,
        default=None,
        help="repository root (default: the nearest folder with gitops.yaml)",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser(
        "validate",
        help="yamllint, kustomize build, kubeconform, policy checks",
        description="Validate manifests: yamllint, kustomize build, kubeconform "
        "(offline, strict, every pinned Kubernetes version) and policy checks.",
    )
    p.add_argument(
        "paths",
        nargs="*",
        type=Path,
        metavar="PATH",
        help="kustomization folders, folders of manifests, or files (default: every cluster, overlay and argocd/)",
    )
    p.add_argument("--list-policies", action="store_true", help="print each policy id and its reason")

    p = sub.add_parser(
        "render",
        help="write every cluster's and overlay's rendered manifests",
        description="kustomize build every cluster, overlay and argocd/ folder into DIR.",
    )
    p.add_argument("--out", type=Path, default=Path("build/rendered"), metavar="DIR")

    p = sub.add_parser(
        "set-image",
        help="point an environment at an image tag (and digest)",
        description="Edit only the images: entry of the environment's overlay.",
    )
    p.add_argument("--env", required=True, help="environment (from gitops.yaml)")
    p.add_argument("--tag", required=True, help="image tag, e.g. sha-1a2b3c4")
    p.add_argument("--digest", help="image digest, sha256:<64 hex> (required for prod)")
    p.add_argument("--image", help="image name, when it changes (OCI reference, no tag)")
    _git_flags(p)

    p = sub.add_parser(
        "promote",
        help="copy one environment's image to the next",
        description="Copy the image (tag and digest) of FROM to TO. The order comes "
        "from gitops.yaml; skipping a stage needs --force.",
    )
    p.add_argument("source", metavar="FROM")
    p.add_argument("target", metavar="TO")
    p.add_argument("--force", action="store_true", help="allow skipping a stage")
    p.add_argument(
        "--pr-body",
        action="store_true",
        help="print a Markdown pull-request title and body (versions, commits, rendered diff)",
    )
    _git_flags(p)

    p = sub.add_parser(
        "diff",
        help="rendered diff per cluster between a git ref and the working tree",
        description="Exit 0 when nothing changes, 1 when something does.",
    )
    p.add_argument("--base", default="HEAD", help="git ref to compare against (default: HEAD)")

    p = sub.add_parser("status", help="which image runs in each environment")
    p.add_argument("--output", choices=("table", "json"), default="table")

    p = sub.add_parser(
        "configure",
        help="set this fork's repository URL and image name everywhere",
        description="Rewrite the repository URL and image name in every manifest, "
        "then validate; on failure every file is restored.",
    )
    p.add_argument("--repo", dest="repo_url", help="Git URL Argo CD pulls, e.g. https://host/owner/repo.git")
    p.add_argument("--image", help="image name without tag")
    p.add_argument("--no-validate", action="store_true", help="skip the validation afterwards")
    return parser


def _git_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--commit", action="store_true", help="commit the change (conventional message)")
    p.add_argument(
        "--push",
        action="store_true",
        help="push after committing; on a race, fetch, rebase and retry (implies --commit)",
    )


def _validate(repo: Repo, args) -> int:
    if args.list_policies:
        for pid, (name, reason) in policy.POLICIES.items():
            print(f"{pid} {name}: {reason}")
        return 0
    from .validate import validate

    report = validate(repo, args.paths or None)
    for line in report.errors:
        print(line)
    print(report.summary())
    return 1 if report.errors else 0


def _render(repo: Repo, args) -> int:
    targets = repo.default_targets()
    out = args.out if args.out.is_absolute() else Path.cwd() / args.out
    failed = 0
    for target, result in zip(targets, build_many(targets), strict=True):
        if isinstance(result, GitopsError):
            print(f"gitops: error: {result}", file=sys.stderr)
            failed += 1
            continue
        if result.warnings:
            print(
                f"gitops: warning: {repo.rel(target)}: {result.warnings.splitlines()[0]}",
                file=sys.stderr,
            )
            failed += 1
        path = out / (repo.rel(target).replace("/", "__") + ".yaml")
        write_atomic(path, result.text)
        print(f"rendered {repo.rel(target)} -> {path}")
    return 1 if failed else 0


def _set_image(repo: Repo, args) -> int:
    def apply() -> bool:
        return commands.set_image(repo, args.env, args.tag, args.digest, args.image)

    apply()
    if args.commit or args.push:
        commands.commit_and_push(repo, args.env, apply, args.push, print)
    return 0


def _promote(repo: Repo, args) -> int:
    commands.check_order(repo, args.source, args.target, args.force)
    before = images.read(repo.kustomization(args.target), repo.app)

    def apply() -> bool:
        log = (lambda msg: print(msg, file=sys.stderr)) if args.pr_body else print
        return commands.promote(repo, args.source, args.target, args.force, log=log)

    apply()
    if args.pr_body:
        after = images.read(repo.kustomization(args.target), repo.app)
        affected = [c.path.name for c in repo.clusters() if c.environment == args.target]
        diffs = commands.rendered_diffs(repo, "HEAD", affected)
        print(commands.pr_body(repo, args.source, args.target, before, after, diffs), end="")
    if args.commit or args.push:
        commands.commit_and_push(
            repo,
            args.target,
            apply,
            args.push,
            (lambda m: print(m, file=sys.stderr)) if args.pr_body else print,
        )
    return 0


def _diff(repo: Repo, args) -> int:
    diffs = commands.rendered_diffs(repo, args.base)
    if not diffs:
        print(f"No rendered changes against {args.base}.")
        return 0
    for cluster, diff in diffs.items():
        print(f"### clusters/{cluster}")
        print(diff, end="" if diff.endswith("\n") else "\n")
    return 1


def _status(repo: Repo, args) -> int:
    rows = commands.status(repo)
    print(commands.status_json(rows) if args.output == "json" else commands.status_table(rows))
    return 0


def _configure(repo: Repo, args) -> int:
    if args.repo_url is None and args.image is None:
        raise GitopsError("configure: give --repo URL, --image NAME, or both")
    originals = commands.configure(repo, args.repo_url, args.image)
    if not originals or args.no_validate:
        return 0
    from .validate import validate

    report = validate(Repo.load(repo.root))
    if report.errors:
        for path, data in originals.items():
            write_atomic(path, data)
        for line in report.errors:
            print(line)
        raise GitopsError("configure: validation failed after the rewrite; every file restored", 1)
    print(report.summary())
    return 0


HANDLERS = {
    "validate": _validate,
    "render": _render,
    "set-image": _set_image,
    "promote": _promote,
    "diff": _diff,
    "status": _status,
    "configure": _configure,
}


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        repo = Repo.load(args.root)
        return HANDLERS[args.command](repo, args)
    except GitopsError as exc:
        print(f"gitops: error: {exc}", file=sys.stderr)
        return exc.code
    except KeyboardInterrupt:
        return 130


def run() -> None:
    sys.exit(main())


if __name__ == "__main__":
    run()
