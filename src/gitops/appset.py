"""ApplicationSets rendered by Argo CD's own code: the `appset-render` tool.

`make tools` builds it from the pinned Argo CD module (tools/argocd/appset-render,
tools/build-appset-render.sh): the List, Git, Matrix and Merge generators, the template
with its goTemplate options, the templatePatch and the finalizer rule are Argo CD's
(``GenerateApplications``, what the controller and `argocd appset generate` call); the Git
generator reads the working tree, with the repo-server's file selection (a git pathspec).
Nothing here re-implements any of it: this module only runs the tool and reads its JSON
(after refusing a file the Git generator would read that is no regular file: a FIFO would
block the tool for ever).
"""

from __future__ import annotations

import fnmatch
import json
import os
import stat
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from . import bounded
from .errors import GitopsError, one_line
from .toolchain import tool

TOOL = "appset-render"
# Far above a render of hundreds of clusters (about a second); only a read that blocks meets it.
RENDER_TIMEOUT = 120


@dataclass(frozen=True)
class RenderError:
    field: str  # spec.template, spec.templatePatch or spec.generators
    source: str  # the config file the generator element came from ("" when unknown)
    message: str

    def __str__(self) -> str:
        return f"{self.source}: {self.message}" if self.source else self.message


@dataclass
class Rendered:
    """One ApplicationSet's Applications, each with the file it was generated from, and its errors.

    As in Argo CD, an element that fails does not stop the others: ``applications`` holds
    every one that rendered (the controller, though, updates none while any fails).
    """

    name: str
    applications: list[dict] = field(default_factory=list)
    generated_from: list[str] = field(default_factory=list)
    errors: list[RenderError] = field(default_factory=list)


def _file_patterns(node: object) -> Iterator[str]:
    """The path of every Git ``files`` generator entry below ``node`` (Matrix and Merge nest generators)."""
    if isinstance(node, dict):
        git = node.get("git")
        if isinstance(git, dict):
            for entry in git.get("files") or []:
                if isinstance(entry, dict) and isinstance(entry.get("path"), str):
                    yield entry["path"]
        for value in node.values():
            yield from _file_patterns(value)
    elif isinstance(node, list):
        for value in node:
            yield from _file_patterns(value)


def _may_read(path: str, pattern: str) -> bool:
    """Could the git pathspec ``pattern`` (``*`` also matches ``/``) select ``path``? Errs on the side of yes."""
    pattern = pattern.removeprefix("./")
    prefix = pattern.rstrip("/")
    return fnmatch.fnmatchcase(path, pattern) or path == prefix or path.startswith(prefix + "/")


def _irregular_inputs(appsets: list[dict], root: Path) -> Iterator[str]:
    """Every file a Git files generator of ``appsets`` may read that is not a regular file (symlinks followed).

    The tool reads each selected file to its end: a FIFO blocks it for ever, a device never ends.
    Only the folder named by each pattern's literal start is walked.
    """
    patterns = [p for doc in appsets for p in _file_patterns((doc.get("spec") or {}).get("generators"))]
    seen: set[Path] = set()
    for pattern in patterns:
        literal = []
        for part in pattern.removeprefix("./").split("/"):
            if any(c in part for c in "*?[\\"):
                break
            literal.append(part)
        if ".." in literal:
            continue  # outside the repository: git refuses the pathspec, the tool reports it
        start = root.joinpath(*literal) if literal else root
        if start in seen:
            continue
        seen.add(start)
        if not start.is_dir():
            candidates = [start] if os.path.lexists(start) else []
        else:
            candidates = []
            for folder, dirs, files in os.walk(start):
                dirs[:] = sorted(d for d in dirs if d != ".git")
                candidates += [Path(folder) / name for name in sorted(files)]
        for path in candidates:
            rel = path.relative_to(root).as_posix()
            if not any(_may_read(rel, p) for p in patterns):
                continue
            try:
                mode = os.stat(path).st_mode
            except OSError:
                continue  # missing or a symlink loop: the tool skips it or fails by itself
            if not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
                yield rel


