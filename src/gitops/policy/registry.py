"""The policy registry: every check with its id, name and reason, and the runner.

A check is a function registered with ``@check(id, name)``; its docstring is the reason
(what `--list-policies` and docs/validation.md print). It is called once per document and yields
one ``Outcome`` per thing it examined: the field, and ``None`` when it is fine or a
one-line problem when it is not. The runner counts the outcomes, turns the problems into
findings, and skips the ids it is told to skip.

Checks run at one or both of two stages: ``document`` (every rendered document, after
kustomize) and ``input`` (the files kustomize and Argo CD read, before kustomize runs:
each kustomization file reached from a target, each cluster's config.yaml). A
``mandatory`` check guards kustomize itself, or pins what the cluster add-ons deploy
(policy/addons.py), and cannot be switched off.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Hashable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple, TypeVar

if TYPE_CHECKING:
    from ..repo import Addon, ClusterConfig

T = TypeVar("T")


@dataclass(frozen=True)
class Finding:
    id: str
    file: str
    resource: str
    field: str
    message: str

    def __str__(self) -> str:
        """One line whatever a file name or value holds: control characters escaped (a newline in a
        file name under addons/ would otherwise print a second, made-up finding)."""
        line = f"{self.id} {self.file}: {self.resource}: {self.field}: {self.message}"
        return "".join(c if c.isprintable() else repr(c)[1:-1] for c in line)


@dataclass
class Doc:
    source: str  # the target (kustomization folder or file) it was rendered from; for an input, the file
    body: dict
    environment: str | None = None
    label: str | None = None  # how findings name an input file that is not a Kubernetes object
    addon: str | None = None  # the cluster add-on whose folder it was rendered from (policy/addons.py)

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
        return self.label or f"{self.kind}/{self.name}"


# The AppProjects of this repository (and Argo CD's built-in `default`, which always
# exists) when no reviewed list says otherwise (gitops.yaml reviewedAppProjects): a new one
# can widen what Argo CD may do, so it is a reviewed change.
DEFAULT_REVIEWED_APPPROJECTS = frozenset({"default", "flask-app", "flask-gitops-bootstrap"})


@dataclass(frozen=True)
class Context:
    """What the repository-level checks need to know (gitops.yaml, where things are)."""

    root: Path
    digest_required: frozenset[str] = frozenset()
    environments: tuple[str, ...] = ()  # in promotion order
    overlays: Path | None = None  # the folder of the environment overlays
    clusters: Path | None = None  # the folder of the cluster folders
    reviewed_projects: frozenset[str] = DEFAULT_REVIEWED_APPPROJECTS
    manual_sync: frozenset[str] = frozenset()  # environments never synced automatically
    # Argo CD's own controls (policy/controls.py); what is not listed here is refused.
    repo_url: str = ""  # the repository every Application and generator must read (gitops.yaml repoURL)
    revision: str = "HEAD"  # the one revision they may track (gitops.yaml revision)
    argocd: Path | None = None  # the folder the root Application syncs
    reviewed_sync_options: frozenset[str] = frozenset(
        {"CreateNamespace=true", "ServerSideApply=true", "PruneLast=true"}
    )
    reviewed_annotations: frozenset[str] = frozenset()
    reviewed_app_fields: frozenset[str] = frozenset()
    reviewed_generators: frozenset[str] = frozenset({"git"})
    reviewed_finalizers: frozenset[str] = frozenset()  # APPLICATION=FINALIZER
    image: str = ""  # gitops.yaml image: the one repository the app's images come from
    app: str = "flask-app"  # gitops.yaml app: its Applications are <app>-<cluster>
    # The repository's AppProject specs by name, for Applications validated without them (say
    # `gitops validate argocd`, whose projects live in argocd/projects/); a run's own win.
    projects: Mapping[str, dict] = field(default_factory=dict, compare=False)
    # The argocd/ folders that were not built (refused inputs, a failed build): their AppProjects
    # are unknown, so an Application's missing project is no finding of its own (GO120).
    unread_projects: tuple[str, ...] = ()
    # Every cluster folder's config.yaml as the repository model read it (Repo.cluster_configs), by folder name.
    cluster_configs: Mapping[str, ClusterConfig] = field(default_factory=dict, compare=False)
    # The cluster add-ons (Repo.addons): what they render, and how Argo CD syncs them.
    addons: tuple[Addon, ...] = ()

    def addon(self, name: str | None) -> Addon | None:
        return next((a for a in self.addons if a.name == name), None)


@dataclass(frozen=True)
class Scope:
    """What one check call may look at besides its document."""

    context: Context
    render: tuple[Doc, ...]  # every document rendered from the same target
    projects: Mapping[str, dict]  # AppProject specs of the whole run (else the repository's), by name
    cache: dict = field(default_factory=dict, compare=False, repr=False)  # see memo()

    def same_namespace(self, doc: Doc, kinds: set[str]) -> list[Doc]:
        return [d for d in self.render if d.kind in kinds and d.namespace == doc.namespace]

    def memo(self, key: Hashable, compute: Callable[[], T]) -> T:
        """``compute()`` once per scope and key: what several checks read (files, rendered Applications)."""
        if key not in self.cache:
            self.cache[key] = compute()
        return self.cache[key]


class Outcome(NamedTuple):
    field: str
    problem: str | None = None  # None: examined and fine
    doc: Doc | None = None  # the document the problem is about, when not the one checked


CheckFunction = Callable[[Doc, Scope], Iterable[Outcome | tuple]]
DOCUMENT, INPUT = "document", "input"


@dataclass(frozen=True)
class Policy:
    id: str
    name: str
    reason: str
    function: CheckFunction
    stages: frozenset[str] = frozenset({DOCUMENT})
    mandatory: bool = False  # guards kustomize itself or pins the cluster add-ons: cannot be skipped
    addons: bool = False  # reads what a cluster add-on renders (the others never see it: policy/addons.py)


POLICIES: dict[str, Policy] = {}


def check(
    pid: str, name: str, stages: Iterable[str] = (DOCUMENT,), mandatory: bool = False, addons: bool = False
) -> Callable[[CheckFunction], CheckFunction]:
    """Register a check under its stable id and short name; the function's docstring is its reason."""

    def register(function: CheckFunction) -> CheckFunction:
        if pid in POLICIES:
            raise ValueError(f"policy id {pid} registered twice")
        reason = " ".join(inspect.cleandoc(function.__doc__ or "").split())
        if not reason:
            raise ValueError(f"policy {pid} has no reason: give {function.__name__} a docstring")
        wanted = frozenset(stages)
        if not wanted or wanted - {DOCUMENT, INPUT}:
            raise ValueError(f"policy {pid}: stages must be {DOCUMENT!r} and/or {INPUT!r}")
        POLICIES[pid] = Policy(pid, name, reason, function, wanted, mandatory, addons)
        return function

    return register


