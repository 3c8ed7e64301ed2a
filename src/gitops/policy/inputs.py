"""What kustomize reads, checked before it runs: local files inside the repository only.

kustomize fetches a `resources:`, `components:` or `bases:` entry it cannot find locally
(an http(s) URL, a git address, `github.com/org/repo?ref=v1`), and follows `../` and
symlinks wherever they lead. ``walk`` reads every kustomization reachable from a target
without running kustomize and without reading anything outside the repository; the
input-stage checks below refuse what kustomize must not do. ``FIELDS`` is the table of
every field through which a kustomization names a file.
"""

from __future__ import annotations

import functools
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from .. import files
from ..errors import GitopsError
from ..files import inside
from .registry import INPUT, Context, Doc, Outcome, Scope, check

KUSTOMIZATION_FILES = ("kustomization.yaml", "kustomization.yml", "Kustomization")
YAML_SUFFIXES = (".yaml", ".yml")


@dataclass(frozen=True)
class Field:
    """A kustomization field naming files: ``path`` is dotted, ``[*]`` runs over a list."""

    path: str
    fetch: bool = False  # kustomize tries an entry it cannot find locally as a remote target
    inline: bool = False  # an entry may be an inline YAML document instead of a path
    key_value: bool = False  # entries are `path` or `key=path`
    remote_only: bool = False  # every value is a remote address (a Helm chart repository)


FIELDS: tuple[Field, ...] = (
    Field("resources[*]", fetch=True),
    Field("components[*]", fetch=True),
    Field("bases[*]", fetch=True),
    Field("generators[*]", fetch=True, inline=True),
    Field("transformers[*]", fetch=True, inline=True),
    Field("validators[*]", fetch=True, inline=True),
    Field("crds[*]"),
    Field("configurations[*]"),
    Field("patches[*].path"),
    Field("patchesStrategicMerge[*]", inline=True),
    Field("patchesJson6902[*].path"),
    Field("replacements[*].path"),
    Field("openapi.path"),
    *(
        Field(f"{generator}[*].{path}", key_value=path == "files[*]")
        for generator in ("configMapGenerator", "secretGenerator")
        for path in ("files[*]", "envs[*]", "env")
    ),
    Field("helmGlobals.chartHome"),
    Field("helmCharts[*].repo", remote_only=True),
    Field("helmCharts[*].valuesFile"),
    Field("helmCharts[*].additionalValuesFiles[*]"),
    Field("helmChartInflationGenerator[*].chartRepoUrl", remote_only=True),
)

# Forms kustomize (v5 repospec) reads as remote: URLs of any scheme, go-getter's `git::`,
# scp-like `user@host:path`, `gh:`, the well-known hosts with or without a scheme, and
# `?ref=`-style queries.
_REMOTE_FORMS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://"), "a URL"),
    (re.compile(r"^git::", re.I), "a git address (git::)"),
    (re.compile(r"^gh:", re.I), "a GitHub shorthand (gh:)"),
    (re.compile(r"^[^/\s]*@[^/\s]+:"), "an scp-like git address (user@host:path)"),
    (re.compile(r"^(www\.)?(github\.com|gitlab\.com|bitbucket\.org|dev\.azure\.com)([/:]|$)", re.I), "a git host"),
    (re.compile(r"\?(.*&)?(ref|version|submodules|timeout)="), "a remote reference (?ref=)"),
    (re.compile(r"(^|/)_git/"), "an Azure DevOps repository (_git/)"),
)


def remote_form(value: str) -> str | None:
    """Why kustomize would read ``value`` as a remote target, or None."""
    for pattern, what in _REMOTE_FORMS:
        if pattern.search(value):
            return what
    return None


@dataclass(frozen=True)
class Reference:
    field: str  # e.g. resources[0], patches[1].path
    value: str  # as written
    target: str  # the path or address in it (without a `key=`)
    spec: Field
    path: Path | None  # the real location (symlinks resolved); None for remote and inline entries


