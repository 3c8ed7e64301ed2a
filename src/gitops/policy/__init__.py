"""Policy checks over rendered manifests: what schemas cannot see.

Each check is registered in one place with its stable id, name and reason
(``@check`` in policy/registry.py); `gitops validate --list-policies` and the table in
docs/validation.md print that registry. The checks live by concern:

- inputs.py: what kustomize reads, before it runs (local files in the repository only);
- clusters.py: clusters/*/config.yaml (the problems the repository model found) and the cluster kustomizations;
- pod.py: probes, resources, Pod Security (the rules are data), host ports;
- images.py: tags, digests and the repository images come from;
- scaling.py: HorizontalPodAutoscalers and their targets;
- network.py: Services and their exposure, NetworkPolicies, client addresses behind load balancers;
- namespaces.py: `default` and the system namespaces, Namespace objects, Pod Security labels;
- access.py: RBAC (no wildcards, no privilege verbs, no bindings to everyone), Secrets;
- admission.py: the repository's admission policies deny;
- applications.py: Applications, ApplicationSets and their AppProjects;
- controls.py: Argo CD's own controls (annotations, sync options, Application fields, source files), deny by default;
- sources.py: this repository at the reviewed revision, each Application its own folder and cluster;
- appsets.py: ApplicationSet generators and template functions;
- projects.py: what AppProjects may allow, and which may exist;
- windows.py: sync windows cover every cluster pinned by digest or synced by hand;
- addons.py: the cluster add-ons: what they render, pinned, and the Argo CD objects that sync them.
"""

from . import (
    access,
    addons,
    admission,
    applications,
    appsets,
    clusters,
    controls,
    images,
    inputs,
    namespaces,
    network,
    pod,
    projects,
    scaling,
    sources,
    windows,
)
from .registry import (
    DOCUMENT,
    INPUT,
    POLICIES,
    Context,
    Doc,
    Finding,
    Outcome,
    Policy,
    Result,
    Scope,
    check,
    check_skippable,
    run,
    table,
)

__all__ = [
    "DOCUMENT",
    "INPUT",
    "POLICIES",
    "Context",
    "Doc",
    "Finding",
    "Outcome",
    "Policy",
    "Result",
    "Scope",
    "access",
    "addons",
    "admission",
    "applications",
    "appsets",
    "check",
    "check_skippable",
    "clusters",
    "controls",
    "images",
    "inputs",
    "namespaces",
    "network",
    "pod",
    "projects",
    "run",
    "scaling",
    "sources",
    "table",
    "windows",
]