@dataclass
class Result:
    findings: list[Finding] = field(default_factory=list)
    checks: int = 0


def check_skippable(skip: Iterable[str]) -> None:
    """Refuse unknown ids and the mandatory checks (ValueError)."""
    skipped = set(skip)
    unknown = skipped - POLICIES.keys()
    if unknown:
        raise ValueError(f"unknown policy id(s): {', '.join(sorted(unknown))}")
    mandatory = sorted(pid for pid in skipped if POLICIES[pid].mandatory)
    if mandatory:
        raise ValueError(
            f"policy id(s) {', '.join(mandatory)} cannot be switched off "
            "(they keep kustomize offline and bounded, and pin what the cluster add-ons deploy)"
        )


def run(docs: Iterable[Doc], ctx: Context, skip: Iterable[str] = (), stage: str = DOCUMENT) -> Result:
    """Run every check of ``stage`` but the skipped ids; cross-resource checks look only within one render.

    At the input stage every input of the run is one render (so checks can compare
    cluster folders). A document a cluster add-on renders is checked by the add-on policies
    only (``addons=True``): its rendering is pinned whole (policy/addons.py), where the app's
    rules (probes, NetworkPolicies, no kube-system) do not fit. Neither ``docs`` nor ``ctx`` is changed.
    """
    docs = tuple(docs)
    skipped = set(skip)
    check_skippable(skipped)
    policies = [p for pid, p in sorted(POLICIES.items()) if pid not in skipped and stage in p.stages]
    projects = {**ctx.projects, **{d.name: d.body.get("spec") or {} for d in docs if d.kind == "AppProject"}}
    renders: dict[str, list[Doc]] = {}
    for doc in docs:
        renders.setdefault(doc.source if stage == DOCUMENT else "", []).append(doc)
    result = Result()
    for render in renders.values():
        scope = Scope(ctx, tuple(render), projects)
        for doc in render:
            for policy in policies:
                if doc.addon is not None and not policy.addons:
                    continue
                for outcome in policy.function(doc, scope):
                    where, problem, about = Outcome(*outcome)
                    result.checks += 1
                    if problem is not None:
                        about = about or doc
                        result.findings.append(Finding(policy.id, about.source, about.ref, where, problem))
    return result


def table(markdown: bool = False) -> str:
    """Every policy, one a line (``--list-policies``), or as docs/validation.md's Markdown table."""
    policies = sorted(POLICIES.values(), key=lambda p: p.id)
    if not markdown:
        return "\n".join(f"{p.id} {p.name}: {p.reason}" for p in policies) + "\n"
    rows = ["| id | name | why |", "|---|---|---|"]
    rows += [f"| {p.id} | `{p.name}` | {p.reason} |" for p in policies]
    return "\n".join(rows) + "\n"