def _values(node: object, path: str, prefix: str = "") -> Iterator[tuple[str, object]]:
    head, _, rest = path.partition(".")
    key, many = (head[:-3], True) if head.endswith("[*]") else (head, False)
    value = node.get(key) if isinstance(node, dict) else None
    if value is None:
        return
    here = f"{prefix}{key}"
    items = list(enumerate(value)) if many and isinstance(value, list) else ([] if many else [(None, value)])
    for index, item in items:
        where = here if index is None else f"{here}[{index}]"
        if rest:
            yield from _values(item, rest, f"{where}.")
        else:
            yield where, item


def references(body: dict, folder: Path) -> Iterator[Reference]:
    """Every file a kustomization names, resolved against its (real) folder."""
    for spec in FIELDS:
        for where, value in _values(body, spec.path):
            if not isinstance(value, str):
                continue
            text = value.split("=", 1)[1] if spec.key_value and "=" in value else value
            inline = spec.inline and ("\n" in text or text.lstrip().startswith(("apiVersion:", "kind:", "{")))
            if inline or spec.remote_only or remote_form(text) or not text:
                yield Reference(where, value, text, spec, None)
            else:
                yield Reference(where, value, text, spec, Path(os.path.realpath(folder / text)))


def kustomization_file(folder: Path) -> Path | None:
    for name in KUSTOMIZATION_FILES:
        if (folder / name).is_file():
            return folder / name
    return None


@dataclass
class Kustomization:
    file: Path  # real location, or as reached when that is outside the repository
    body: dict
    error: str | None = None  # why it could not be read
    outside: bool = False  # its real location is outside the repository


def _read(path: Path) -> tuple[dict, str | None]:
    """(body, None) or ({}, why not): parsed once per version of the file (many clusters share an overlay)."""
    try:
        stat = path.stat()
    except OSError as exc:
        return {}, f"cannot be read ({exc.strerror})"
    return _parse(path, stat.st_mtime_ns, stat.st_size)


@functools.lru_cache(maxsize=256)
def _parse(path: Path, mtime_ns: int, size: int) -> tuple[dict, str | None]:
    try:
        body = files.load_yaml(path)  # bounded, regular files only, strict YAML
    except GitopsError as exc:
        return {}, f"cannot be read ({' '.join(str(exc).split())[:120]})"
    if not isinstance(body, dict):
        return {}, "is not a mapping"
    return body, None


def walk(target: Path, root: Path) -> list[Kustomization]:
    """Every kustomization reachable from ``target`` through local, in-repository folders.

    Nothing outside ``root`` is read: a reference leading out is left for the checks to refuse.
    """
    root = Path(os.path.realpath(root))
    found: list[Kustomization] = []
    seen: set[Path] = set()
    pending = [Path(os.path.abspath(target))]
    while pending:
        reached = pending.pop(0)
        folder = Path(os.path.realpath(reached))
        if folder in seen:
            continue
        seen.add(folder)
        file = kustomization_file(folder) if folder.is_dir() else None
        if file is None:
            continue
        real = Path(os.path.realpath(file))
        if not inside(real, root):
            found.append(Kustomization(reached / file.name, {}, "outside the repository", outside=True))
            continue
        body, error = _read(real)
        found.append(Kustomization(real, body, error))
        if error:
            continue
        for ref in references(body, folder):
            if ref.spec.fetch and ref.path is not None and inside(ref.path, root) and ref.path.is_dir():
                pending.append(ref.path)
    return found


_ERROR, _OUTSIDE = "__error__", "__outside__"  # what input_docs adds to the body of a file it could not read


def input_docs(kustomizations: list[Kustomization], root: Path) -> list[Doc]:
    """The kustomization files as input documents (one per file, in the order first reached)."""
    real_root = Path(os.path.realpath(root))
    docs: dict[Path, Doc] = {}
    for k in kustomizations:
        if k.file in docs:
            continue
        base = real_root if inside(k.file, real_root) else Path(os.path.abspath(root))
        body = dict(k.body)
        if k.error:
            body[_ERROR] = k.error
        if k.outside:
            body[_OUTSIDE] = True
        docs[k.file] = Doc(os.path.relpath(k.file, base), body, label=str(k.body.get("kind") or "Kustomization"))
    return list(docs.values())


def is_kustomization_doc(doc: Doc) -> bool:
    return doc.label in ("Kustomization", "Component") and Path(doc.source).name in KUSTOMIZATION_FILES


