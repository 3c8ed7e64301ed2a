"""ApplicationSets rendered by Argo CD's own code: the `appset-render` tool.

`make tools` builds it from the pinned Argo CD module (tools/argocd/appset-render,
tools/build-appset-render.sh): the List, Git, Matrix and Merge generators, the template
with its goTemplate options, the templatePatch and the finalizer rule are Argo CD's
(``GenerateApplications``, what the controller and `argocd appset generate` call); the Git
generator reads the working tree, with the repo-server's file selection (a git pathspec).
Nothing here re-implements any of it: this module only runs the tool and reads its JSON.
"""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from .errors import GitopsError, one_line
from .settings import tool

TOOL = "appset-render"


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


def render(appsets: list[dict], root: Path, projects: list[dict] = ()) -> list[Rendered]:
    """Every ApplicationSet in ``appsets`` rendered over the working tree ``root``, in one run of the tool.

    ``projects`` are AppProject objects (the Git generator reads the template's project);
    one that is not given is rendered as if it existed (the AppProject policies say it does not).
    """
    if not appsets:
        return []
    stream = "".join(json.dumps(doc) + "\n---\n" for doc in [*appsets, *projects])
    try:
        result = subprocess.run(
            [tool(TOOL), "-root", str(root), "-"],
            input=stream,
            capture_output=True,
            text=True,
            check=False,
        )
    except OSError as exc:
        raise GitopsError(f"{TOOL}: {exc} (run 'make tools')", 1) from None
    if result.returncode not in (0, 1):
        raise GitopsError(f"{TOOL} failed: {one_line(result.stderr)}", 1)
    try:
        sets = json.loads(result.stdout)["applicationSets"]
    except (ValueError, KeyError, TypeError):
        raise GitopsError(f"{TOOL}: unreadable output: {one_line(result.stderr)}", 1) from None
    if len(sets) != len(appsets):
        raise GitopsError(f"{TOOL}: rendered {len(sets)} ApplicationSets of {len(appsets)}", 1)
    return [
        Rendered(
            name=s.get("name", ""),
            applications=s.get("applications") or [],
            generated_from=s.get("generatedFrom") or [],
            errors=[RenderError(e.get("field", ""), e.get("source", ""), e["message"]) for e in s.get("errors") or []],
        )
        for s in sets
    ]
