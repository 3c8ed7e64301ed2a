"""`gitops validate`: the merge gate (gitops.validation) over the repository or the given paths."""

from __future__ import annotations

import argparse

from .. import policy
from ..repo import Repo
from ..validation import skipped_policies, validate


def run(repo: Repo, args: argparse.Namespace) -> int:
    if args.list_policies:
        print(policy.table(markdown=args.list_policies == "markdown"), end="")
        return 0
    skip = skipped_policies(repo, args.skip_policy)
    report = validate(repo, args.paths or None, args.skip_policy)
    for line in report.errors:
        print(line)
    print(report.summary() + (f" (policies skipped: {', '.join(skip)})" if skip else ""))
    return 1 if report.errors else 0
