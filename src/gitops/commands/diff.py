"""`gitops diff`: the rendered manifests of every target at a git ref vs the working tree (gitops.rendered_diff)."""

from __future__ import annotations

import argparse

from .. import console
from ..rendered_diff import rendered_diffs
from ..repo import Repo


def run(repo: Repo, args: argparse.Namespace) -> int:
    diffs = rendered_diffs(repo, args.base)
    if not diffs:
        console.say(f"No rendered changes against {args.base}.")
        return 0
    for cluster, diff in diffs.items():
        console.say(f"### clusters/{cluster}")
        console.say(diff, end="" if diff.endswith("\n") else "\n")
    return 1
