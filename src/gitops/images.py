"""Edit the `images:` entry of a kustomization, keeping every other byte as it was."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq

from .errors import GitopsError

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


def _parse(text: str, where: str):
    try:
        return YAML(typ="rt").load(text)
    except Exception as exc:  # ruamel raises several unrelated types
        raise GitopsError(f"{where}: invalid YAML: {str(exc).splitlines()[0]}") from None


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
    try:
        text = path.read_text()
    except OSError as exc:
        raise GitopsError(f"{where}: cannot read: {exc.strerror}") from None
    entry = _entry(_parse(text, where), app, where)
    return ImageRef(*(None if entry.get(f) is None else str(entry.get(f)) for f in FIELDS))


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


def _render(value: str, old_token: str | None) -> str:
    """Keep the old quoting style; quote a plain value YAML would read as a non-string.

    Values are validated first (no quotes, no newlines), so quoting needs no escaping.
    """
    if old_token and old_token[0] in "'\"":
        return f"{old_token[0]}{value}{old_token[0]}"
    try:
        plain_ok = yaml.safe_load(value) == value
    except yaml.YAMLError:
        plain_ok = False
    return value if plain_ok else f'"{value}"'


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
    """The edit must change exactly the intended fields and nothing else, semantically."""
    old, new = yaml.safe_load(before), yaml.safe_load(after)
    expected = dict(next(i for i in old["images"] if i.get("name") == app))
    for key, value in want.items():
        if value is None:
            expected.pop(key, None)
        else:
            expected[key] = value
    got = next(i for i in new["images"] if i.get("name") == app)
    others_old = {k: v for k, v in old.items() if k != "images"}
    others_new = {k: v for k, v in new.items() if k != "images"}
    rest_old = [i for i in old["images"] if i.get("name") != app]
    rest_new = [i for i in new["images"] if i.get("name") != app]
    if got != expected or others_old != others_new or rest_old != rest_new:
        raise GitopsError(f"{where}: images[name={app}]: edit could not be made safely; file left as it was")