def _folder(doc: Doc, ctx: Context) -> Path:
    return Path(os.path.realpath(ctx.root / doc.source)).parent


# --- the checks -------------------------------------------------------------------
@check("GO125", "kustomize-offline", stages=(INPUT,), mandatory=True)
def kustomize_offline(doc: Doc, scope: Scope) -> Iterator[Outcome]:
    """Kustomize builds from files in the repository only: a remote resource, component or
    base (an http(s) or git URL, `github.com/...`, `?ref=`) is fetched at build time, so
    validation reaches the network and what deploys is not what was reviewed. It is refused
    before kustomize runs."""
    if not is_kustomization_doc(doc):
        return
    error = doc.body.get(_ERROR)
    if error and not doc.body.get(_OUTSIDE):
        yield Outcome("(file)", f"{error}: nothing it names can be checked, so it is not built")
        return
    root = Path(os.path.realpath(scope.context.root))
    for ref in references(doc.body, _folder(doc, scope.context)):
        why = "a remote chart repository" if ref.spec.remote_only else None
        if ref.path is None and not why:
            why = remote_form(ref.target)
        if why:
            yield Outcome(ref.field, f"{ref.value!r} is {why}; only files in the repository are built")
        elif ref.spec.fetch and ref.path is not None and inside(ref.path, root) and not ref.path.exists():
            problem = f"{ref.value!r} is not a file or folder in the repository (kustomize would try it as a remote)"
            yield Outcome(ref.field, problem)
        else:
            yield Outcome(ref.field)


@check("GO126", "kustomize-in-repository", stages=(INPUT,), mandatory=True)
def kustomize_in_repository(doc: Doc, scope: Scope) -> Iterator[Outcome]:
    """Kustomize reads nothing outside the repository: a path that leads out of it (`../`
    past the root, an absolute path, a symlink to elsewhere) makes the render depend on the
    machine that builds it, and can read its files."""
    if not is_kustomization_doc(doc):
        return
    if doc.body.get(_OUTSIDE):
        yield Outcome("(file)", "its real location (symlinks resolved) is outside the repository")
        return
    root = Path(os.path.realpath(scope.context.root))
    for ref in references(doc.body, _folder(doc, scope.context)):
        if ref.path is None:
            continue
        if os.path.isabs(ref.target):
            yield Outcome(ref.field, f"{ref.value!r} is an absolute path; use a path relative to this folder")
        elif not inside(ref.path, root):
            yield Outcome(ref.field, f"{ref.value!r} leads outside the repository (real location {ref.path})")
        else:
            yield Outcome(ref.field)


def _listed(scope: Scope) -> set[Path]:
    """Every file and folder any kustomization of the run names, and the kustomization files themselves."""

    def compute() -> set[Path]:
        listed: set[Path] = set()
        for doc in scope.render:
            if is_kustomization_doc(doc) and not doc.body.get(_ERROR):
                folder = _folder(doc, scope.context)
                listed.add(Path(os.path.realpath(scope.context.root / doc.source)))
                listed.update(r.path for r in references(doc.body, folder) if r.path is not None)
        return listed

    return scope.memo("listed", compute)


def _app_folders(ctx: Context) -> list[Path]:
    folders = [ctx.clusters] if ctx.clusters else []
    if ctx.overlays:
        folders.append(ctx.overlays.parent)
    return [Path(os.path.realpath(f)) for f in folders]


@check("GO131", "unlisted-file", stages=(INPUT,))
def unlisted_file(doc: Doc, scope: Scope) -> Iterator[Outcome]:
    """A YAML file in a cluster or overlay folder that no kustomization lists is never
    deployed: it looks reviewed and applied, and is neither."""
    if not is_kustomization_doc(doc) or doc.body.get(_ERROR):
        return
    folder = _folder(doc, scope.context)
    if not any(inside(folder, f) and folder != f for f in _app_folders(scope.context)):
        return
    clusters = scope.context.clusters
    is_cluster = clusters is not None and folder.parent == Path(os.path.realpath(clusters))
    listed = _listed(scope)
    kustomization_folders = scope.memo(
        "kustomization_folders", lambda: {p.parent for p in listed if p.name in KUSTOMIZATION_FILES}
    )
    for dirpath, dirnames, filenames in os.walk(folder):
        here = Path(dirpath)
        dirnames[:] = sorted(d for d in dirnames if (here / d) not in kustomization_folders)
        for name in sorted(filenames):
            path = here / name
            if not name.endswith(YAML_SUFFIXES) or (is_cluster and here == folder and name == "config.yaml"):
                continue
            rel = os.path.relpath(path, folder)
            where = "resources" if here == folder else "resources (subfolder)"
            problem = f"{rel} is in this folder but no kustomization lists it (list it, or delete it)"
            yield Outcome(where, None if Path(os.path.realpath(path)) in listed or path in listed else problem)


