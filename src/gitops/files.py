"""Reading and writing the repository's files: bounded reads, strict YAML, checked atomic writes.

Every read is bounded (``MAX_BYTES``, regular files only, UTF-8) and every YAML parse
refuses duplicate keys, nesting deeper than ``MAX_DEPTH``, recursive aliases and
documents that aliases expand beyond ``MAX_NODES`` nodes (the "billion laughs").

Writes go through ``apply``: every target is checked first (a regular file, not a
symbolic link, not read-only, unchanged since it was read), then each is replaced
atomically; when one write fails the earlier ones are reverted. ``repo_lock``
serializes the commands that write in one checkout.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import stat
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import yaml
from yaml.composer import ComposerError
from yaml.constructor import ConstructorError
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from .errors import FAILED, GitopsError, one_line

MAX_BYTES = 1 << 20  # 1 MiB: the largest file the tool reads is a few KB
MAX_DEPTH = 64
MAX_NODES = 100_000  # after alias expansion
LOCK_TIMEOUT = 120.0
_held = threading.local()  # the repositories this thread holds the lock of


# --- reading ------------------------------------------------------------------------
def read_bytes(path: Path, where: str | None = None, code: int = 2, limit: int = MAX_BYTES) -> bytes:
    """The bytes of a regular file of at most ``limit`` bytes (FIFOs and devices are refused, never opened blocking)."""
    where = where or str(path)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except (OSError, ValueError) as exc:
        raise GitopsError(f"{where}: cannot read: {_reason(exc)}", code) from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise GitopsError(f"{where}: cannot read: not a regular file", code)
        if info.st_size > limit:
            raise GitopsError(f"{where}: too large ({info.st_size} bytes, the limit is {limit})", code)
        data = b""
        while len(data) <= limit:
            chunk = os.read(fd, limit + 1 - len(data))
            if not chunk:
                break
            data += chunk
    except OSError as exc:
        raise GitopsError(f"{where}: cannot read: {_reason(exc)}", code) from None
    finally:
        os.close(fd)
    if len(data) > limit:
        raise GitopsError(f"{where}: too large (the limit is {limit} bytes)", code)
    return data


def decode(data: bytes, where: str, code: int = 2) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise GitopsError(f"{where}: cannot read: not UTF-8 text (byte {exc.start})", code) from None


def read_text(path: Path, where: str | None = None, code: int = 2) -> str:
    """A file's text, exactly as stored (no newline translation: CRLF stays CRLF)."""
    return decode(read_bytes(path, where, code), where or str(path), code)


