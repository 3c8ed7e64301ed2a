"""Networking: Services that reach pods and are not exposed wide open; NetworkPolicies that select them,
valid and closed CIDRs, default deny."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator

from .objects import (
    PROTOCOLS,
    WORKLOAD_KINDS,
    container_port_names,
    dns_label_problem,
    labels_problem,
    pod_of,
    port_number_problem,
    port_problem,
    ports,
    selector_problem,
    selects,
    selects_everything,
)
from .registry import Doc, Outcome, Scope, check


def _selected(service: Doc, scope: Scope) -> list[Doc]:
    selector = (service.body.get("spec") or {}).get("selector") or {}
    if labels_problem(selector):
        return []
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
        problem = labels_problem(selector)
        if problem is None and not _selected(doc, scope):
            problem = f"{selector} matches no pod template in this render"
        yield Outcome("spec.selector", problem)


def _target(port: dict) -> object:
    """The targetPort the API server stores: unset, 0 and "" mean the Service port."""
    target = port.get("targetPort")
    unset = target is None or target == "" or (type(target) is int and target == 0)
    return port.get("port") if unset else target


def _service_port_problems(entries: list) -> Iterator[tuple[str, str | None]]:
    """(field, problem) of each Service port entry, as the API server and server-side apply take them."""
    names: set[str] = set()
    keys: set[str] = set()
    for index, port in enumerate(entries):
        port = port if isinstance(port, dict) else {}
        name, protocol = port.get("name"), port.get("protocol") or "TCP"  # "" and null are defaulted to TCP
        problems = []
        if name:
            problems.append(dns_label_problem(name) or (f"name {name!r} used twice" if name in names else None))
            names.add(str(name))
        elif len(entries) > 1:
            problems.append("a Service with several ports names each one")
        problems.append(port_number_problem(port.get("port")))
        if protocol not in PROTOCOLS:
            problems.append(f"protocol {protocol!r} is not one of {', '.join(PROTOCOLS)}")
        twice = repr((port.get("port"), protocol))
        if twice in keys:
            problems.append(f"port {port.get('port')}/{protocol} used twice")
        keys.add(twice)
        target = port_problem(_target(port))
        problems.append(target and f"targetPort: {target}")
        yield f"spec.ports[{name or index}]", "; ".join(p for p in problems if p) or None


def _resolves(target: object, protocol: str, workload: Doc) -> bool:
    """Does a (valid) targetPort reach a container port of the workload, as the endpoints controller resolves it?

    A name matches a port of that name and protocol in any container; a number must be declared.
    """
    spec = pod_of(workload)[0]
    if isinstance(target, str):
        return any(target in container_port_names(c, protocol) for c in spec.get("containers") or [])
    return target in ports(spec)[1]


@check("GO109", "service-port")
def service_port(doc: Doc, scope: Scope) -> Iterator[Outcome]:
    """A targetPort that names or numbers no container port sends traffic nowhere."""
    spec = doc.body.get("spec") or {}
    if doc.kind != "Service":
        return
    entries = spec.get("ports") or []
    yield from (Outcome(where, problem) for where, problem in _service_port_problems(entries))
    if not spec.get("selector"):
        return
    selected = _selected(doc, scope)
    if not selected:
        return  # GO108 says why
    for index, port in enumerate(entries):
        target, protocol = _target(port), port.get("protocol") or "TCP"
        if port_problem(target):
            continue  # said above
        for workload in selected:
            problem = f"{target!r} is not a container port of {workload.ref}"
            if isinstance(target, str):
                problem = f"{target!r} names no {protocol} container port of {workload.ref}"
            yield Outcome(
                f"spec.ports[{port.get('name') or index}].targetPort",
                None if _resolves(target, protocol, workload) else problem,
            )


def _peers(rule: object, peer_key: str) -> list:
    """The peers of a NetworkPolicy rule; none for a rule that is not a mapping (GO136 says why)."""
    peers = rule.get(peer_key) if isinstance(rule, dict) else None
    return peers if isinstance(peers, list) else []


def _cidrs(spec: dict) -> Iterator[tuple[str, str]]:
    for direction, peer_key in (("ingress", "from"), ("egress", "to")):
        for i, rule in enumerate(spec.get(direction) or []):
            for j, peer in enumerate(_peers(rule, peer_key)):
                block = peer.get("ipBlock") if isinstance(peer, dict) else None
                if not isinstance(block, dict) or not block:
                    continue  # GO112 says why a block that is not a mapping is wrong
                yield f"spec.{direction}[{i}].{peer_key}[{j}].ipBlock.cidr", str(block.get("cidr"))
                for k, cidr in enumerate(block.get("except") or []):
                    yield f"spec.{direction}[{i}].{peer_key}[{j}].ipBlock.except[{k}]", str(cidr)


def cidr_problem(text: object) -> str | None:
    """Why ``text`` is no CIDR the API server takes without an error or a warning, else None.

    That is a network address (no host bits), '/' and a prefix length, in canonical form:
    Python's ipaddress alone takes more (an address without a prefix length as /32, a
    netmask, a zone, an IPv4-mapped IPv6 address, spellings the server warns about).
    """
    if not isinstance(text, str):
        return f"{text!r} is not a CIDR"
    try:
        network = ipaddress.ip_network(text, strict=False)
    except ValueError as exc:
        return f"{text!r} is not a valid CIDR ({exc})"
    if "/" not in text:
        return f"{text!r} has no prefix length (one address is {network})"
    if "%" in text:
        return f"{text!r} has a zone: the API server takes none"
    if isinstance(network, ipaddress.IPv6Network) and network.network_address.ipv4_mapped is not None:
        return f"{text!r} is an IPv4-mapped IPv6 CIDR: write the IPv4 one"
    try:
        ipaddress.ip_network(text, strict=True)
    except ValueError:
        return f"{text!r} has host bits set: the API server calls it ambiguous (the network is {network})"
    if str(network) != text:
        return f"{text!r} is not in canonical form: write {str(network)!r}"
    return None


def _blocks(spec: dict) -> Iterator[tuple[str, dict]]:
    for direction, peer_key in (("ingress", "from"), ("egress", "to")):
        for i, rule in enumerate(spec.get(direction) or []):
            for j, peer in enumerate(_peers(rule, peer_key)):
                block = peer.get("ipBlock") if isinstance(peer, dict) else None
                if block is not None:
                    yield f"spec.{direction}[{i}].{peer_key}[{j}].ipBlock", block if isinstance(block, dict) else {}


@check("GO112", "netpol-cidr")
def netpol_cidr(doc: Doc, scope: Scope) -> Iterator[Outcome]:
    """An invalid ipBlock CIDR is rejected by the API server or, worse, silently means
    something else."""
    if doc.kind != "NetworkPolicy":
        return
    for where, block in _blocks(doc.body.get("spec") or {}):
        cidr = block.get("cidr")
        problem = cidr_problem(cidr)
        yield Outcome(f"{where}.cidr", problem)
        network = None if problem else ipaddress.ip_network(cidr)
        for k, exception in enumerate(block.get("except") or []):
            inner = cidr_problem(exception)
            if inner is None and network is not None:
                excepted = ipaddress.ip_network(exception)
                if not (
                    excepted.version == network.version
                    and excepted.prefixlen > network.prefixlen
                    and excepted.subnet_of(network)
                ):
                    inner = f"{exception!r} is not a strict subset of the cidr {cidr!r}"
            yield Outcome(f"{where}.except[{k}]", inner)


@check("GO111", "netpol-selects")
def netpol_selects(doc: Doc, scope: Scope) -> Iterator[Outcome]:
    """A NetworkPolicy that selects no workload protects nothing (usually a label typo)."""
    selector = (doc.body.get("spec") or {}).get("podSelector") if doc.kind == "NetworkPolicy" else None
    if selector is None:
        return
    problem = selector_problem(selector)
    if problem is None and selects_everything(selector):
        return  # {} selects every pod: nothing to check
    if problem is None:
        workloads = scope.same_namespace(doc, WORKLOAD_KINDS | {"Pod"})
        selected = any(selects(selector, pod_of(w)[1]) for w in workloads)
        problem = None if selected else f"{selector} selects no workload's pods"
    yield Outcome("spec.podSelector", problem)


def _is_default_deny(doc: Doc) -> bool:
    spec = doc.body.get("spec") or {}
    types = spec.get("policyTypes") or []
    return (
        doc.kind == "NetworkPolicy"
        and selects_everything(spec.get("podSelector") or {})
        and len(types) <= 2  # the API server takes no more (nor another value)
        and set(types) == {"Ingress", "Egress"}
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


# Ranges that together hold more addresses than a /8 of their family are the internet, however
# they are cut (0.0.0.0/1 and 128.0.0.0/1 are all of it): an allow-list is narrower than that.
BROADEST_PREFIX = 8


def _link_local(cidr: object) -> bool:
    try:
        return ipaddress.ip_network(str(cidr).strip(), strict=False).is_link_local
    except ValueError:
        return False


def _everywhere(cidr: object) -> bool:
    """Does ``cidr`` cover every address of its family (0.0.0.0/0, ::/0, or a spelling of them)?"""
    try:
        return ipaddress.ip_network(str(cidr).strip(), strict=False).prefixlen == 0
    except ValueError:
        return False  # GO112 says why


# Address space no one reaches from the internet: private, shared, loopback, link-local.
NOT_PUBLIC = tuple(
    ipaddress.ip_network(n)
    for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16",
              "fc00::/7", "fe80::/10", "::1/128")
)  # fmt: skip


def _public(network) -> int:
    """How many public addresses ``network`` holds."""
    hidden = 0
    for private in NOT_PUBLIC:
        if private.version != network.version:
            continue
        if network.subnet_of(private):
            return 0
        if private.subnet_of(network):
            hidden += private.num_addresses
    return network.num_addresses - hidden


def too_broad(cidrs: list[object]) -> str | None:
    """Why ``cidrs`` together are a public address space (more than a /8 of a family's public addresses), else None."""
    networks: dict[int, list] = {4: [], 6: []}
    for cidr in cidrs:
        try:
            network = ipaddress.ip_network(str(cidr).strip(), strict=False)
        except ValueError:
            continue  # GO112 / the range check says why
        networks[network.version].append(network)
    for version, found in networks.items():
        bits = 32 if version == 4 else 128
        total = sum(_public(n) for n in ipaddress.collapse_addresses(found))
        if total > 2 ** (bits - BROADEST_PREFIX):
            share = total / 2**bits
            ranges = [str(n) for n in found]
            return (
                f"together {ranges} hold {share:.1%} of IPv{version}, public addresses (more than a /{BROADEST_PREFIX})"
            )
    return None


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
    problems = {
        "NodePort": "NodePort opens a port on every node; use a LoadBalancer",
        "ExternalName": "ExternalName sends the Service's clients to another host",
    }
    yield Outcome("spec.type", problems.get(kind))
    if spec.get("externalIPs"):
        yield Outcome("spec.externalIPs", f"{spec['externalIPs']} routes those addresses to this Service on every node")
    if kind == "LoadBalancer":
        ranges = spec.get("loadBalancerSourceRanges") or []
        for i, source in enumerate(ranges):  # the API server trims the spaces around each
            yield Outcome(f"spec.loadBalancerSourceRanges[{i}]", cidr_problem(str(source).strip()))
        open_ranges = [r for r in ranges if _everywhere(r)]
        problem = None
        if not ranges:
            problem = "a LoadBalancer without source ranges is open to the internet"
        elif open_ranges:
            problem = f"{open_ranges} lets every address in"
        else:
            problem = too_broad(ranges)
        yield Outcome("spec.loadBalancerSourceRanges", problem)


@check("GO136", "netpol-open")
def netpol_open(doc: Doc, scope: Scope) -> Iterator[Outcome]:
    """A NetworkPolicy rule with no peers (`{}`, or ports only), an ipBlock of 0.0.0.0/0 or
    ::/0 or ranges that together hold more than a /8 of public addresses, a
    `namespaceSelector: {}` (every pod of the cluster) or a link-local range (the node's
    metadata service) allows far more than the app needs: allow the sources and
    destinations by name or by a narrow range."""
    if doc.kind != "NetworkPolicy":
        return
    spec = doc.body.get("spec") or {}
    for direction, peer_key in (("ingress", "from"), ("egress", "to")):
        for i, rule in enumerate(spec.get(direction) or []):
            if rule is not None and not isinstance(rule, dict):
                problem = f"{rule!r} is not a rule (a mapping): what it allows is unreadable"
                yield Outcome(f"spec.{direction}[{i}]", problem)
                continue
            peers = _peers(rule, peer_key)
            problem = f"no {peer_key!r}: every {'source' if peer_key == 'from' else 'destination'} is allowed"
            raw = (rule or {}).get(peer_key)
            if raw is not None and not isinstance(raw, list):
                problem = f"{raw!r} is not a list of peers: what it allows is unreadable"
            yield Outcome(f"spec.{direction}[{i}].{peer_key}", None if peers else problem)
    for where, cidr in _cidrs(spec):
        if where.endswith(".cidr"):
            yield Outcome(where, f"{cidr!r} allows every address" if _everywhere(cidr) else None)
            yield Outcome(where, f"{cidr!r} is link-local: the node's metadata service" if _link_local(cidr) else None)
    for direction, peer_key in (("ingress", "from"), ("egress", "to")):
        for i, rule in enumerate(spec.get(direction) or []):
            for j, peer in enumerate(_peers(rule, peer_key)):
                if isinstance(peer, dict) and peer.get("namespaceSelector") == {} and not peer.get("podSelector"):
                    where = f"spec.{direction}[{i}].{peer_key}[{j}].namespaceSelector"
                    yield Outcome(where, "{} selects every namespace: every pod of the cluster")
    # Every ipBlock of every NetworkPolicy of the namespace together: policies add up.
    for direction in ("ingress", "egress"):
        cidrs = [
            cidr
            for other in scope.same_namespace(doc, {"NetworkPolicy"})
            for where, cidr in _cidrs(other.body.get("spec") or {})
            if where.startswith(f"spec.{direction}") and where.endswith(".cidr") and not _everywhere(cidr)
        ]
        if cidrs:
            yield Outcome(f"spec.{direction} (with the namespace's other policies)", too_broad(cidrs))


# --- client addresses behind a cloud load balancer (docs/clouds.md) ------------------------
# What the gate can read from a Service: its type, externalTrafficPolicy, loadBalancerClass and
# the annotations each cloud's controller reads. What it cannot read is the cloud: a Service
# without any of these annotations is taken for a passthrough balancer (GKE, AKS, MetalLB),
# where externalTrafficPolicy alone decides.
AWS = "service.beta.kubernetes.io/aws-load-balancer-"
AWS_LBC_CLASS = "service.k8s.aws/nlb"  # the AWS Load Balancer Controller's default loadBalancerClass


def _string_map(text: object) -> dict[str, str]:
    """An AWS stringMap annotation ("k1=v1,k2=v2") as a dict."""
    pairs = (item.partition("=") for item in str(text or "").split(","))
    return {key.strip(): value.strip() for key, _, value in pairs if key.strip()}


def _aws_problem(annotations: dict, lb_class: object) -> tuple[str, str | None, bool]:
    """(field, problem, through node ports) for a Service the AWS controllers build a balancer for."""
    kind = annotations.get(f"{AWS}type")
    field = f"metadata.annotations.{AWS}type"
    attributes_field = f"metadata.annotations.{AWS}target-group-attributes"
    preserve = _string_map(annotations.get(f"{AWS}target-group-attributes")).get("preserve_client_ip.enabled")
    if kind is None and lb_class != AWS_LBC_CLASS:
        return (
            field,
            (
                "AWS annotations without a load balancer type: the in-tree controller builds a Classic ELB, a proxy "
                "whose connections come from its own addresses (or, with the AWS Load Balancer Controller's webhook, "
                'an internal NLB); set "external"'
            ),
            False,
        )
    if kind == "nlb-ip":
        target = "ip"
    elif kind == "nlb":
        target = "instance"  # the in-tree NLB registers instances
    elif kind in ("external", None):
        target = str(annotations.get(f"{AWS}nlb-target-type", "instance"))
    else:
        return field, f"{kind!r} is no type this gate knows to keep client addresses (external, nlb)", False
    if target == "ip":
        kept = (preserve or "").lower() == "true"
        problem = (
            "NLB ip targets receive connections from the balancer's own addresses unless "
            f"{AWS}target-group-attributes sets preserve_client_ip.enabled=true"
        )
        return attributes_field, None if kept else problem, False
    if target != "instance":
        return f"metadata.annotations.{AWS}nlb-target-type", f"{target!r} is not instance or ip", False
    # Instance targets keep client addresses by default, but the attribute can turn that off.
    if preserve is not None and preserve.lower() != "true":
        problem = (
            f"preserve_client_ip.enabled={preserve}: the NLB's instance targets then receive connections from "
            "the balancer's own addresses"
        )
        return attributes_field, problem, True
    return field, None, True


def _internal(annotations: dict, lb_class: object) -> str | None:
    """The annotation or field that makes the balancer internal (no public address), else None."""
    aws_lbc = annotations.get(f"{AWS}type") in ("external", "nlb-ip") or lb_class == AWS_LBC_CLASS
    if aws_lbc and annotations.get(f"{AWS}scheme", "internal") != "internet-facing":
        return f"metadata.annotations.{AWS}scheme"  # the AWS Load Balancer Controller's default is internal
    # The in-tree AWS controller makes the balancer internal for any value but "false" (or empty), a CIDR included.
    in_tree = annotations.get(f"{AWS}internal")
    if not aws_lbc and in_tree is not None and str(in_tree) not in ("", "false"):
        return f"metadata.annotations.{AWS}internal"
    for key, internal in (
        ("service.beta.kubernetes.io/azure-load-balancer-internal", "true"),
        ("networking.gke.io/load-balancer-type", "internal"),
        ("cloud.google.com/load-balancer-type", "internal"),
    ):
        if str(annotations.get(key, "")).lower() == internal:
            return f"metadata.annotations.{key}"
    if lb_class == "networking.gke.io/l4-regional-internal":
        return "spec.loadBalancerClass"
    return None


def _port_numbers(port: object, protocol: str, workload: Doc) -> set[int] | None:
    """The container port numbers ``port`` (a name or number) means on ``workload``; None means every port."""
    if port is None:
        return None
    if isinstance(port, str):
        found = set()
        for container in pod_of(workload)[0].get("containers") or []:
            for entry in container.get("ports") or []:
                if (
                    isinstance(entry, dict)
                    and entry.get("name") == port
                    and (entry.get("protocol") or "TCP") == protocol
                ):
                    found.add(entry.get("containerPort"))
        return found
    return {port} if type(port) is int else set()


def _rule_reaches(rule: dict, numbers: set[int], protocol: str, workload: Doc) -> bool:
    """Does a NetworkPolicy ingress rule allow any of ``numbers`` (container ports) over ``protocol``?"""
    entries = rule.get("ports") or [{}]  # no ports: every port
    for entry in entries:
        entry = entry if isinstance(entry, dict) else {}
        if (entry.get("protocol") or "TCP") != protocol:
            continue
        allowed = _port_numbers(entry.get("port"), protocol, workload)
        if allowed is None:
            return True
        end = entry.get("endPort")
        if type(end) is int and len(allowed) == 1:
            (start,) = allowed
            allowed = set(range(start, end + 1)) if type(start) is int else allowed
        if allowed & numbers:
            return True
    return False


def _allow_lists(service: Doc, scope: Scope) -> Iterator[tuple[Doc, int, list[str]]]:
    """(NetworkPolicy, ingress rule index, its ipBlock CIDRs) of every allow-list that admits this Service's traffic."""
    spec = service.body.get("spec") or {}
    for policy_doc in scope.same_namespace(service, {"NetworkPolicy"}):
        np_spec = policy_doc.body.get("spec") or {}
        workloads = [w for w in _selected(service, scope) if selects(np_spec.get("podSelector"), pod_of(w)[1])]
        for i, rule in enumerate(np_spec.get("ingress") or []):
            cidrs = [
                str(peer["ipBlock"].get("cidr"))
                for peer in _peers(rule, "from")
                if isinstance(peer, dict) and isinstance(peer.get("ipBlock"), dict)
            ]
            if not cidrs:
                continue  # (so the rule is a mapping below)
            if any(
                _rule_reaches(rule, numbers, protocol, workload)
                for workload in workloads
                for port in spec.get("ports") or []
                if isinstance(port, dict)
                for protocol in [port.get("protocol") or "TCP"]
                for numbers in [_port_numbers(_target(port), protocol, workload) or set()]
            ):
                yield policy_doc, i, cidrs


@check("GO160", "lb-client-address")
def lb_client_address(doc: Doc, scope: Scope) -> Iterator[Outcome]:
    """An ipBlock allow-list in a NetworkPolicy sees the address a connection comes from: behind a
    load balancer or node port that does not keep the client's address (externalTrafficPolicy other
    than Local, an AWS Classic ELB, NLB ip targets without preserve_client_ip, NLB targets with it turned
    off) that is a node's or the balancer's, so the allow-list drops every client or admits every
    one; behind an internal balancer the listed public clients never arrive. The Service must keep
    client addresses, and be public when the allow-list is."""
    spec = (doc.body.get("spec") or {}) if doc.kind == "Service" else {}
    if spec.get("type") not in ("LoadBalancer", "NodePort"):
        return
    allow_lists = list(_allow_lists(doc, scope))
    if not allow_lists:
        return
    np, rule, _cidrs = allow_lists[0]
    which = f"{np.ref}'s ipBlock allow-list (spec.ingress[{rule}])"
    annotations = (doc.body.get("metadata") or {}).get("annotations") or {}
    lb_class = spec.get("loadBalancerClass")
    node_ports = True
    if spec["type"] == "LoadBalancer" and (any(k.startswith(AWS) for k in annotations) or lb_class == AWS_LBC_CLASS):
        field, problem, node_ports = _aws_problem(annotations, lb_class)
        yield Outcome(field, problem and f"{problem}, so {which} never sees a client")
    if node_ports:
        policy = spec.get("externalTrafficPolicy") or "Cluster"
        problem = (
            f"{policy!r}: a node forwards outside traffic to pods on other nodes from its own address, so {which} "
            "never sees a client; set Local"
        )
        yield Outcome("spec.externalTrafficPolicy", None if policy == "Local" else problem)
    internal = _internal(annotations, lb_class) if spec["type"] == "LoadBalancer" else None
    if internal:
        public = []
        for _np, _rule, found in allow_lists:
            for cidr in found:
                try:
                    if _public(ipaddress.ip_network(cidr.strip(), strict=False)):
                        public.append(cidr)
                except ValueError:
                    continue  # GO112 says why
        problem = f"an internal balancer has no public address: {public} in {which} cannot reach it"
        yield Outcome(internal, problem if public else None)
