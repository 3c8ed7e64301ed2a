"""`gitops render`: write every cluster's, overlay's and argocd/ folder's rendered manifests."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..errors import GitopsError
from ..files import write_atomic
from ..kustomize import build_many
from ..repo import Repo


def run(repo: Repo, args: argparse.Namespace) -> int:
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