# --- YAML ---------------------------------------------------------------------------
class _StrictLoader(yaml.SafeLoader):
    """SafeLoader that refuses duplicate keys, deep nesting and alias expansion bombs."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0

    def compose_node(self, parent: Node | None, index: object) -> Node:
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                mark = self.peek_event().start_mark
                raise ComposerError(None, None, f"nested deeper than {MAX_DEPTH} levels", mark)
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def compose_document(self) -> Node:
        node = super().compose_document()
        _expanded_size(node, {}, set())
        return node

    def construct_mapping(self, node: MappingNode, deep: bool = False) -> dict:
        if isinstance(node, MappingNode):
            seen: set = set()
            for key_node, _ in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    continue
                key = self.construct_object(key_node, deep=True)
                try:
                    duplicate = key in seen
                    seen.add(key)
                except TypeError:
                    continue  # unhashable: the base class reports it
                if duplicate:
                    raise ConstructorError(
                        "while constructing a mapping", node.start_mark, f"duplicate key {key!r}", key_node.start_mark
                    )
        return super().construct_mapping(node, deep)


def _first_per_tag(resolvers: dict) -> dict:
    """PyYAML's own implicit resolvers: the first one per tag and first character.

    Other modules add resolvers to PyYAML's global Resolver when imported (yamllint's
    quoted-strings rule adds YAML 1.2 octals, so ``0o17`` turns from text into 15
    mid-process); the strict loader keeps the table it was born with.
    """
    table: dict = {}
    for first, entries in resolvers.items():
        kept = table[first] = []
        for tag, regexp in entries:
            if all(tag != seen for seen, _ in kept):
                kept.append((tag, regexp))
    return table


_StrictLoader.yaml_implicit_resolvers = _first_per_tag(yaml.SafeLoader.yaml_implicit_resolvers)


def _expanded_size(node: Node, sizes: dict[int, int], open_: set[int]) -> int:
    """How many nodes ``node`` stands for once every alias is expanded (refusing too many, or cycles)."""
    key = id(node)
    if key in sizes:
        return sizes[key]
    if key in open_:
        raise ComposerError(None, None, "recursive alias", node.start_mark)
    open_.add(key)
    size = 1
    if isinstance(node, SequenceNode):
        for child in node.value:
            size += _expanded_size(child, sizes, open_)
            _limit(size, node)
    elif isinstance(node, MappingNode):
        for key_node, value_node in node.value:
            size += _expanded_size(key_node, sizes, open_) + _expanded_size(value_node, sizes, open_)
            _limit(size, node)
    elif not isinstance(node, ScalarNode):  # pragma: no cover - the composer makes only these three
        raise ComposerError(None, None, "unexpected node", node.start_mark)
    open_.discard(key)
    sizes[key] = size
    return size


def _limit(size: int, node: Node) -> None:
    if size > MAX_NODES:
        raise ComposerError(None, None, f"aliases expand to more than {MAX_NODES} nodes", node.start_mark)


def yaml_error(where: str, exc: yaml.YAMLError) -> str:
    """``where:LINE: invalid YAML: problem``, one line."""
    mark = getattr(exc, "problem_mark", None)
    line = f":{mark.line + 1}" if mark else ""
    problem = getattr(exc, "problem", None) or str(exc)
    return one_line(f"{where}{line}: invalid YAML: {problem}")


def parse_yaml(text: str, where: str, code: int = 2) -> object:
    """The one YAML document in ``text`` (strict: see the module docstring)."""
    try:
        return yaml.load(text, Loader=_StrictLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as exc:
        raise GitopsError(yaml_error(where, exc), code) from None


def parse_documents(text: str, where: str, code: int = 2) -> list[object]:
    """Every document in ``text``, strictly parsed."""
    try:
        return list(yaml.load_all(text, Loader=_StrictLoader))  # a SafeLoader subclass
    except yaml.YAMLError as exc:
        raise GitopsError(yaml_error(where, exc), code) from None


def load_yaml(path: Path, where: str | None = None, code: int = 2) -> object:
    """The one YAML document in ``path``."""
    return parse_yaml(read_text(path, where, code), where or str(path), code)


def inside(path: Path, root: Path) -> bool:
    """Is the real ``path`` ``root`` or below it (``root`` already real)?"""
    text, top = str(path), str(root)
    return text == top or text.startswith(top.rstrip(os.sep) + os.sep)


def load_documents(path: Path, where: str | None = None, code: int = 2) -> list[dict]:
    """Every mapping document in ``path`` (a file of Kubernetes manifests)."""
    docs = parse_documents(read_text(path, where, code), where or str(path), code)
    return [doc for doc in docs if isinstance(doc, dict)]


# --- writing ------------------------------------------------------------------------
@dataclass(frozen=True)
class Change:
    """One file a command means to write: what it held when read, and what it will hold."""

    path: Path
    old: bytes | None  # None: the file does not exist yet
    new: bytes | None  # None: the change deletes the file
    where: str = ""

    @property
    def label(self) -> str:
        return self.where or str(self.path)


def check_writable(path: Path, root: Path | None = None, where: str | None = None) -> None:
    """Refuse to write through a symbolic link, over a non-regular or read-only file, or into a read-only folder.

    With ``root``, no folder between ``root`` and ``path`` may be a symbolic link either.
    """
    where = where or str(path)
    if root is not None:
        try:
            parts = path.relative_to(root).parts
        except ValueError:
            raise GitopsError(f"{where}: outside the repository {root}") from None
        current = root
        for part in parts:
            current = current / part
            if current.is_symlink():
                what = "is" if current == path else "is under"
                raise GitopsError(f"{where}: {what} a symbolic link; refusing to write")
    try:
        info = path.lstat()
    except FileNotFoundError:
        info = None
    except OSError as exc:
        raise GitopsError(f"{where}: cannot write: {_reason(exc)}") from None
    if info is not None:
        if stat.S_ISLNK(info.st_mode):
            raise GitopsError(f"{where}: is a symbolic link; refusing to write")
        if not stat.S_ISREG(info.st_mode):
            raise GitopsError(f"{where}: not a regular file; refusing to write")
        if not info.st_mode & 0o222 or not os.access(path, os.W_OK):
            raise GitopsError(f"{where}: is read-only; refusing to write")
    parent = path.parent
    try:
        pinfo = parent.stat()
    except FileNotFoundError:
        return  # created by the write, below a folder checked in turn
    except OSError as exc:
        raise GitopsError(f"{where}: cannot write: {_reason(exc)}") from None
    if not stat.S_ISDIR(pinfo.st_mode):
        raise GitopsError(f"{where}: {parent} is not a folder")
    if not pinfo.st_mode & 0o222 or not os.access(parent, os.W_OK | os.X_OK):
        raise GitopsError(f"{where}: the folder is read-only; refusing to write")


def apply(changes: Sequence[Change], root: Path | None = None) -> None:
    """Write every change or none: all are checked first, and a failed write reverts the earlier ones."""
    for change in changes:
        check_writable(change.path, root, change.label)
        current = _current(change.path)
        if current != change.old:
            raise GitopsError(f"{change.label}: changed while gitops was running; nothing written", FAILED)
    done: list[Change] = []
    try:
        for change in changes:
            if change.new is None and change.old is not None:
                change.path.unlink()
                done.append(change)
            elif change.new != change.old and change.new is not None:
                change.path.parent.mkdir(parents=True, exist_ok=True)
                write_atomic(change.path, change.new, change.label)
                done.append(change)
    except BaseException:
        revert(done)
        raise


def revert(changes: Sequence[Change]) -> None:
    """Put back what ``changes`` replaced (best effort, newest first)."""
    for change in reversed(changes):
        with contextlib.suppress(OSError, GitopsError):
            if change.old is None:
                change.path.unlink(missing_ok=True)
            elif _current(change.path) != change.old:
                write_atomic(change.path, change.old, change.label)


def _current(path: Path) -> bytes | None:
    try:
        return path.read_bytes() if not path.is_symlink() and path.is_file() else None
    except OSError:
        return None


def write_atomic(path: Path, data: str | bytes, where: str | None = None) -> None:
    """Write a file so a reader sees the old or the new content, never a mix; keeps the file's mode."""
    where = where or str(path)
    payload = data.encode("utf-8") if isinstance(data, str) else data
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    except OSError as exc:
        raise GitopsError(f"{where}: cannot write: {_reason(exc)}", FAILED) from None
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(payload)
        try:
            mode = path.stat().st_mode & 0o7777
        except FileNotFoundError:
            mode = 0o644
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        if isinstance(exc, OSError):
            raise GitopsError(f"{where}: cannot write: {_reason(exc)}", FAILED) from None
        raise


# --- one writer at a time -------------------------------------------------------------
@contextlib.contextmanager
def repo_lock(root: Path, timeout: float = LOCK_TIMEOUT) -> Iterator[None]:
    """Hold an exclusive lock on the repository folder: commands that write in one checkout run one at a time.

    An advisory ``flock`` on the folder itself: nothing is created in the repository,
    and the lock goes away with the process. Re-entrant within a thread: a command that
    holds it may call another function that takes it.
    """
    key = os.path.realpath(root)
    held = _held.__dict__.setdefault("roots", set())
    if key in held:
        yield
        return
    try:
        fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError as exc:
        raise GitopsError(f"{root}: cannot lock: {_reason(exc)}", FAILED) from None
    held.add(key)
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise GitopsError(f"{root}: another gitops command is still writing here", FAILED) from None
                time.sleep(0.02)
        yield
    finally:
        held.discard(key)
        os.close(fd)


def _reason(exc: BaseException) -> str:
    return getattr(exc, "strerror", None) or str(exc)
