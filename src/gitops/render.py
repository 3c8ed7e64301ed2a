"""Render kustomizations with the pinned kustomize, in parallel."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import yaml

from .errors import GitopsError


def tool(name: str) -> str:
    """A pinned tool from $TOOLS_DIR/bin or .tools/bin, else PATH."""
    candidates = []
    if os.environ.get("TOOLS_DIR"):
        candidates.append(Path(os.environ["TOOLS_DIR"]) / "bin" / name)
    candidates.append(Path(__file__).resolve().parents[2] / ".tools" / "bin" / name)
    for candidate in candidates:
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    found = shutil.which(name)
    if found:
        return found
    raise GitopsError(f"{name} not found: run 'make tools' (it installs the pinned version)")


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


def write_atomic(path: Path, data: str | bytes) -> None:
    """Write a file so a reader sees the old or the new content, never a mix."""
    import tempfile

    path.parent.mkdir(parents=True, exist_ok=True)
    mode = "wb" if isinstance(data, bytes) else "w"
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, mode) as handle:
            handle.write(data)
        if path.exists():
            os.chmod(tmp, path.stat().st_mode & 0o7777)
        else:
            os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
