"""`kustomize build` with the pinned kustomize, many targets in parallel."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import yaml

from .errors import GitopsError
from .settings import tool


@dataclass
class Rendered:
    target: Path
    text: str
    warnings: str = ""

    def documents(self) -> list[dict]:
        return [doc for doc in yaml.safe_load_all(self.text) if isinstance(doc, dict)]


def build(target: Path) -> Rendered:
    """`kustomize build TARGET`; a failure or any warning is a one-line GitopsError."""
    result = subprocess.run(
        [tool("kustomize"), "build", str(target)],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        lines = [line for line in result.stderr.strip().splitlines() if line.strip()]
        reason = lines[-1] if lines else f"exit {result.returncode}"
        error = GitopsError(f"{target}: kustomize build failed: {reason.removeprefix('Error: ')}", 1)
        error.reason = reason.removeprefix("Error: ")
        raise error
    return Rendered(target, result.stdout, result.stderr.strip())


def build_many(targets: Iterable[Path], jobs: int | None = None) -> list[Rendered | GitopsError]:
    """Build every target; each result is a Rendered or the error for that target."""
    targets = list(targets)

    def one(target: Path) -> Rendered | GitopsError:
        try:
            return build(target)
        except GitopsError as exc:
            return exc

    with ThreadPoolExecutor(max_workers=jobs or min(8, (os.cpu_count() or 2) * 2)) as pool:
        return list(pool.map(one, targets))
