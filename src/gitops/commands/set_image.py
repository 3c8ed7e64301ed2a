"""`gitops set-image`: point an environment at an image, then optionally commit and push."""

from __future__ import annotations

import argparse
from collections.abc import Callable

from .. import gitutil, images, oci
from ..errors import GitopsError
from ..files import write_atomic
from ..repo import Repo

Log = Callable[[str], None]


def set_image(
    repo: Repo,
    env: str,
    tag: str,
    digest: str | None = None,
    image: str | None = None,
    log: Log = print,
) -> bool:
    """Point ``env`` at an image; True when the file changed. Validates before touching anything."""
    oci.tag(tag)
    if digest is not None:
        oci.digest(digest)
    if image is not None:
        oci.image_name(image)
    path = repo.kustomization(env)
    where = repo.rel(path)
    if env in repo.digest_required and digest is None:
        raise GitopsError(f"{where}: images[name={repo.app}].digest: {env} must be pinned by digest (--digest)")
    current = images.read(path, repo.app, where)
    want = {"newTag": tag, "digest": digest}
    if image is not None:
        want["newName"] = image
    target = images.ImageRef(image or current.name, tag, digest)
    if current == target:
        log(f"{env}: already at {target}")
        return False
    text = path.read_bytes().decode("utf-8")  # no newline translation: CRLF stays CRLF
    new_text = images.edit_text(text, repo.app, want, where)
    write_atomic(path, new_text)
    log(f"{env}: {current} -> {target}")
    return True


def deploy_message(env: str, app: str, ref: images.ImageRef) -> str:
    return f"deploy({env}): {app} {ref.tag}" + (f" ({ref.digest[:19]})" if ref.digest else "")


def commit_and_push(repo: Repo, env: str, apply: Callable[[], bool], push: bool, log: Log) -> None:
    """Commit the environment's kustomization; with ``push``, push it, re-applying the edit after a race."""
    path = repo.kustomization(env)
    ref = images.read(path, repo.app)
    message = deploy_message(env, repo.app, ref)
    if gitutil.commit(repo.root, [path], message):
        log(f"committed: {message}")
    if push:

        def reapply() -> bool:
            apply()
            return gitutil.commit(repo.root, [path], message)

        gitutil.push(repo.root, reapply, log=log)
        log("pushed")


def run(repo: Repo, args: argparse.Namespace) -> int:
    def apply() -> bool:
        return set_image(repo, args.env, args.tag, args.digest, args.image)

    apply()
    if args.commit or args.push:
        commit_and_push(repo, args.env, apply, args.push, print)
    return 0
