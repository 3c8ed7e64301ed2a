"""Edit the `images:` entry of a kustomization, keeping every other byte as it was."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq

from .errors import GitopsError, one_line
from .files import parse_yaml
from .files import read_text as read_file

FIELDS = ("newName", "newTag", "digest")


@dataclass(frozen=True)
class ImageRef:
    name: str | None
    tag: str | None
    digest: str | None

    def __str__(self) -> str:
        out = self.name or "?"
        if self.tag:
            out += f":{self.tag}"
        if self.digest:
            out += f"@{self.digest}"
        return out


def parse_reference(text: str) -> ImageRef:
    """``name[:tag][@digest]`` (what ``str(ImageRef)`` writes) back into its parts."""
    name, _, digest = text.strip().partition("@")
    last = name.rsplit("/", 1)[-1]
    tag = None
    if ":" in last:
        name, _, tag = name.rpartition(":")
    if not name:
        raise GitopsError(f"not an image reference: {text!r}")
    return ImageRef(name, tag or None, digest or None)


def _parse(text: str, where: str):
    """The round-trip document, after the strict parse (duplicate keys, alias bombs, depth) accepted it."""
    parse_yaml(text, where)
    try:
        return YAML(typ="rt").load(text)
    except Exception as exc:  # ruamel raises several unrelated types
        raise GitopsError(one_line(f"{where}: invalid YAML: {(str(exc).splitlines() or ['?'])[0]}")) from None


def _entry(doc, app: str, where: str) -> CommentedMap:
    if not isinstance(doc, CommentedMap):
        raise GitopsError(f"{where}: Kustomization: expected a mapping")
    images = doc.get("images")
    if not isinstance(images, CommentedSeq):
        raise GitopsError(f"{where}: Kustomization: images: missing (expected a list with name: {app})")
    found = [item for item in images if isinstance(item, CommentedMap) and item.get("name") == app]
    if len(found) != 1:
        raise GitopsError(f"{where}: Kustomization: images[name={app}]: expected exactly one entry, found {len(found)}")
    return found[0]


def read(path: Path, app: str, where: str | None = None) -> ImageRef:
    where = where or str(path)
    return read_text(read_file(path, where), app, where)


def read_text(text: str, app: str, where: str) -> ImageRef:
    """The app's image in a kustomization's text; each field a string (quoted when YAML would read a number)."""
    entry = _entry(_parse(text, where), app, where)
    values = []
    for key in FIELDS:
        value = entry.get(key)
        if value is not None and not isinstance(value, str):
            what = "a number" if isinstance(value, int | float) else "no text"
            what = "a boolean" if isinstance(value, bool) else what
            raise GitopsError(f"{where}: images[name={app}].{key}: YAML reads this as {what}, not text; quote it")
        values.append(value)
    return ImageRef(*values)


def _value_span(line: str, col: int) -> tuple[int, int]:
    """Start and end of the scalar starting at ``col`` (quoted or plain, before a comment)."""
    if line[col] in "'\"":
        quote = line[col]
        end = col + 1
        while end < len(line):
            if line[end] == quote:
                if quote == "'" and end + 1 < len(line) and line[end + 1] == "'":
                    end += 2
                    continue
                return col, end + 1
            if quote == '"' and line[end] == "\\":
                end += 2
                continue
            end += 1
        raise ValueError("unterminated quoted scalar")
    end = line.find(" #", col)
    end = len(line.rstrip("\r\n")) if end == -1 else end
    return col, len(line[col:end].rstrip()) + col


# Plain (unquoted) only what every YAML reader takes as a string: starts with a letter and
# is none of YAML 1.1's booleans and nulls. Everything else is quoted: `1.10`, `1e3`
# (a float in YAML 1.2, which kustomize reads), `0o17`, `0x1F`, `20240101`, `on`, `.inf`.
_PLAIN = re.compile(r"[A-Za-z][A-Za-z0-9._/:@+-]*")
_YAML11_WORDS = {"y", "n", "yes", "no", "on", "off", "true", "false", "null"}


def needs_quotes(value: str) -> bool:
    return not _PLAIN.fullmatch(value) or value.lower() in _YAML11_WORDS


def _render(value: str, old_token: str | None) -> str:
    """Keep the old quoting style; quote a value any YAML reader would take as a non-string.

    Values are validated first (no quotes, no newlines), so quoting needs no escaping.
    """
    if old_token and old_token[0] in "'\"":
        return f"{old_token[0]}{value}{old_token[0]}"
    return f'"{value}"' if needs_quotes(value) else value


def edit_text(text: str, app: str, want: dict[str, str | None], where: str) -> str:
    """Return ``text`` with the app's images entry set to ``want`` (None removes a field)."""
    doc = _parse(text, where)
    entry = _entry(doc, app, where)
    lines = text.splitlines(keepends=True)
    key_lines = {key: entry.lc.key(key)[0] for key in entry}
    for key in entry:
        value = entry[key]
        if isinstance(value, CommentedMap | CommentedSeq) or (isinstance(value, str) and "\n" in value):
            raise GitopsError(f"{where}: images[name={app}].{key}: only one-line values are supported")
        if entry.lc.value(key)[0] != key_lines[key]:
            raise GitopsError(f"{where}: images[name={app}].{key}: value must be on the key's line")
    indent = entry.lc.key("name")[1]
    newline = "\r\n" if lines and lines[0].endswith("\r\n") else "\n"
    edits: list[tuple[int, str | None]] = []  # (line index, new line or None to delete)
    inserts: list[str] = []
    for key in FIELDS:
        if key not in want:
            continue
        new = want[key]
        if key in entry:
            line_no = key_lines[key]
            line = lines[line_no]
            if new is None:
                if line.strip().split("#")[0].strip() and not line.lstrip().startswith(f"{key}:"):
                    raise GitopsError(f"{where}: images[name={app}].{key}: cannot remove (shares a line)")
                edits.append((line_no, None))
                continue
            col = entry.lc.value(key)[1]
            start, end = _value_span(line, col)
            edits.append((line_no, line[:start] + _render(new, line[start:end]) + line[end:]))
        elif new is not None:
            inserts.append(" " * indent + f"{key}: {_render(new, None)}{newline}")
    for line_no, new_line in edits:
        lines[line_no] = new_line
    if inserts:
        last = max(key_lines.values())
        if not lines[last].endswith(("\n", "\r\n")):
            lines[last] += newline
        lines[last + 1 : last + 1] = inserts
    out = "".join(line for line in lines if line is not None)
    _verify(text, out, app, want, where)
    return out


