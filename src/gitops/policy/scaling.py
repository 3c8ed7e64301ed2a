"""Autoscaling: an HPA must find its target, own the replica count, and have CPU requests to divide by.

HPAs are read as the API server reads them, in every version it serves: autoscaling/v1
(targetCPUUtilizationPercentage, other metrics in an annotation) and autoscaling/v2; in
both, an HPA that names no metric scales on CPU utilization (80 %).
"""

from __future__ import annotations

import json
from collections.abc import Iterator

from .objects import pod_containers
from .registry import Doc, Outcome, Scope, check

# autoscaling/v1 keeps the metrics it cannot express in this annotation (a JSON list).
V1_METRICS_ANNOTATION = "autoscaling.alpha.kubernetes.io/metrics"
CPU_RESOURCES = ("Resource", "ContainerResource")


def _group(api_version: object) -> str:
    """The API group of an apiVersion ("" for the core group: "v1", or none at all)."""
    text = str(api_version or "")
    return text.rpartition("/")[0] if "/" in text else ""


def _named(hpa: Doc, scope: Scope) -> list[Doc]:
    """The objects of the render that scaleTargetRef's kind and name designate, whatever their API group.

    The HPA controller's REST mapper (built from discovery) knows each kind as written and all in
    lower case: `deployment` finds a Deployment, `DEPLOYMENT` does not.
    """
    ref = (hpa.body.get("spec") or {}).get("scaleTargetRef") or {}
    kind = ref.get("kind")
    return [
        d
        for d in scope.render
        if d.namespace == hpa.namespace and kind in (d.kind, d.kind.lower()) and d.name == ref.get("name")
    ]


def _target(hpa: Doc, scope: Scope) -> Doc | None:
    """The object the HPA scales: the HPA controller looks up the kind in scaleTargetRef's API group (any
    version of it), so an apiVersion of another group (extensions/v1beta1, or none) finds no Deployment."""
    ref = (hpa.body.get("spec") or {}).get("scaleTargetRef") or {}
    found = [d for d in _named(hpa, scope) if _group(d.body.get("apiVersion")) == _group(ref.get("apiVersion"))]
    return found[0] if found else None


def _metrics(hpa: Doc) -> list[dict]:
    """The metrics the HPA scales on, as the API server converts them; [] means CPU utilization (the default)."""
    spec = hpa.body.get("spec") or {}
    if hpa.body.get("apiVersion") != "autoscaling/v1":
        return [m for m in spec.get("metrics") or [] if isinstance(m, dict)]
    metrics = []
    annotations = (hpa.body.get("metadata") or {}).get("annotations") or {}
    try:
        listed = json.loads(annotations.get(V1_METRICS_ANNOTATION) or "[]")
    except ValueError:
        listed = []  # the API server ignores an annotation it cannot read
    metrics += [m for m in listed if isinstance(m, dict)] if isinstance(listed, list) else []
    if spec.get("targetCPUUtilizationPercentage") is not None:
        metrics.append({"type": "Resource", "resource": {"name": "cpu"}})
    return metrics


def _scales_on_cpu(hpa: Doc) -> bool:
    metrics = _metrics(hpa)
    if not metrics:
        return True  # no metric at all: CPU utilization, in autoscaling/v1 and v2 alike
    for metric in metrics:
        source = metric.get("resource") or metric.get("containerResource") or {}
        if metric.get("type") in CPU_RESOURCES and isinstance(source, dict) and source.get("name") == "cpu":
            return True
    return False


@check("GO106", "hpa-target")
def hpa_target(doc: Doc, scope: Scope) -> Iterator[Outcome]:
    """An HPA whose target is not in the same render scales nothing."""
    if doc.kind != "HorizontalPodAutoscaler":
        return
    ref = (doc.body.get("spec") or {}).get("scaleTargetRef") or {}
    problem = None
    if _target(doc, scope) is None:
        problem = f"{ref.get('kind')}/{ref.get('name')} is not in this render"
        named = _named(doc, scope)
        if named:
            group = _group(named[0].body.get("apiVersion")) or "the core group"
            problem = (
                f"apiVersion {ref.get('apiVersion')!r} is not in {group}, the API group of {named[0].ref}: "
                "the HPA controller finds no such object"
            )
    yield Outcome("spec.scaleTargetRef", problem)


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
    if not _scales_on_cpu(doc):
        return
    for container, where, _ in pod_containers(target):
        missing = "cpu" not in ((container.get("resources") or {}).get("requests") or {})
        problem = f"not set, but {doc.ref} scales on CPU utilization"
        yield Outcome(f"{where}.resources.requests.cpu", problem if missing else None, target)


@check("GO155", "pdb-allows-eviction")
def pdb_allows_eviction(doc: Doc, scope: Scope) -> Iterator[Outcome]:
    """A PodDisruptionBudget that allows no eviction (`maxUnavailable: 0`, a `minAvailable`
    as high as the replica count) blocks every node drain and cluster upgrade, and
    `IfHealthyBudget` (the default) keeps a crash-looping pod from being evicted: a whole
    `maxUnavailable` of 1 or more, and `unhealthyPodEvictionPolicy: AlwaysAllow` written out."""
    if doc.kind != "PodDisruptionBudget":
        return
    spec = doc.body.get("spec") or {}
    most = spec.get("maxUnavailable")
    problem = None
    if "minAvailable" in spec:
        problem = f"minAvailable {spec['minAvailable']!r} can block every drain: use maxUnavailable: 1"
    elif not (isinstance(most, int) and not isinstance(most, bool) and most >= 1):
        problem = f"maxUnavailable {most!r}: give a whole number of pods, 1 or more"
    yield Outcome("spec", problem)
    policy = spec.get("unhealthyPodEvictionPolicy")
    problem = f"{policy!r}: write AlwaysAllow (the default keeps a crash-looping pod from eviction)"
    yield Outcome("spec.unhealthyPodEvictionPolicy", None if policy == "AlwaysAllow" else problem)
