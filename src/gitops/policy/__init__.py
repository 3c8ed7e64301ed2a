"""Policy checks over rendered manifests: what schemas cannot see.

Each check is registered in one place with its stable id, name and reason
(``@check`` in policy/registry.py); `gitops validate --list-policies` and the README's
table print that registry. The checks live by concern:

- pod.py: probes, resources, Pod Security (the rules are data), images;
- scaling.py: HorizontalPodAutoscalers and their targets;
- network.py: Services, NetworkPolicies;
- namespaces.py: the `default` namespace;
- argocd.py: Applications, ApplicationSets and their AppProjects.
"""

from . import argocd, namespaces, network, pod, scaling
from .registry import POLICIES, Context, Doc, Finding, Outcome, Policy, Result, Scope, check, run, table

__all__ = [
    "POLICIES",
    "Context",
    "Doc",
    "Finding",
    "Outcome",
    "Policy",
    "Result",
    "Scope",
    "argocd",
    "check",
    "namespaces",
    "network",
    "pod",
    "run",
    "scaling",
    "table",
]
