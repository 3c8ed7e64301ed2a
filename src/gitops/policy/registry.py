"""The policy registry: every check with its id, name and reason, and the runner.

A check is a function registered with ``@check(id, name)``; its docstring is the reason
(what `--list-policies` and the README print). It is called once per rendered document
and yields one ``Outcome`` per thing it examined: the field, and ``None`` when it is
fine or a one-line problem when it is not. The runner counts the outcomes, turns the
problems into findings, and skips the ids it is told to skip.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple


@dataclass(frozen=True)
class Finding:
    id: str
    file: str
    resource: str
    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.id} {self.file}: {self.resource}: {self.field}: {self.message}"


@dataclass
class Doc:
    source: str  # the target (kustomization folder or file) it was rendered from
    body: dict
    environment: str | None = None

    @property
    def kind(self) -> str:
        return str(self.body.get("kind", ""))

    @property
    def name(self) -> str:
        return str((self.body.get("metadata") or {}).get("name", ""))

    @property
    def namespace(self) -> str | None:
        return (self.body.get("metadata") or {}).get("namespace")

    @property
    def ref(self) -> str:
        return f"{self.kind}/{self.name}"


@dataclass(frozen=True)
class Context:
    """What the repository-level checks need to know."""

    root: Path
    digest_required: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Scope:
    """What one check call may look at besides its document."""

    context: Context
    render: tuple[Doc, ...]  # every document rendered from the same target
    projects: Mapping[str, dict]  # AppProject specs of the whole run, by name

    def same_namespace(self, doc: Doc, kinds: set[str]) -> list[Doc]:
        return [d for d in self.render if d.kind in kinds and d.namespace == doc.namespace]


class Outcome(NamedTuple):
    field: str
    problem: str | None = None  # None: examined and fine
    doc: Doc | None = None  # the document the problem is about, when not the one checked


CheckFunction = Callable[[Doc, Scope], Iterable[Outcome | tuple]]


@dataclass(frozen=True)
class Policy:
    id: str
    name: str
    reason: str
    function: CheckFunction


POLICIES: dict[str, Policy] = {}


def check(pid: str, name: str) -> Callable[[CheckFunction], CheckFunction]:
    """Register a check under its stable id and short name; the function's docstring is its reason."""

    def register(function: CheckFunction) -> CheckFunction:
        if pid in POLICIES:
            raise ValueError(f"policy id {pid} registered twice")
        reason = " ".join(inspect.cleandoc(function.__doc__ or "").split())
        if not reason:
            raise ValueError(f"policy {pid} has no reason: give {function.__name__} a docstring")
        POLICIES[pid] = Policy(pid, name, reason, function)
        return function

    return register


@dataclass
class Result:
    findings: list[Finding] = field(default_factory=list)
    checks: int = 0


def run(docs: Iterable[Doc], ctx: Context, skip: Iterable[str] = ()) -> Result:
    """Run every registered check but the skipped ids; cross-resource checks look only within one render.

    Neither ``docs`` nor ``ctx`` is changed.
    """
    docs = tuple(docs)
    skipped = set(skip)
    unknown = skipped - POLICIES.keys()
    if unknown:
        raise ValueError(f"unknown policy id(s): {', '.join(sorted(unknown))}")
    policies = [p for pid, p in sorted(POLICIES.items()) if pid not in skipped]
    projects = {d.name: d.body.get("spec") or {} for d in docs if d.kind == "AppProject"}
    renders: dict[str, list[Doc]] = {}
    for doc in docs:
        renders.setdefault(doc.source, []).append(doc)
    result = Result()
    for render in renders.values():
        scope = Scope(ctx, tuple(render), projects)
        for doc in render:
            for policy in policies:
                for outcome in policy.function(doc, scope):
                    where, problem, about = Outcome(*outcome)
                    result.checks += 1
                    if problem is not None:
                        about = about or doc
                        result.findings.append(Finding(policy.id, about.source, about.ref, where, problem))
    return result


def table(markdown: bool = False) -> str:
    """Every policy, one a line (``--list-policies``), or as the README's Markdown table."""
    policies = sorted(POLICIES.values(), key=lambda p: p.id)
    if not markdown:
        return "\n".join(f"{p.id} {p.name}: {p.reason}" for p in policies) + "\n"
    rows = ["| id | name | why |", "|---|---|---|"]
    rows += [f"| {p.id} | `{p.name}` | {p.reason} |" for p in policies]
    return "\n".join(rows) + "\n"
