"""Namespaces: nothing lands in `default`."""

from __future__ import annotations

from collections.abc import Iterator

from .objects import CLUSTER_SCOPED
from .registry import Doc, Outcome, Scope, check


@check("GO118", "no-default-namespace")
def no_default_namespace(doc: Doc, scope: Scope) -> Iterator[Outcome]:
    """Resources in `default` bypass the namespace's policies and quotas."""
    if doc.kind in CLUSTER_SCOPED or not doc.kind:
        return
    problem = None
    if doc.namespace in (None, "", "default"):
        problem = "resolves to 'default'" if not doc.namespace else "is 'default'"
    yield Outcome("metadata.namespace", problem)
