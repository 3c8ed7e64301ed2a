"""Networking: Services that reach pods and are not exposed wide open; NetworkPolicies that select them,
valid and closed CIDRs, default deny."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator

from .objects import WORKLOAD_KINDS, pod_of, port_ok, ports, selects
from .registry import Doc, Outcome, Scope, check


def _selected(service: Doc, scope: Scope) -> list[Doc]:
    selector = (service.body.get("spec") or {}).get("selector") or {}
    return [
        w
        for w in scope.same_namespace(service, WORKLOAD_KINDS | {"Pod"})
        if all(pod_of(w)[1].get(k) == v for k, v in selector.items())
    ]


@check("GO108", "service-selector")
def service_selector(doc: Doc, scope: Scope) -> Iterator[Outcome]:
    """A Service whose selector matches no pod template has no endpoints."""
    selector = (doc.body.get("spec") or {}).get("selector") if doc.kind == "Service" else None
    if selector:  # a selector-less Service (manual endpoints) is allowed
        problem = f"{selector} matches no pod template in this render"
        yield Outcome("spec.selector", None if _selected(doc, scope) else problem)


@check("GO109", "service-port")
def service_port(doc: Doc, scope: Scope) -> Iterator[Outcome]:
    """A targetPort that names or numbers no container port sends traffic nowhere."""
    spec = doc.body.get("spec") or {}
    if doc.kind != "Service" or not spec.get("selector"):
        return
    selected = _selected(doc, scope)
    if not selected:
        return  # GO108 says why
    for index, port in enumerate(spec.get("ports") or []):
        target = port.get("targetPort", port.get("port"))
        for workload in selected:
            names, numbers = ports(pod_of(workload)[0])
            problem = f"{target!r} is not a container port of {workload.ref}"
            yield Outcome(
                f"spec.ports[{port.get('name', index)}].targetPort",
                None if port_ok(target, names, numbers) else problem,
            )


def _cidrs(spec: dict) -> Iterator[tuple[str, str]]:
    for direction, peer_key in (("ingress", "from"), ("egress", "to")):
        for i, rule in enumerate(spec.get(direction) or []):
            for j, peer in enumerate(rule.get(peer_key) or []):
                block = peer.get("ipBlock")
                if not block:
                    continue
                yield f"spec.{direction}[{i}].{peer_key}[{j}].ipBlock.cidr", str(block.get("cidr"))
                for k, cidr in enumerate(block.get("except") or []):
                    yield f"spec.{direction}[{i}].{peer_key}[{j}].ipBlock.except[{k}]", str(cidr)


@check("GO112", "netpol-cidr")
def netpol_cidr(doc: Doc, scope: Scope) -> Iterator[Outcome]:
    """An invalid ipBlock CIDR is rejected by the API server or, worse, silently means
    something else."""
    if doc.kind != "NetworkPolicy":
        return
    for where, cidr in _cidrs(doc.body.get("spec") or {}):
        try:
            ipaddress.ip_network(cidr, strict=True)
        except ValueError as exc:
            yield Outcome(where, f"{cidr!r} is not a valid CIDR ({exc})")
        else:
            yield Outcome(where)


@check("GO111", "netpol-selects")
def netpol_selects(doc: Doc, scope: Scope) -> Iterator[Outcome]:
    """A NetworkPolicy that selects no workload protects nothing (usually a label typo)."""
    selector = (doc.body.get("spec") or {}).get("podSelector") if doc.kind == "NetworkPolicy" else None
    if selector:  # {} selects every pod: nothing to check
        workloads = scope.same_namespace(doc, WORKLOAD_KINDS | {"Pod"})
        selected = any(selects(selector, pod_of(w)[1]) for w in workloads)
        yield Outcome("spec.podSelector", None if selected else f"{selector} selects no workload's pods")


def _is_default_deny(doc: Doc) -> bool:
    spec = doc.body.get("spec") or {}
    return (
        doc.kind == "NetworkPolicy"
        and not (spec.get("podSelector") or {})
        and {"Ingress", "Egress"} <= set(spec.get("policyTypes") or [])
        and not spec.get("ingress")
        and not spec.get("egress")
    )


@check("GO113", "netpol-default-deny")
def netpol_default_deny(doc: Doc, scope: Scope) -> Iterator[Outcome]:
    """Without a default-deny policy, every pod the app policy does not select is open."""
    if doc.kind not in WORKLOAD_KINDS:
        return
    denied = any(_is_default_deny(d) for d in scope.same_namespace(doc, {"NetworkPolicy"}))
    problem = (
        f"namespace {doc.namespace or 'default'!r} has no default-deny NetworkPolicy "
        "(podSelector {}, policyTypes Ingress and Egress, no rules)"
    )
    yield Outcome("metadata.namespace", None if denied else problem)


def _everywhere(cidr: object) -> bool:
    """Does ``cidr`` cover every address of its family (0.0.0.0/0, ::/0, or a spelling of them)?"""
    try:
        return ipaddress.ip_network(str(cidr).strip(), strict=False).prefixlen == 0
    except ValueError:
        return False  # GO112 says why


@check("GO135", "service-exposure")
def service_exposure(doc: Doc, scope: Scope) -> Iterator[Outcome]:
    """A Service reaches outside the cluster only through a load balancer restricted to
    known source ranges: a NodePort opens a port on every node, externalIPs can capture
    traffic meant for other addresses, and an unrestricted LoadBalancer is open to the
    internet."""
    if doc.kind != "Service":
        return
    spec = doc.body.get("spec") or {}
    kind = spec.get("type", "ClusterIP")
    yield Outcome(
        "spec.type", "NodePort opens a port on every node; use a LoadBalancer" if kind == "NodePort" else None
    )
    if spec.get("externalIPs"):
        yield Outcome("spec.externalIPs", f"{spec['externalIPs']} routes those addresses to this Service on every node")
    if kind == "LoadBalancer":
        ranges = spec.get("loadBalancerSourceRanges") or []
        open_ranges = [r for r in ranges if _everywhere(r)]
        problem = None
        if not ranges:
            problem = "a LoadBalancer without source ranges is open to the internet"
        elif open_ranges:
            problem = f"{open_ranges} lets every address in"
        yield Outcome("spec.loadBalancerSourceRanges", problem)


@check("GO136", "netpol-open")
def netpol_open(doc: Doc, scope: Scope) -> Iterator[Outcome]:
    """A NetworkPolicy rule with no peers (`{}`, or ports only) or an ipBlock of 0.0.0.0/0
    or ::/0 allows every address: allow the sources and destinations by name or range."""
    if doc.kind != "NetworkPolicy":
        return
    spec = doc.body.get("spec") or {}
    for direction, peer_key in (("ingress", "from"), ("egress", "to")):
        for i, rule in enumerate(spec.get(direction) or []):
            peers = (rule or {}).get(peer_key) or []
            problem = f"no {peer_key!r}: every {'source' if peer_key == 'from' else 'destination'} is allowed"
            yield Outcome(f"spec.{direction}[{i}].{peer_key}", None if peers else problem)
    for where, cidr in _cidrs(spec):
        if where.endswith(".cidr"):
            yield Outcome(where, f"{cidr!r} allows every address" if _everywhere(cidr) else None)
