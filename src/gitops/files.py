"""Reading and writing the repository's files: one-line errors, atomic writes."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import yaml

from .errors import GitopsError


def yaml_error(where: str, exc: yaml.YAMLError) -> str:
    """``where:LINE: invalid YAML: problem``, one line."""
    mark = getattr(exc, "problem_mark", None)
    line = f":{mark.line + 1}" if mark else ""
    return f"{where}{line}: invalid YAML: {getattr(exc, 'problem', exc)}"


def read_text(path: Path, where: str | None = None, code: int = 2) -> str:
    try:
        return path.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise GitopsError(f"{where or path}: cannot read: {getattr(exc, 'strerror', None) or exc}", code) from None


def load_yaml(path: Path, where: str | None = None, code: int = 2) -> object:
    """The one YAML document in ``path``."""
    text = read_text(path, where, code)
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise GitopsError(yaml_error(where or str(path), exc), code) from None


def load_documents(path: Path, where: str | None = None, code: int = 2) -> list[dict]:
    """Every mapping document in ``path`` (a file of Kubernetes manifests)."""
    text = read_text(path, where, code)
    try:
        return [doc for doc in yaml.safe_load_all(text) if isinstance(doc, dict)]
    except yaml.YAMLError as exc:
        raise GitopsError(yaml_error(where or str(path), exc), code) from None


def write_atomic(path: Path, data: str | bytes) -> None:
    """Write a file so a reader sees the old or the new content, never a mix."""
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
