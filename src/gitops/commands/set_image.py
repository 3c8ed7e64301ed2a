"""`gitops set-image`: point an environment at an image, then optionally commit and push (gitops.deploy)."""

from __future__ import annotations

import argparse

from ..deploy import ImageChange, deploy, plan_image
from ..repo import Repo


def run(repo: Repo, args: argparse.Namespace) -> int:
    def plan() -> ImageChange:
        return plan_image(repo, args.env, args.tag, args.digest, args.image)

    plan()  # bad input fails here, before any git check or lock
    deploy(repo, args.env, plan, commit=args.commit, push=args.push, remote=args.remote)
    return 0
