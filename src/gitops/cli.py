"""`gitops`: the repository's own tooling. This module parses the arguments and dispatches.

Each command lives in gitops/commands/<command>.py. ``main`` is the one error
boundary: whatever a command raises becomes one line on stderr and an exit code.

Exit codes: 0 success (or nothing to do), 1 a check or step failed (validation
errors, a diff found, git refused), 2 bad input. After a non-zero exit nothing in
the repository was changed.
"""

from __future__ import annotations

import argparse
import importlib
import re
import sys
from pathlib import Path
from typing import NoReturn

from . import console, file_schemas
from .commands import module_name
from .errors import BAD_INPUT, FAILED, GitopsError, one_line
from .repo import Repo


class _Parser(argparse.ArgumentParser):
    """argparse whose errors are a GitopsError (one line, exit 2) instead of usage text and SystemExit."""

    def error(self, message: str) -> NoReturn:
        raise GitopsError(f"{self.prog}: {message} (see '{self.prog} --help')", BAD_INPUT)


def _path(value: str) -> Path:
    if not value or "\0" in value:
        raise argparse.ArgumentTypeError(f"not a path: {value!r}")
    return Path(value)


def duration(value: str) -> int:
    """``30s``, ``10m``, ``1h`` in seconds (the grammar of gitops.yaml's healthyFor and soak)."""
    if not re.match(file_schemas.DURATION, value):
        raise argparse.ArgumentTypeError(f"not a duration such as 30s, 10m or 1h: {value!r}")
    return file_schemas.seconds(value)


# Each command's one-line help (`gitops --help`) and description (`gitops COMMAND --help`).
HELP: dict[str, tuple[str, str | None]] = {
    "validate": (
        "yamllint, kustomize build, kubeconform, policy checks",
        "Validate manifests: yamllint, kustomize build, kubeconform "
        "(offline, strict, every pinned Kubernetes version) and policy checks.",
    ),
    "render": (
        "write every cluster's and overlay's rendered manifests",
        "kustomize build every cluster, overlay and argocd/ folder into DIR.",
    ),
    "set-image": (
        "point an environment at an image tag (and digest)",
        "Edit only the images: entry of the environment's overlay.",
    ),
    "promote": (
        "copy one environment's image to the next",
        "Copy the image (tag and digest) of FROM to TO. The order comes "
        "from gitops.yaml; skipping a stage needs --force.",
    ),
    "rollback": (
        "give an environment back what it ran before (configuration and image, or only the image)",
        "Restore ENV's overlay and cluster folders as at an earlier revision (the one Argo CD "
        "deployed before by default), or with --to/--steps point ENV at an earlier image from the Git history "
        "of its overlay. An image ENV never ran is refused; prod keeps the digest rule.",
    ),
    "diff": (
        "rendered diff per cluster between a git ref and the working tree",
        "Exit 0 when nothing changes, 1 when something does.",
    ),
    "status": ("which image runs in each environment", None),
    "configure": (
        "set this fork's repository URL and image name everywhere",
        "Rewrite the repository URL and image name in every manifest, "
        "then validate; on failure every file is restored.",
    ),
}


