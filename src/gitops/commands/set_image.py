"""`gitops set-image`: point an environment at an image, then optionally commit and push (gitops.deploy)."""

from __future__ import annotations

import argparse

from .. import restore
from ..deploy import ImageChange, deploy, plan_image
from ..errors import FAILED, GitopsError
from ..repo import Repo


def run(repo: Repo, args: argparse.Namespace) -> int:
    def plan() -> ImageChange:
        return plan_image(repo, args.env, args.tag, args.digest, args.image)

    planned = plan()  # bad input fails here, before any git check or lock
    refused = restore.sticky(repo, args.env, image=planned.after) if planned.changed else None
    if refused and not args.force:
        raise GitopsError(f"set-image: refused: {refused} (--force to deploy it again)", FAILED)
    deploy(repo, args.env, plan, commit=args.commit, push=args.push, remote=args.remote)
    return 0
