"""`kustomize build` with the pinned kustomize, many targets in parallel.

Before kustomize runs, everything it would read is checked (``gate_findings``, policies
GO125 and GO126): only local files inside the repository, so a build never reaches the
network or leaves the checkout.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import yaml

from . import bounded, policy
from .errors import GitopsError
from .repo import find_root
from .toolchain import tool


@dataclass
class Rendered:
    target: Path
    text: str
    warnings: str = ""

    def documents(self) -> list[dict]:
        return [doc for doc in yaml.safe_load_all(self.text) if isinstance(doc, dict)]


def gate_findings(target: Path, root: Path | None = None) -> list[str]:
    """The mandatory input checks (no remote, nothing outside ``root``) over every kustomization
    ``target`` reaches; ``root`` defaults to the repository holding ``target`` (else ``target``)."""
    if root is None:
        try:
            root = find_root(target if target.is_dir() else target.parent)
        except GitopsError:
            root = target
    docs = policy.inputs.input_docs(policy.inputs.walk(target, root), root)
    optional = [pid for pid, p in policy.POLICIES.items() if not p.mandatory]
    result = policy.run(docs, policy.Context(root=Path(root)), optional, stage=policy.INPUT)
    return [str(f) for f in result.findings]


offline_env = bounded.offline_env  # kustomize's environment: see bounded.OFFLINE_ENV


def build(target: Path, root: Path | None = None) -> Rendered:
    """`kustomize build TARGET` once the gate passes; a refusal, a failure or any warning is a one-line GitopsError."""
    refused = gate_findings(target, root)
    if refused:
        error = GitopsError(f"{target}: not built: {refused[0]}", 1)
        error.reason = f"not built: {refused[0]}" + (f" (and {len(refused) - 1} more)" if len(refused) > 1 else "")
        raise error
    try:
        result = bounded.run([tool("kustomize"), "build", str(target)], what="kustomize build", env=offline_env())
    except bounded.Exceeded as exc:
        exc.reason = str(exc)
        raise
    if result.returncode != 0:
        lines = [line for line in result.stderr.strip().splitlines() if line.strip()]
        reason = lines[-1] if lines else f"exit {result.returncode}"
        error = GitopsError(f"{target}: kustomize build failed: {reason.removeprefix('Error: ')}", 1)
        error.reason = reason.removeprefix("Error: ")
        raise error
    return Rendered(target, result.stdout, result.stderr.strip())


def build_many(
    targets: Iterable[Path], jobs: int | None = None, root: Path | None = None
) -> list[Rendered | GitopsError]:
    """Build every target; each result is a Rendered or the error for that target."""
    targets = list(targets)

    def one(target: Path) -> Rendered | GitopsError:
        try:
            return build(target, root)
        except GitopsError as exc:
            return exc

    with ThreadPoolExecutor(max_workers=jobs or min(8, (os.cpu_count() or 2) * 2)) as pool:
        return list(pool.map(one, targets))
