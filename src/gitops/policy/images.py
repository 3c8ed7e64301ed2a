"""Images: a tag (never :latest) or a digest, from the app's own repository, pinned where required."""

from __future__ import annotations

import re
from collections.abc import Iterator

from .objects import pod_containers
from .registry import Doc, Outcome, Scope, check

_DIGEST = re.compile(r"@sha256:[0-9a-f]{64}\Z")  # \Z: no trailing newline


def runs_repository(image: object, repository: str) -> bool:
    """Is ``image`` one of ``repository``'s, with a tag or a digest?"""
    return str(image or "").startswith((repository + ":", repository + "@"))


@check("GO116", "image-tag")
def image_tag(doc: Doc, scope: Scope) -> Iterator[Outcome]:
    """`:latest` or no tag at all makes what runs depend on when a node pulled."""
    for container, where, _ in pod_containers(doc):
        image = str(container.get("image", ""))
        last = image.split("@")[0].rsplit("/", 1)[-1]
        tag = last.split(":", 1)[1] if ":" in last else None
        problem = None
        if tag == "latest":
            problem = f"{image!r} uses :latest"
        elif tag is None and not _DIGEST.search(image):
            problem = f"{image!r} has no tag or digest"
        yield Outcome(f"{where}.image", problem)


@check("GO156", "image-repository")
def image_repository(doc: Doc, scope: Scope) -> Iterator[Outcome]:
    """The app runs only images of its own repository (gitops.yaml image), with a tag or a
    digest: the rule the admission policy enforces, refused before it reaches a cluster."""
    repository = scope.context.image
    if not repository:
        return
    for container, where, _ in pod_containers(doc):
        image = str(container.get("image", ""))
        ours = runs_repository(image, repository)
        yield Outcome(f"{where}.image", None if ours else f"{image!r} is not from {repository}")


@check("GO117", "image-digest")
def image_digest(doc: Doc, scope: Scope) -> Iterator[Outcome]:
    """Production runs exactly the bytes that were tested: pinned by digest."""
    if doc.environment not in scope.context.digest_required:
        return
    for container, where, _ in pod_containers(doc):
        image = str(container.get("image", ""))
        problem = f"{image!r} is not pinned by digest ({doc.environment} requires it)"
        yield Outcome(f"{where}.image", None if _DIGEST.search(image) else problem)
