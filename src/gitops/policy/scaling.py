"""Autoscaling: an HPA must find its target, own the replica count, and have CPU requests to divide by."""

from __future__ import annotations

from collections.abc import Iterator

from .objects import pod_containers
from .registry import Doc, Outcome, Scope, check


def _target(hpa: Doc, scope: Scope) -> Doc | None:
    ref = (hpa.body.get("spec") or {}).get("scaleTargetRef") or {}
    found = [d for d in scope.same_namespace(hpa, {ref.get("kind", "")}) if d.name == ref.get("name")]
    return found[0] if found else None


@check("GO106", "hpa-target")
def hpa_target(doc: Doc, scope: Scope) -> Iterator[Outcome]:
    """An HPA whose target is not in the same render scales nothing."""
    if doc.kind != "HorizontalPodAutoscaler":
        return
    ref = (doc.body.get("spec") or {}).get("scaleTargetRef") or {}
    problem = f"{ref.get('kind')}/{ref.get('name')} is not in this render"
    yield Outcome("spec.scaleTargetRef", problem if _target(doc, scope) is None else None)


@check("GO107", "hpa-no-replicas")
def hpa_no_replicas(doc: Doc, scope: Scope) -> Iterator[Outcome]:
    """spec.replicas on an HPA-scaled Deployment makes every sync reset the replica count and
    Argo CD report OutOfSync forever."""
    target = _target(doc, scope) if doc.kind == "HorizontalPodAutoscaler" else None
    if target is not None:
        problem = f"set, but {doc.ref} owns the replica count; remove it"
        yield Outcome("spec.replicas", problem if "replicas" in (target.body.get("spec") or {}) else None, target)


@check("GO105", "hpa-cpu-request")
def hpa_cpu_request(doc: Doc, scope: Scope) -> Iterator[Outcome]:
    """A CPU-utilization HPA divides usage by the CPU request: without one it cannot scale."""
    target = _target(doc, scope) if doc.kind == "HorizontalPodAutoscaler" else None
    if target is None:
        return
    spec = doc.body.get("spec") or {}
    uses_cpu = (
        any((m.get("resource") or {}).get("name") == "cpu" for m in spec.get("metrics") or [])
        or "targetCPUUtilizationPercentage" in spec
    )
    if not uses_cpu:
        return
    for container, where, _ in pod_containers(target):
        missing = "cpu" not in ((container.get("resources") or {}).get("requests") or {})
        problem = f"not set, but {doc.ref} scales on CPU utilization"
        yield Outcome(f"{where}.resources.requests.cpu", problem if missing else None, target)