def _run_tool(args: list[str], stream: str) -> subprocess.CompletedProcess[str]:
    path = tool(TOOL)
    if not os.path.isfile(path):
        raise GitopsError(f"{TOOL}: not installed at {path} (run 'make tools')", 1)
    return bounded.run([path, *args], what=TOOL, input=stream, env=bounded.offline_env(), timeout=RENDER_TIMEOUT)


def _answers(args: list[str], docs: list[dict], key: str, wanted: int) -> list[dict]:
    """Run the tool over ``docs``; the ``wanted`` entries of its JSON answer's ``key``, or a one-line error."""
    result = _run_tool(args, "".join(json.dumps(doc) + "\n---\n" for doc in docs))
    if result.returncode not in (0, 1):
        raise GitopsError(f"{TOOL} {args[0]} failed: {one_line(result.stderr)}", 1)
    try:
        found = json.loads(result.stdout)[key]
    except (ValueError, KeyError, TypeError):
        raise GitopsError(f"{TOOL}: unreadable output: {one_line(result.stderr)}", 1) from None
    if not isinstance(found, list) or len(found) != wanted:
        raise GitopsError(f"{TOOL}: answered {len(found) if isinstance(found, list) else '?'} {key} of {wanted}", 1)
    return found


def render(appsets: list[dict], root: Path, projects: list[dict] = ()) -> list[Rendered]:
    """Every ApplicationSet in ``appsets`` rendered over the working tree ``root``, in one run of the tool.

    ``projects`` are AppProject objects (the Git generator reads the template's project);
    one that is not given is rendered as if it existed (the AppProject policies say it does not).
    A file the Git generator would read that is not a regular file (a FIFO would block the
    tool for ever) is refused before the tool runs.
    """
    if not appsets:
        return []
    irregular = next(_irregular_inputs(appsets, root), None)
    if irregular is not None:
        why = "not a regular file (an ApplicationSet's git generator reads it)"
        raise GitopsError(f"{irregular}: cannot read: {why}", 1)
    sets = _answers(["-root", str(root), "-"], [*appsets, *projects], "applicationSets", len(appsets))
    return [
        Rendered(
            name=s.get("name", ""),
            applications=s.get("applications") or [],
            generated_from=s.get("generatedFrom") or [],
            errors=[RenderError(e.get("field", ""), e.get("source", ""), e["message"]) for e in s.get("errors") or []],
        )
        for s in sets
    ]


@dataclass
class Manifests:
    """What the repo-server would generate for one Application (or why it cannot)."""

    name: str
    path: str
    source_type: str = ""
    manifests: list[dict] = field(default_factory=list)
    error: str = ""


# What the repo-server's checkout would not hold, and what the copy leaves out.
_NOT_COPIED = {".git", ".venv", ".tools", "build", "node_modules", "__pycache__", ".pytest_cache", ".hypothesis"}


def manifests(apps: list[dict], root: Path) -> list[Manifests]:
    """Each Application's source rendered by the repo-server's own code (GenerateManifests), in order.

    The tool works on a throw-away copy of ``root`` (with source overrides Argo CD edits the
    kustomization in place, as in its own checkout), with kustomize from tools/versions.mk,
    offline and bounded like every other tool. The caller has checked what kustomize reads.
    """
    if not apps:
        return []
    import shutil
    import tempfile

    with tempfile.TemporaryDirectory(prefix="gitops-argocd-") as tmp:
        tree = Path(tmp) / "repo"
        shutil.copytree(root, tree, symlinks=True, ignore=lambda _d, names: [n for n in names if n in _NOT_COPIED])
        found = _answers(
            ["-manifests", "-root", str(tree), "-kustomize", tool("kustomize"), "-"], apps, "applications", len(apps)
        )
    return [
        Manifests(
            name=a.get("name", ""),
            path=a.get("path", ""),
            source_type=a.get("sourceType", ""),
            manifests=[m for m in a.get("manifests") or [] if isinstance(m, dict)],
            error=a.get("error", ""),
        )
        for a in found
    ]