def _verify(before: str, after: str, app: str, want: dict[str, str | None], where: str) -> None:
    """The edit changes exactly the intended fields, as YAML 1.1 (PyYAML) and YAML 1.2 (kustomize) read it."""
    for load in (lambda text: parse_yaml(text, where), YAML(typ="safe", pure=True).load):
        try:
            same = _same_but(load(before), load(after), app, want)
        except Exception:  # any failure to read it back means the edit is not safe
            same = False
        if not same:
            raise GitopsError(f"{where}: images[name={app}]: edit could not be made safely; file left as it was")


def _same_but(old: object, new: object, app: str, want: dict[str, str | None]) -> bool:
    def split(doc: object) -> tuple[dict, list, dict]:
        items = doc.get("images") if isinstance(doc, dict) else None
        if not isinstance(items, list):
            raise ValueError("no images list")
        mine = [i for i in items if isinstance(i, dict) and i.get("name") == app]
        if len(mine) != 1:
            raise ValueError("not exactly one entry")
        rest = [i for i in items if i is not mine[0]]
        return dict(mine[0]), rest, {k: v for k, v in doc.items() if k != "images"}

    (entry_old, rest_old, others_old), (entry_new, rest_new, others_new) = split(old), split(new)
    for key, value in want.items():
        if value is None:
            entry_old.pop(key, None)
        else:
            entry_old[key] = value
    return entry_new == entry_old and rest_new == rest_old and others_new == others_old