# The fields whose files kustomize parses as YAML (the generators' data files it reads as
# text: those are only size-bounded, by files.read_bytes).
_YAML_FIELDS = {f.path for f in FIELDS if not f.path.startswith(("configMapGenerator", "secretGenerator", "helm"))}


MAX_ENTRIES = 100  # patches, replacements or resources in one kustomization: this repository has under 10
MAX_VISITS = 1000  # kustomizations one build reads, counted with repetition (kustomize builds a base once per use)


def _visits(folder: Path, scope: Scope) -> int:
    """How many kustomizations building ``folder`` reads, a base counted once per path to it."""
    counts: dict[Path, int] = scope.memo("kustomization-visits", dict)
    bodies: dict[Path, dict] = scope.memo(
        "kustomization-bodies",
        lambda: {_folder(d, scope.context): d.body for d in scope.render if is_kustomization_doc(d)},
    )
    root = Path(os.path.realpath(scope.context.root))

    def count(here: Path, trail: frozenset[Path]) -> int:
        if here in counts:
            return counts[here]
        if here in trail:
            return 1  # a cycle: kustomize refuses it by itself
        total = 1
        for ref in references(bodies.get(here) or {}, here):
            if ref.spec.fetch and ref.path is not None and ref.path in bodies and inside(ref.path, root):
                total += count(ref.path, trail | {here})
                if total > MAX_VISITS:
                    break
        counts[here] = total
        return total

    return count(folder, frozenset())


@functools.lru_cache(maxsize=1024)
def _bounded_problem(path: Path, mtime_ns: int, size: int) -> str | None:
    try:
        files.load_documents(path, path.name)  # bounded size, depth and alias expansion
    except GitopsError as exc:
        return " ".join(str(exc).split())[:200]
    return None


@check("GO153", "kustomize-inputs-bounded", stages=(INPUT,), mandatory=True)
def kustomize_inputs_bounded(doc: Doc, scope: Scope) -> Iterator[Outcome]:
    """Every YAML file kustomize reads is small, shallow and free of alias bombs (at most
    1 MiB, 64 levels, 100,000 nodes once aliases expand), and a kustomization lists at most
    100 patches, replacements or resources: a few hundred bytes of aliases grow into
    gigabytes inside kustomize, thousands of patches take it minutes. Such input is refused
    before kustomize runs."""
    if not is_kustomization_doc(doc) or doc.body.get(_ERROR):
        return
    visits = _visits(_folder(doc, scope.context), scope)
    if visits > MAX_VISITS:
        yield Outcome(
            "resources", f"kustomize would build {visits} kustomizations (at most {MAX_VISITS}): a diamond of bases"
        )
    for key in ("patches", "patchesStrategicMerge", "patchesJson6902", "replacements", "resources"):
        entries = doc.body.get(key)
        if isinstance(entries, list) and len(entries) > MAX_ENTRIES:
            yield Outcome(key, f"{len(entries)} entries: at most {MAX_ENTRIES} (each one costs kustomize a pass)")
    root = Path(os.path.realpath(scope.context.root))
    for ref in references(doc.body, _folder(doc, scope.context)):
        if ref.path is None or ref.spec.path not in _YAML_FIELDS or not inside(ref.path, root):
            continue
        try:
            info = ref.path.stat()
        except OSError:
            continue  # missing: GO125 says so
        if not ref.path.is_file():
            continue
        yield Outcome(ref.field, _bounded_problem(ref.path, info.st_mtime_ns, info.st_size))
