"""`gitops render`: write every cluster's, overlay's and argocd/ folder's rendered manifests."""

from __future__ import annotations

import argparse
from pathlib import Path

from .. import console
from ..errors import GitopsError, one_line
from ..files import write_atomic
from ..kustomize import build_many
from ..repo import Repo


def run(repo: Repo, args: argparse.Namespace) -> int:
    """Render every target; a failed one is a line on stdout and, at the end, one error (exit 1)."""
    targets = repo.default_targets()
    out = args.out if args.out.is_absolute() else Path.cwd() / args.out
    failed: list[str] = []
    for target, result in zip(targets, build_many(targets), strict=True):
        if isinstance(result, GitopsError):
            failed.append(f"{repo.rel(target)}: {one_line(getattr(result, 'reason', str(result)))}")
            console.say(f"FAILED {failed[-1]}")
            continue
        if result.warnings:
            failed.append(f"{repo.rel(target)}: warning: {one_line(result.warnings.splitlines()[0])}")
            console.say(f"WARNING {failed[-1]}")
        path = out / (repo.rel(target).replace("/", "__") + ".yaml")
        write_atomic(path, result.text)
        console.say(f"rendered {repo.rel(target)} -> {path}")
    if failed:
        more = f" (and {len(failed) - 1} more, listed above)" if len(failed) > 1 else ""
        raise GitopsError(f"render: {failed[0]}{more}", 1)
    return 0