def _command(sub: argparse._SubParsersAction, name: str) -> argparse.ArgumentParser:
    help_text, description = HELP[name]
    return sub.add_parser(name, help=help_text, description=description)


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="gitops",
        description="Deploy and promote flask-app by editing this repository; Argo CD does the rest.",
        epilog="Run 'gitops COMMAND --help' for a command's options. The README has the daily flows.",
    )
    parser.add_argument(
        "-C",
        "--root",
        type=_path,
        default=None,
        help="repository root (default: the nearest folder with gitops.yaml)",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = _command(sub, "validate")
    p.add_argument(
        "paths",
        nargs="*",
        type=_path,
        metavar="PATH",
        help="kustomization folders, folders of manifests, or files (default: every cluster, overlay and argocd/)",
    )
    p.add_argument(
        "--list-policies",
        nargs="?",
        const="text",
        choices=("text", "markdown"),
        help="print each policy id, name and reason (markdown: the table in docs/validation.md) and exit",
    )
    p.add_argument(
        "--skip-policy",
        action="append",
        default=[],
        metavar="ID",
        help="switch a policy off for this run (repeatable; gitops.yaml skipPolicies does it for good)",
    )

    p = _command(sub, "render")
    p.add_argument("--out", type=_path, default=Path("build/rendered"), metavar="DIR")

    p = _command(sub, "set-image")
    p.add_argument("--env", required=True, help="environment (from gitops.yaml)")
    p.add_argument("--tag", required=True, help="image tag, e.g. sha-1a2b3c4")
    p.add_argument("--digest", help="image digest, sha256:<64 hex> (required for prod)")
    p.add_argument("--image", help="image name, when it changes (OCI reference, no tag)")
    p.add_argument("--force", action="store_true", help="deploy an image the environment was rolled back from")
    _git_flags(p)

    p = _command(sub, "promote")
    p.add_argument("source", metavar="FROM")
    p.add_argument("target", metavar="TO")
    p.add_argument(
        "--force", action="store_true", help="allow skipping a stage, or promoting past a refusing Argo CD gate"
    )
    p.add_argument(
        "--wait",
        type=duration,
        default=0,
        metavar="DURATION",
        help="re-check a refusing Argo CD gate until it passes, at most this long (30s, 10m, 1h)",
    )
    _argocd_flag(p)
    _git_flags(p, pr_body="versions, commits, live state, rendered diff")

    p = _command(sub, "rollback")
    p.add_argument("env", metavar="ENV")
    p.add_argument(
        "--revision",
        metavar="SHA",
        help="restore ENV's folders as at this commit (default: the revision Argo CD deployed before the "
        "current one, or without Argo CD the commit before the last change to ENV)",
    )
    p.add_argument("--to", metavar="TAG", help="only the image: the tag to go back to (ENV must have run it)")
    p.add_argument("--steps", type=int, metavar="N", help="only the image: how many images back")
    p.add_argument("--force", action="store_true", help="restore a revision ENV was rolled back from")
    _argocd_flag(p)
    _git_flags(p, pr_body="the two images, where the earlier one was set, rendered diff")

    p = _command(sub, "diff")
    p.add_argument("--base", default="HEAD", help="git ref to compare against (default: HEAD)")

    p = _command(sub, "status")
    p.add_argument("--output", choices=("table", "json"), default="table")
    p.add_argument(
        "--live", action="store_true", help="add what Argo CD reports for each cluster (sync, health, revision, image)"
    )
    _argocd_flag(p)

    p = _command(sub, "configure")
    p.add_argument(
        "--repo-url", "--repo", dest="repo_url", help="Git URL Argo CD pulls, e.g. https://host/owner/repo.git"
    )
    p.add_argument("--image", help="image name without tag")
    p.add_argument("--no-validate", action="store_true", help="skip the validation afterwards")
    return parser


def _check_single_values(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """argparse turns ``--opt=--`` into an empty list: an option that takes one value must hold one."""
    actions = list(parser._actions)
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction) and args.command in action.choices:
            actions += action.choices[args.command]._actions
    for action in actions:
        if action.nargs is not None:
            continue
        value = getattr(args, action.dest, None)
        values = value if isinstance(action, argparse._AppendAction) and isinstance(value, list) else [value]
        if any(isinstance(v, list) for v in values):
            raise GitopsError(f"argument {'/'.join(action.option_strings) or action.dest}: expected one value")


def _argocd_flag(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--argocd",
        metavar="URL",
        help="Argo CD API server (default: $ARGOCD_SERVER); the token comes from $ARGOCD_AUTH_TOKEN",
    )


def _git_flags(p: argparse.ArgumentParser, pr_body: str | None = None) -> None:
    if pr_body:
        p.add_argument(
            "--pr-body", action="store_true", help=f"print a Markdown pull-request title and body ({pr_body})"
        )
    p.add_argument("--commit", action="store_true", help="commit the change (conventional message)")
    p.add_argument(
        "--push",
        action="store_true",
        help="push after committing, to the branch's upstream (or --remote); on a race, fetch, rebase and retry "
        "(implies --commit)",
    )
    p.add_argument(
        "--remote",
        metavar="NAME",
        help="with --push: push to this git remote instead of the branch's upstream (e.g. 'local' after make up)",
    )


def main(argv: list[str] | None = None) -> int:
    """Run one command; every failure is one line on stderr and exit 1 or 2."""
    try:
        parser = _parser()
        args = parser.parse_args(argv)
        _check_single_values(parser, args)
        if getattr(args, "remote", None) is not None and not args.push:
            raise GitopsError(f"{args.command}: --remote needs --push", BAD_INPUT)
        repo = Repo.load(args.root)
        command = importlib.import_module(module_name(args.command))  # only the one that runs is imported
        code = command.run(repo, args)
    except GitopsError as exc:
        console.error(f"gitops: error: {one_line(str(exc))}")
        return exc.code
    except SystemExit as exc:  # --help, --version: argparse prints and exits 0
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else FAILED)
    except BrokenPipeError:  # the reader went away in the middle of a command's own print
        console.silence_stdout()
        return FAILED
    except KeyboardInterrupt:
        console.error("gitops: error: interrupted; nothing was left changed")
        return 130
    except Exception as exc:  # the last resort: still one line, never a traceback
        console.error(f"gitops: error: internal error: {type(exc).__name__}: {one_line(str(exc))} (please report it)")
        return FAILED
    console.flush()
    return code


def run() -> None:
    sys.exit(main())


if __name__ == "__main__":
    run()
