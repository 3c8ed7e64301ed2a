"""gitops validate's format and cross-resource rules against the real API server, case by case.

For each rule that reads a field's format or relates objects, hypothesis generates
variants of the dev render (derandomized, no example database: the same cases on every
run); each goes through `gitops validate`'s own layers in-process and through a
server-side apply dry run on the e2e control plane. tests/e2e/differential.py says what
"agree" means (in short: the server refusing what validate accepts is always a
disagreement; a format rule must refuse exactly what the server refuses, warnings
included; a cross-resource rule must read the object the server stores as it reads the
manifest). Every disagreement fails the test with the manifests and both verdicts; the
terminal summary counts the cases compared. GITOPS_DIFFERENTIAL_LOG=FILE appends every
case and both verdicts to FILE, one JSON line each.

What varies, per rule:

- GO112 netpol-cidr (format): ipBlock cidr and except, IPv4 and IPv6, with and without a
  prefix length, host bits set, leading zeros, netmasks, zones, IPv4-mapped and
  non-canonical IPv6 spellings, whitespace, junk; except entries inside, equal to,
  around and outside the cidr, or of the other family.
- GO135 service-exposure: a LoadBalancer's loadBalancerSourceRanges, the same CIDRs
  (space-padded too, which the server allows).
- GO109 service-port, GO110 probe-port (format and cross-resource): container port names
  (IANA_SVC_NAME: at most 15, a-z 0-9 '-', a letter, no '--', no '-' at either end) and
  numbers (0, 1, 65535, 65536, ...), duplicate names and ports, protocols; Service ports
  (DNS-label names, numbers, protocols, duplicates) with a targetPort by name, by number,
  as a digit string, 0, "" or omitted (both mean `port`); a readiness probe by name, by
  number, as a digit string, over httpGet, tcpSocket and grpc. A case whose references
  resolve as Kubernetes resolves them must agree exactly; one whose do not may be refused
  by validate alone.
- GO108 service-selector, GO111 netpol-selects (format and cross-resource): a Deployment's
  selector and template labels (the server refuses a selector that does not select its
  own template: the oracle of what a selector matches), the NetworkPolicy with that
  podSelector and the Service with its matchLabels: In, NotIn, Exists, DoesNotExist and
  invalid operators, empty and extra values, valid and invalid label keys and values.
- GO105 hpa-cpu-request, GO106 hpa-target, GO107 hpa-no-replicas (cross-resource, older
  API versions): autoscaling/v2 and autoscaling/v1 HPAs (targetCPUUtilizationPercentage
  set or not, the v1 metrics annotation), with and without metrics, CPU and other metrics,
  min and max replicas; autoscaling/v2beta2 and v2beta1, which the server no longer
  serves; a target with and without a CPU request and spec.replicas. GO106 is also
  checked against the HPA controller itself (real objects, its AbleToScale condition):
  every scaleTargetRef of five apiVersions, four kind spellings and two names.
- GO113 netpol-default-deny (cross-resource): the default-deny policy's policyTypes
  (omitted ones are defaulted by the server), rules and podSelector.
- GO114 pss-restricted, GO137 host-port and the pod rules (security, may be stricter):
  Pods in a namespace that enforces the restricted Pod Security Standard, with one to
  three securityContext, host namespace, volume, port, probe and lifecycle host and
  AppArmor annotation fields changed.
- GO127 cluster-config: a cluster's namespace (a DNS label), against the server's
  Namespace name validation.
- Older API versions of every kind of the render: which ones discovery says are served,
  and the schema layer refusing exactly the ones that are not.
"""

from __future__ import annotations

import copy
import ipaddress
import json
import os
import time
from collections.abc import Sequence

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from gitops import policy
from tests.e2e.conftest import DIFFERENTIAL
from tests.e2e.differential import (
    NAMESPACE,
    RESTRICTED,
    ApiServer,
    Case,
    Project,
    base_render,
    find,
    index,
    judge,
    unique,
)

pytestmark = pytest.mark.e2e

MISSING = object()


# --- running a batch of cases ------------------------------------------------------------
def examples(strategy: st.SearchStrategy, count: int) -> list:
    """``count`` examples of ``strategy``, the same ones on every run (derandomized, no database).

    Hypothesis draws the cases and ``compare`` judges them afterwards, together: the schema
    layer then runs once per test (kubeconform per case would take most of the time budget),
    and every disagreement is reported at once instead of the first one, shrunk.
    """
    found: list = []

    @settings(
        max_examples=count,
        deadline=None,
        derandomize=True,
        database=None,
        phases=(Phase.explicit, Phase.generate),
        suppress_health_check=list(HealthCheck),
    )
    @given(strategy)
    def collect(value):
        found.append(value)

    collect()
    return found


def compare(api: ApiServer, project: Project, cases: Sequence[Case]) -> None:
    """Judge the cases, count them for the summary, fail with every disagreement (the first dozen in full)."""
    __tracebackhide__ = True  # the failure is the report, not the frame's arguments
    judged = judge(api, project, unique(cases))
    if os.environ.get("GITOPS_DIFFERENTIAL_LOG"):  # every case and both verdicts, one JSON line each
        with open(os.environ["GITOPS_DIFFERENTIAL_LOG"], "a") as log:
            for j in judged:
                line = {
                    "rule": j.case.rule,
                    "what": j.case.what,
                    "server": [str(v) for v in j.server],
                    "validate": j.schema + [str(f) for f in j.findings],
                    "problems": j.problems,
                }
                log.write(json.dumps(line) + "\n")
    bad = [j for j in judged if j.problems]
    DIFFERENTIAL["cases"] = DIFFERENTIAL.get("cases", 0) + len(judged)
    DIFFERENTIAL["disagreements"] = DIFFERENTIAL.get("disagreements", 0) + len(bad)
    refused = sum(any(v.refused for v in j.server) for j in judged)
    rule = judged[0].case.rule
    print(f"\n{rule}: {len(judged)} cases, {refused} refused by the API server, {len(bad)} disagreements")
    assert not bad, f"{len(bad)} of {len(judged)} cases disagree:\n\n" + "\n\n".join(j.report() for j in bad[:12])


@pytest.fixture(scope="module")
def api(cluster):
    server = ApiServer(cluster.kubeconfig)
    cluster.apply_json({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE, "labels": RESTRICTED}})
    server.apply(find(base_render(), "ServiceAccount"))  # a Pod's ServiceAccount must exist
    try:
        yield server
    finally:
        server.close()
        cluster.kubectl("delete", "namespace", NAMESPACE, "--ignore-not-found", "--wait=false")


@pytest.fixture(scope="module")
def project():
    return Project()


def deployment_container(docs: list[dict]) -> dict:
    return find(docs, "Deployment")["spec"]["template"]["spec"]["containers"][0]


# --- CIDRs: GO112 netpol-cidr, GO135 service-exposure -----------------------------------
V4 = [0x0A000000, 0xC0A80100, 0, 0xFFFFFFFF, 0xAC100001, 0x7F000001, 0x64400000, 0x0A0A0A0A]
V6 = [
    int(ipaddress.IPv6Address(a))
    for a in ("2001:db8::", "fd00::", "::", "fe80::1", "2001:db8:0:1::", "::1", "64:ff9b::", "2001:db8::8a2e:370:7334")
]


def _mask(bits: int, prefix: int) -> int:
    prefix = max(0, min(prefix, bits))
    return ((1 << bits) - 1) ^ ((1 << (bits - prefix)) - 1)


def _spell(family: int, value: int, style: str) -> str:
    if family == 4:
        v4 = ipaddress.IPv4Address(value)
        if style == "leading-zeros":
            return ".".join(f"{int(octet):03d}" for octet in str(v4).split("."))
        if style == "mapped":
            return f"::ffff:{v4}"
        return str(v4)
    v6 = ipaddress.IPv6Address(value)
    if style == "exploded":
        return v6.exploded
    if style == "upper":
        return v6.compressed.upper()
    if style == "uncompressed":
        return ":".join(f"{int(group, 16):x}" for group in v6.exploded.split(":"))
    if style == "dotted":
        return ":".join(v6.exploded.split(":")[:6]) + f":{ipaddress.IPv4Address(value & 0xFFFFFFFF)}"
    if style == "zone":
        return f"{v6.compressed}%eth0"
    return v6.compressed


CIDR_CHANGES = ["host-bits", "spelling", "suffix", "padding", "prefix-too-long"]


@st.composite
def cidr_texts(draw) -> str:
    """A canonical network CIDR, and about half the time one or two changes to how it is written."""
    family = draw(st.sampled_from((4, 6)))
    bits = 32 if family == 4 else 128
    value = draw(st.sampled_from(V4 if family == 4 else V6) | st.integers(0, 2**bits - 1))
    prefix = draw(st.integers(0, bits) | st.sampled_from([0, 8, 24, bits, *([64] if family == 6 else [])]))
    changes = draw(st.sampled_from([[], []]) | st.lists(st.sampled_from(CIDR_CHANGES), min_size=1, max_size=2))
    if "prefix-too-long" in changes:
        prefix = bits + draw(st.integers(1, 100))
    if "host-bits" not in changes:
        value &= _mask(bits, prefix)
    style = "plain"
    if "spelling" in changes:
        style = draw(st.sampled_from(["leading-zeros", "mapped"] if family == 4 else
                                     ["exploded", "upper", "uncompressed", "dotted", "zone"]))  # fmt: skip
    text = _spell(family, value, style)
    suffix = "/{n}"
    if "suffix" in changes:
        suffix = draw(st.sampled_from(["/0{n}", "", "/+{n}", "/", "/{mask}"]))
    text += suffix.format(n=prefix, mask=ipaddress.IPv4Address(_mask(32, prefix)))
    if "padding" in changes:
        pad = draw(st.sampled_from([" ", "\n", "\t"]))
        text = draw(st.sampled_from([text + pad, pad + text]))
    return text


junk = st.text(alphabet="0123456789abcdefABCDEF.:/ %-", max_size=14)
cidrs = st.one_of(cidr_texts(), cidr_texts(), cidr_texts(), cidr_texts(), junk)


@st.composite
def except_entries(draw, cidr: str) -> list[str]:
    try:
        net = ipaddress.ip_network(cidr.strip(), strict=False)
    except ValueError:
        net = None
    out = []
    for _ in range(draw(st.integers(0, 2))):
        how = draw(st.sampled_from(["inside"] * 3 + ["equal", "supernet", "outside", "other-family", "any"]))
        if net is None or how == "any":
            out.append(draw(cidrs))
            continue
        bits = net.max_prefixlen
        if how == "inside" and net.prefixlen < bits:
            prefix = draw(st.integers(net.prefixlen + 1, bits))
            host = draw(st.integers(0, 2 ** (bits - net.prefixlen) - 1))
            value = (int(net.network_address) | host) & _mask(bits, prefix)
            out.append(str(ipaddress.IPv4Network((value, prefix))) if bits == 32 else _v6(value, prefix))
        elif how == "supernet" and net.prefixlen > 0:
            out.append(str(net.supernet()))
        elif how == "other-family":
            out.append("10.0.0.0/8" if bits == 128 else "fd00::/8")
        elif how == "outside":
            prefix = draw(st.integers(1, bits))
            value = draw(st.integers(0, 2**bits - 1)) & _mask(bits, prefix)
            out.append(str(ipaddress.IPv4Network((value, prefix))) if bits == 32 else _v6(value, prefix))
        else:
            out.append(str(net))
    return out


def _v6(value: int, prefix: int) -> str:
    return str(ipaddress.IPv6Network((value, prefix)))


@st.composite
def ip_blocks(draw) -> dict:
    cidr = draw(cidrs)
    block: dict = {"cidr": cidr}
    excepts = draw(except_entries(cidr))
    if excepts:
        block["except"] = excepts
    return block


@st.composite
def netpol_cidr_cases(draw) -> Case:
    docs = base_render()
    at = index(docs, "NetworkPolicy", "flask-app")
    spec = docs[at]["spec"]
    block = draw(ip_blocks())
    direction = draw(st.sampled_from(["ingress", "egress"]))
    if direction == "ingress":
        spec["ingress"] = [*(spec.get("ingress") or []), {"from": [{"ipBlock": block}]}]
    else:
        spec["egress"] = [*(spec.get("egress") or []), {"to": [{"ipBlock": block}]}]
    what = f"{direction} ipBlock {json.dumps(block)}"
    return Case("GO112 netpol-cidr", what, docs, (at,), frozenset({"GO112"}), exact=True)


def test_netpol_cidr(api, project):
    compare(api, project, examples(netpol_cidr_cases(), 260))


@st.composite
def source_range_cases(draw) -> Case:
    docs = base_render()
    at = index(docs, "Service")
    ranges = draw(st.lists(cidrs, min_size=1, max_size=2))
    docs[at]["spec"].update(type="LoadBalancer", loadBalancerSourceRanges=ranges)
    return Case("GO135 service-exposure", f"loadBalancerSourceRanges {json.dumps(ranges)}", docs, (at,),
                frozenset({"GO135"}), exact=False)  # fmt: skip


def test_load_balancer_source_ranges(api, project):
    compare(api, project, examples(source_range_cases(), 60))


# --- ports: GO109 service-port, GO110 probe-port ------------------------------------------
PORT_NAMES = ["http", "web", "h2c", "grpc-web", "a", "x1", "abcdefghijklmno", "abcdefghijklmnop", "8080", "1-2",
              "-http", "http-", "ht--tp", "HTTP", "Http", "ht_tp", "ht.tp", "é", "a b"]  # fmt: skip
port_names = st.sampled_from(PORT_NAMES) | st.text(alphabet="ab09-A_", min_size=1, max_size=17)
port_numbers = st.sampled_from([0, 1, 80, 5000, 5001, 8080, 65535, 65536, -1]) | st.integers(1, 65535)
protocols = st.sampled_from([None, "TCP", "UDP", "SCTP", "tcp"])


def _set_or_drop(entry: dict, key: str, value: object) -> None:
    """``entry[key] = value``, or no ``key`` at all for None."""
    entry.pop(key, None)
    if value is not None:
        entry[key] = value


SERVICE_PORT_NAMES = ["http", "web", "HTTP", "a" * 63, "a" * 64, "-x", "x-", "x.y", "1x", "8080", "h_2"]


def _named(port: dict, name: object, protocol: str) -> bool:
    return "name" in port and port["name"] == name and port.get("protocol", "TCP") == protocol


def _resolves(target: object, protocol: str, declared: list[dict]) -> bool:
    """Does a Service targetPort reach a declared container port, as Kubernetes resolves it?

    A name must match a port's name and protocol; a number must be declared (the policy asks
    that much, Kubernetes sends to any number).
    """
    if isinstance(target, str):
        return any(_named(p, target, protocol) for p in declared)
    return any(p.get("containerPort") == target for p in declared)


def _probe(probe: dict) -> dict:
    """The handler of a probe (httpGet, tcpSocket or grpc): where its port is."""
    (handler,) = [probe[k] for k in ("httpGet", "tcpSocket", "grpc") if k in probe]
    return handler


PORT_MUTATIONS = [
    "port-name", "port-name", "rename-unreferenced", "container-port", "container-port", "container-port-string",
    "container-protocol", "service-port", "service-name", "service-name", "service-protocol", "target", "target",
    "duplicate-name", "duplicate-number", "extra-port", "second-service-port", "duplicate-service-port", "probe",
    "probe",
]  # fmt: skip


@st.composite
def port_cases(draw) -> Case:
    """A valid, resolving set of ports (the container's, the Service's, the readiness probe's), then one to three
    changes to it."""
    docs = base_render()
    dep, svc = index(docs, "Deployment"), index(docs, "Service")
    container = deployment_container(docs)
    name = draw(st.sampled_from(["http", "web", "h2c", "grpc-web", "x1", "abcdefghijklmno"]))
    number = draw(st.sampled_from([5000, 8080, 1, 65535]) | st.integers(1, 65535).filter(lambda n: n != 5001))
    declared: dict = {"containerPort": number, "name": name, "protocol": "TCP"}
    container["ports"][0] = declared
    entry: dict = {"name": "http", "port": draw(st.sampled_from([80, 443, 1, 65535])), "protocol": "TCP"}
    by = draw(st.sampled_from(["name", "number", "omitted"]))
    if by == "omitted":
        entry["port"] = number
    else:
        entry["targetPort"] = name if by == "name" else number
    entries = [entry]
    readiness = container["readinessProbe"]
    readiness["httpGet"]["port"] = draw(st.sampled_from([name, number]))
    changed = []
    for mutation in draw(st.lists(st.sampled_from(PORT_MUTATIONS), min_size=0, max_size=3, unique=True)):
        changed.append(mutation)
        if mutation in ("port-name", "rename-unreferenced"):
            new = draw(port_names)
            if mutation == "port-name":  # the references follow
                for ref, key in ((entry, "targetPort"), (_probe(readiness), "port")):
                    if ref.get(key) == declared["name"]:
                        ref[key] = new
            declared["name"] = new
            if draw(st.integers(0, 5)) == 0:
                del declared["name"]
        elif mutation == "container-port":
            new = draw(port_numbers)
            for ref, key in ((entry, "targetPort"), (_probe(readiness), "port")):
                if ref.get(key) == declared["containerPort"]:
                    ref[key] = new
            if "targetPort" not in entry:
                entry["port"] = new
            declared["containerPort"] = new
        elif mutation == "container-port-string":
            declared["containerPort"] = str(declared["containerPort"])  # the schema layer's to refuse
        elif mutation == "container-protocol":
            _set_or_drop(declared, "protocol", draw(protocols))
        elif mutation == "service-port":
            entry["port"] = draw(port_numbers)
        elif mutation == "service-name":
            _set_or_drop(entry, "name", draw(st.sampled_from(SERVICE_PORT_NAMES) | port_names | st.just(None)))
        elif mutation == "service-protocol":
            _set_or_drop(entry, "protocol", draw(protocols))
        elif mutation == "target":
            how = draw(st.sampled_from(["digits", "zero", "empty", "omitted", "other-name", "other-number"]))
            value = {"digits": str(declared["containerPort"]), "zero": 0, "empty": "", "omitted": MISSING,
                     "other-name": draw(port_names), "other-number": draw(port_numbers)}[how]  # fmt: skip
            entry.pop("targetPort", None)
            if value is not MISSING:
                entry["targetPort"] = value
            changed[-1] += f" {how}"
        elif mutation == "duplicate-name":
            container["ports"].append({"containerPort": 6000, "name": declared.get("name", "x"), "protocol": "TCP"})
        elif mutation == "duplicate-number":
            twin = {"containerPort": declared["containerPort"], "name": "other"}
            container["ports"].append(twin | ({"protocol": declared["protocol"]} if "protocol" in declared else {}))
        elif mutation == "extra-port":
            container["ports"].append({"containerPort": draw(port_numbers), "name": draw(port_names)})
        elif mutation == "second-service-port":
            second = {"port": 9000, "targetPort": draw(st.sampled_from([declared.get("name", "x"), 5001, "probes"]))}
            if draw(st.booleans()):
                second["name"] = draw(st.sampled_from(["metrics", "http", "", "Metrics"]))
            entries.append(second)
        elif mutation == "duplicate-service-port":
            entries.append(copy.deepcopy(entry) | {"name": "copy"})  # the same port and protocol twice
        elif mutation == "probe":
            how = draw(st.sampled_from(["digits", "tcp-name", "tcp-number", "grpc", "probes", "other-name", "zero"]))
            value = {"digits": str(declared["containerPort"]), "tcp-name": declared.get("name", "x"),
                     "tcp-number": declared["containerPort"], "grpc": declared["containerPort"], "probes": "probes",
                     "other-name": draw(port_names), "zero": 0}[how]  # fmt: skip
            readiness.pop("httpGet")
            kind = "tcpSocket" if how.startswith("tcp") else "grpc" if how == "grpc" else "httpGet"
            readiness[kind] = {"port": value} | ({"path": "/readyz"} if kind == "httpGet" else {})
            changed[-1] += f" {how}"
    docs[svc]["spec"]["ports"] = entries

    # Kubernetes' resolution of every reference (validity aside: an invalid value is refused by both).
    ports = container["ports"]
    resolved = all(
        _resolves(
            e.get("targetPort") if e.get("targetPort") not in (None, 0, "") else e["port"],
            e.get("protocol", "TCP"),
            ports,
        )
        for e in entries
    )
    probe = _probe(readiness)
    if isinstance(probe["port"], str):
        resolved &= any(p.get("name") == probe["port"] for p in ports)
    else:
        resolved &= any(p.get("containerPort") == probe["port"] for p in ports)
    what = f"[{', '.join(changed) or 'valid'}] container ports {json.dumps(ports)}; "
    handler = {k: v for k, v in readiness.items() if k in ("httpGet", "tcpSocket", "grpc")}
    what += f"Service ports {json.dumps(entries)}; readiness {json.dumps(handler)}"
    return Case("GO109 service-port / GO110 probe-port", what, docs, (dep, svc), frozenset({"GO109", "GO110"}),
                exact=resolved, normalize=(svc,))  # fmt: skip


def test_ports(api, project):
    compare(api, project, examples(port_cases(), 220))


# --- selectors: GO108 service-selector, GO111 netpol-selects ------------------------------
VALID_KEYS = ["app", "tier", "example.com/role", "app.kubernetes.io/name", "a_b.c-d", "A1"]
INVALID_KEYS = ["Bad Key", "-app", "app-", "a" * 64, "example.com/", "/app", "Example.com/x", "x/y/z", "", "é"]
VALID_VALUES = ["web", "api", "", "v1.2", "A_b-c", "a" * 63]
INVALID_VALUES = ["-web", "web-", "a" * 64, "sp ace", "é", "a/b", 1, True]
OPERATORS = ["In", "NotIn", "Exists", "DoesNotExist", "in", "Gt"]


SELECTOR_CHANGES = ["value", "operator", "invalid-key", "invalid-value", "no-values", "values-on-exists",
                    "absent-key", "exists-to-absent"]  # fmt: skip


@st.composite
def selector_cases(draw) -> Case:
    """A selector that selects the template's labels, and about half the time one or two changes to it."""
    labels = draw(st.dictionaries(st.sampled_from(VALID_KEYS), st.sampled_from(VALID_VALUES), min_size=1, max_size=3))
    other_values = st.sampled_from(VALID_VALUES)
    match_labels: dict = {}
    expressions: list[dict] = []
    for key in draw(st.lists(st.sampled_from(sorted(labels)), min_size=1, max_size=len(labels), unique=True)):
        form = draw(st.sampled_from(["label", "label", "In", "NotIn", "Exists", "DoesNotExist"]))
        if form == "label":
            match_labels[key] = labels[key]
        elif form == "In":
            expressions.append(
                {"key": key, "operator": "In", "values": [labels[key], *draw(st.lists(other_values, max_size=1))]}
            )
        elif form == "NotIn":
            values = [v for v in draw(st.lists(other_values, min_size=1, max_size=2)) if v != labels[key]] or ["zz"]
            expressions.append({"key": key, "operator": "NotIn", "values": values})
        elif form == "Exists":
            expressions.append({"key": key, "operator": "Exists"})
        else:
            absent = next(k for k in [*VALID_KEYS, "zz"] if k not in labels)
            expressions.append({"key": absent, "operator": "DoesNotExist"})
    changes = draw(st.sampled_from([[], []]) | st.lists(st.sampled_from(SELECTOR_CHANGES), min_size=1, max_size=2))
    for change in changes:
        if change == "value" and match_labels:
            key = draw(st.sampled_from(sorted(match_labels)))
            match_labels[key] = draw(other_values)
        elif change == "operator" and expressions:
            draw(st.sampled_from(expressions))["operator"] = draw(st.sampled_from(OPERATORS))
        elif change == "invalid-key":
            match_labels[draw(st.sampled_from(INVALID_KEYS))] = draw(other_values)
        elif change == "invalid-value":
            if expressions and draw(st.booleans()):
                draw(st.sampled_from(expressions)).setdefault("values", []).append(
                    draw(st.sampled_from(INVALID_VALUES))
                )
            else:
                match_labels[draw(st.sampled_from(sorted(labels)))] = draw(st.sampled_from(INVALID_VALUES))
        elif change == "no-values":
            expressions.append(
                {
                    "key": draw(st.sampled_from(sorted(labels))),
                    "operator": draw(st.sampled_from(["In", "NotIn"])),
                    "values": [],
                }
            )
        elif change == "values-on-exists":
            expressions.append(
                {
                    "key": draw(st.sampled_from(sorted(labels))),
                    "operator": draw(st.sampled_from(["Exists", "DoesNotExist"])),
                    "values": [draw(other_values)],
                }
            )
        elif change == "absent-key":
            match_labels[next(k for k in [*VALID_KEYS, "zz"] if k not in labels)] = draw(other_values)
        elif change == "exists-to-absent":
            expressions.append({"key": draw(st.sampled_from(sorted(labels))), "operator": "DoesNotExist"})
    selector: dict = {}
    if match_labels:
        selector["matchLabels"] = match_labels
    if expressions:
        selector["matchExpressions"] = expressions

    docs = [d for d in base_render() if d["kind"] in ("Deployment", "NetworkPolicy", "Service")]
    deployment = find(docs, "Deployment")
    deployment["spec"]["selector"] = selector
    deployment["spec"]["template"]["metadata"]["labels"] = labels
    find(docs, "NetworkPolicy", "flask-app")["spec"]["podSelector"] = selector
    if set(selector) == {"matchLabels"}:
        find(docs, "Service")["spec"]["selector"] = selector["matchLabels"]
    else:
        docs.remove(find(docs, "Service"))
    sent = tuple(i for i, d in enumerate(docs) if d["metadata"]["name"] != "default-deny")
    what = f"[{', '.join(changes) or 'selects'}] selector {json.dumps(selector)}; template labels {json.dumps(labels)}"
    return Case("GO108 service-selector / GO111 netpol-selects", what, docs, sent, frozenset({"GO108", "GO111"}),
                exact=True)  # fmt: skip


def test_selectors(api, project):
    compare(api, project, examples(selector_cases(), 180))


# --- HPAs: GO105 hpa-cpu-request, GO106 hpa-target, GO107 hpa-no-replicas -----------------
V1_METRICS_ANNOTATION = "autoscaling.alpha.kubernetes.io/metrics"
V2_METRICS = {
    "cpu-utilization": [{"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization",
                                                                                    "averageUtilization": 50}}}],
    "cpu-average-value": [{"type": "Resource", "resource": {"name": "cpu", "target": {"type": "AverageValue",
                                                                                      "averageValue": "200m"}}}],
    "memory-utilization": [{"type": "Resource", "resource": {"name": "memory", "target": {"type": "Utilization",
                                                                                          "averageUtilization": 70}}}],
    "container-cpu": [{"type": "ContainerResource", "containerResource": {
        "name": "cpu", "container": "flask-app", "target": {"type": "Utilization", "averageUtilization": 60}}}],
    "pods": [{"type": "Pods", "pods": {"metric": {"name": "requests_per_second"},
                                       "target": {"type": "AverageValue", "averageValue": "10"}}}],
}  # fmt: skip
V2_METRICS["memory-and-cpu"] = V2_METRICS["memory-utilization"] + V2_METRICS["cpu-utilization"]
V2BETA1_METRICS = {
    "cpu-utilization": [{"type": "Resource", "resource": {"name": "cpu", "targetAverageUtilization": 50}}],
    "memory-utilization": [{"type": "Resource", "resource": {"name": "memory", "targetAverageUtilization": 70}}],
}
V1_ANNOTATIONS = {
    "memory": [{"type": "Resource", "resource": {"name": "memory", "targetAverageUtilization": 70}}],
    "cpu": [{"type": "Resource", "resource": {"name": "cpu", "targetAverageUtilization": 60}}],
}
HPA_VERSIONS = ["autoscaling/v2"] * 3 + ["autoscaling/v1"] * 3 + ["autoscaling/v2beta2", "autoscaling/v2beta1"]


@st.composite
def hpa_cases(draw) -> Case:
    docs = base_render()
    at = index(docs, "HorizontalPodAutoscaler")
    hpa = docs[at]
    version = draw(st.sampled_from(HPA_VERSIONS))
    old = hpa["spec"]
    spec: dict = {"scaleTargetRef": dict(old["scaleTargetRef"])}
    if draw(st.integers(0, 5)) == 0:
        spec["scaleTargetRef"]["name"] = "another-app"
    minimum = draw(st.sampled_from([MISSING, 1, 2]))
    if minimum is not MISSING:
        spec["minReplicas"] = minimum
    spec["maxReplicas"] = draw(st.sampled_from([3, 5]))
    what = [version]
    if version == "autoscaling/v1":
        target = draw(st.sampled_from([MISSING, MISSING, 50, 80, 120]))
        if target is not MISSING:
            spec["targetCPUUtilizationPercentage"] = target
        annotation = draw(st.sampled_from([None, None, None, "memory", "cpu"]))
        if annotation:
            annotations = hpa["metadata"].setdefault("annotations", {})
            annotations[V1_METRICS_ANNOTATION] = json.dumps(V1_ANNOTATIONS[annotation])
        what += [f"targetCPUUtilizationPercentage {'unset' if target is MISSING else target}",
                 f"metrics annotation {annotation}"]  # fmt: skip
    else:
        table = V2BETA1_METRICS if version == "autoscaling/v2beta1" else V2_METRICS
        metrics = draw(st.sampled_from(["omitted", "omitted", "empty", *sorted(table)]))
        if metrics == "empty":
            spec["metrics"] = []
        elif metrics != "omitted":
            spec["metrics"] = copy.deepcopy(table[metrics])
        if version != "autoscaling/v2beta1" and draw(st.booleans()):
            spec["behavior"] = old["behavior"]
        what.append(f"metrics {metrics}")
    hpa["apiVersion"], hpa["spec"] = version, spec
    container = deployment_container(docs)
    if draw(st.booleans()):
        del container["resources"]["requests"]["cpu"]
        what.append("target without a CPU request")
    if draw(st.integers(0, 3)) == 0:
        find(docs, "Deployment")["spec"]["replicas"] = 2
        what.append("target with spec.replicas")
    if spec["scaleTargetRef"]["name"] != "flask-app":
        what.append("scaleTargetRef names another Deployment")
    return Case("GO105 hpa-cpu-request / GO106 hpa-target / GO107 hpa-no-replicas", "; ".join(what), docs, (at,),
                frozenset({"GO105", "GO106", "GO107"}), exact=False, normalize=(at,))  # fmt: skip


def test_hpas_in_every_version(api, project):
    served = api.versions("HorizontalPodAutoscaler", "autoscaling")
    print(f"\nautoscaling versions served: {served}")
    assert {"autoscaling/v1", "autoscaling/v2"} <= set(served), served  # the versions the cases rely on
    compare(api, project, examples(hpa_cases(), 120))


# The scale target as the HPA controller finds it: group (any served version of it), kind, name.
SCALE_TARGETS = [
    (api_version, kind, name)
    for api_version in ("apps/v1", "apps/v1beta1", "extensions/v1beta1", "v1", None)
    for kind in ("Deployment", "deployment", "DEPLOYMENT", "StatefulSet")
    for name in ("flask-app", "another-app")
]


def test_hpa_target_as_the_hpa_controller_finds_it(api, project):
    """GO106 against the HPA controller: AbleToScale is True exactly when the rule finds the target.

    Real objects (the controller ignores dry runs): the dev Deployment and one HPA per
    scaleTargetRef, every combination of the apiVersions, kinds and names above. An HPA the
    API server refuses (a scaleTargetRef apiVersion without a group) must fail validate too.
    """
    docs = base_render()
    deployment = find(docs, "Deployment")
    api.apply(deployment)
    applied, bad, refused = [], [], 0
    try:
        for i, (api_version, kind, name) in enumerate(SCALE_TARGETS):
            hpa = copy.deepcopy(find(docs, "HorizontalPodAutoscaler"))
            hpa["metadata"]["name"] = f"differential-target-{i}"
            ref = {"kind": kind, "name": name} | ({"apiVersion": api_version} if api_version else {})
            hpa["spec"]["scaleTargetRef"] = ref
            render = [hpa if d["kind"] == "HorizontalPodAutoscaler" else d for d in docs]
            findings = project.findings(render)
            verdict = api.dry_run(hpa)
            if verdict.refused:
                refused += 1
                if not any(f.id == "GO106" for f in findings):
                    bad.append(f"scaleTargetRef {ref}: the API server {verdict}; GO106: no finding")
                continue
            api.apply(hpa)
            applied.append((hpa, findings))
        deadline = time.monotonic() + 90
        able: dict[str, str] = {}
        while time.monotonic() < deadline and len(able) < len(applied):
            for hpa, _ in applied:
                name = hpa["metadata"]["name"]
                stored = api.get("autoscaling/v2", "HorizontalPodAutoscaler", name) or {}
                for condition in (stored.get("status") or {}).get("conditions") or []:
                    if condition["type"] == "AbleToScale":
                        able[name] = condition["status"]
            time.sleep(0.5)
        assert len(able) == len(applied), f"the HPA controller judged {len(able)} of {len(applied)} HPAs in 90 s"
        for hpa, findings in applied:
            found = not any(f.id == "GO106" for f in findings)
            status = able[hpa["metadata"]["name"]]
            if found != (status == "True"):
                ref = hpa["spec"]["scaleTargetRef"]
                bad.append(f"scaleTargetRef {ref}: GO106 {'finds' if found else 'misses'} the target; "
                           f"the HPA controller's AbleToScale is {status}")  # fmt: skip
    finally:
        for hpa, _ in applied:
            api.delete("autoscaling/v2", "HorizontalPodAutoscaler", hpa["metadata"]["name"])
        api.delete("apps/v1", "Deployment", deployment["metadata"]["name"])
    DIFFERENTIAL["cases"] = DIFFERENTIAL.get("cases", 0) + len(SCALE_TARGETS)
    DIFFERENTIAL["disagreements"] = DIFFERENTIAL.get("disagreements", 0) + len(bad)
    print(f"\nGO106 hpa-target vs the HPA controller: {len(SCALE_TARGETS)} cases ({refused} refused by the API "
          f"server, {len(applied)} applied), {len(bad)} disagreements")  # fmt: skip
    assert not bad, "\n".join(bad)


# --- default deny: GO113 netpol-default-deny ----------------------------------------------
POLICY_TYPES = [MISSING, ["Ingress"], ["Egress"], ["Ingress", "Egress"], ["Egress", "Ingress"],
                ["Ingress", "Ingress"], ["Ingress", "Egress", "Egress"], ["ingress", "Egress"],
                ["Ingress", "Egress", "Other"], []]  # fmt: skip
RULES = [MISSING, MISSING, [], [{"from": [{"podSelector": {}}]}]]


@st.composite
def default_deny_cases(draw) -> Case:
    docs = base_render()
    at = index(docs, "NetworkPolicy", "default-deny")
    spec: dict = {}
    selector = draw(st.sampled_from([{}, {}, {"matchLabels": {}}, MISSING]))
    types = draw(st.sampled_from(POLICY_TYPES))
    ingress, egress = draw(st.sampled_from(RULES)), draw(st.sampled_from(RULES))
    for key, value in (("podSelector", selector), ("policyTypes", types), ("ingress", ingress), ("egress", egress)):
        if value is not MISSING:
            spec[key] = copy.deepcopy(value)
    docs[at]["spec"] = spec
    return Case("GO113 netpol-default-deny", f"default-deny spec {json.dumps(spec)}", docs, (at,),
                frozenset({"GO113"}), exact=False, normalize=(at,))  # fmt: skip


def test_default_deny(api, project):
    compare(api, project, examples(default_deny_cases(), 60))


# --- Pod Security: GO114 pss-restricted, GO137 host-port and the other pod rules ----------
VOLUMES = {
    "hostPath": {"hostPath": {"path": "/tmp"}},
    "nfs": {"nfs": {"server": "nfs.example.invalid", "path": "/"}},
    "configMap": {"configMap": {"name": "x"}},
    "secret": {"secret": {"secretName": "x"}},
    "emptyDir": {"emptyDir": {}},
    "projected": {"projected": {"sources": []}},
    "downwardAPI": {"downwardAPI": {"items": []}},
    "persistentVolumeClaim": {"persistentVolumeClaim": {"claimName": "x"}},
    "ephemeral": {"ephemeral": {"volumeClaimTemplate": {"spec": {"accessModes": ["ReadWriteOnce"],
                                                                 "resources": {"requests": {"storage": "1Gi"}}}}}},
    "csi": {"csi": {"driver": "csi.example.com"}},
    "iscsi": {"iscsi": {"targetPortal": "10.0.0.1:3260", "iqn": "iqn.2001-04.com.example:storage", "lun": 0}},
    "image": {"image": {"reference": "registry.invalid/data:1"}},
}  # fmt: skip
SE_LINUX = [{"type": "container_t"}, {"type": "container_init_t"}, {"type": "spc_t"}, {"user": "system_u"},
            {"role": "object_r"}, {"level": "s0:c1,c2"}]  # fmt: skip
SYSCTLS = ["kernel.shm_rmid_forced", "net.ipv4.ip_unprivileged_port_start", "net.ipv4.tcp_keepalive_time",
           "kernel.msgmax", "net.core.somaxconn"]  # fmt: skip
APP_ARMOR = [{"type": "RuntimeDefault"}, {"type": "Unconfined"}, {"type": "Localhost", "localhostProfile": "p"}]
SECCOMP = [MISSING, {"type": "Unconfined"}, {"type": "RuntimeDefault"},
           {"type": "Localhost", "localhostProfile": "profiles/p.json"}]  # fmt: skip
CAP_DROP = [MISSING, ["ALL"], ["NET_RAW"], ["all"], []]
APP_ARMOR_ANNOTATION = "container.apparmor.security.beta.kubernetes.io/flask-app"
CAP_ADD = [["NET_BIND_SERVICE"], ["SYS_ADMIN"], ["CHOWN"], ["NET_RAW"], ["net_bind_service"]]


def _set(node: dict, path: str, value: object) -> None:
    *parents, last = path.split(".")
    for key in parents:
        node = node.setdefault(key, {})
    if value is MISSING:
        node.pop(last, None)
    else:
        node[last] = copy.deepcopy(value)


KNOBS: dict[str, tuple[str, str, list]] = {
    # name: (where: the "pod" spec, the "container" or the pod's "metadata", dotted field, values)
    "hostNetwork": ("pod", "hostNetwork", [True, False]),
    "hostPID": ("pod", "hostPID", [True]),
    "hostIPC": ("pod", "hostIPC", [True]),
    "pod.runAsNonRoot": ("pod", "securityContext.runAsNonRoot", [MISSING, False, True]),
    "pod.runAsUser": ("pod", "securityContext.runAsUser", [0, 1000, MISSING]),
    "pod.seccompProfile": ("pod", "securityContext.seccompProfile", SECCOMP),
    "pod.seLinuxOptions": ("pod", "securityContext.seLinuxOptions", SE_LINUX),
    "pod.sysctls": ("pod", "securityContext.sysctls", [[{"name": n, "value": "1"}] for n in SYSCTLS]),
    "pod.appArmorProfile": ("pod", "securityContext.appArmorProfile", APP_ARMOR),
    "volume": ("pod", "volumes", [[{"name": "tmp", "emptyDir": {}}, {"name": "extra", **v}] for v in VOLUMES.values()]),
    "allowPrivilegeEscalation": ("container", "securityContext.allowPrivilegeEscalation", [MISSING, True]),
    "privileged": ("container", "securityContext.privileged", [True, False]),
    "capabilities.drop": ("container", "securityContext.capabilities.drop", CAP_DROP),
    "capabilities.add": ("container", "securityContext.capabilities.add", CAP_ADD),
    "runAsNonRoot": ("container", "securityContext.runAsNonRoot", [MISSING, False]),
    "runAsUser": ("container", "securityContext.runAsUser", [0, 1000]),
    "seccompProfile": ("container", "securityContext.seccompProfile", SECCOMP),
    "procMount": ("container", "securityContext.procMount", ["Default", "Unmasked"]),
    "readOnlyRootFilesystem": ("container", "securityContext.readOnlyRootFilesystem", [False, MISSING]),
    "seLinuxOptions": ("container", "securityContext.seLinuxOptions", SE_LINUX),
    "appArmorProfile": ("container", "securityContext.appArmorProfile", APP_ARMOR),
    "hostPort": ("container", "ports.0.hostPort", [5000, 8080]),
    "windowsOptions.hostProcess": ("container", "securityContext.windowsOptions", [{"hostProcess": True}]),
    "readinessProbe.host": ("container", "readinessProbe.httpGet.host", ["10.0.0.1", "", MISSING]),
    "preStop": ("container", "lifecycle.preStop", [{"httpGet": {"path": "/", "port": "probes"}},
                                                   {"httpGet": {"path": "/", "port": "probes", "host": "10.0.0.1"}},
                                                   {"tcpSocket": {"port": "probes", "host": "10.0.0.1"}}]),
    "appArmor annotation": ("metadata", "annotations", [{APP_ARMOR_ANNOTATION: "unconfined"},
                                                        {APP_ARMOR_ANNOTATION: "runtime/default"}]),
}  # fmt: skip


@st.composite
def pod_security_cases(draw) -> Case:
    docs = base_render()
    template = copy.deepcopy(find(docs, "Deployment")["spec"]["template"])
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "differential-pod", "namespace": NAMESPACE, "labels": template["metadata"]["labels"]},
        "spec": template["spec"],
    }
    container = pod["spec"]["containers"][0]
    changed = []
    for knob in draw(st.lists(st.sampled_from(sorted(KNOBS)), min_size=1, max_size=3, unique=True)):
        where, path, values = KNOBS[knob]
        value = draw(st.sampled_from(values))
        node = {"pod": pod["spec"], "container": container, "metadata": pod["metadata"]}[where]
        if path.startswith("ports.0."):
            node = container["ports"][0]
            path = path.removeprefix("ports.0.")
        _set(node, path, value)
        changed.append(f"{knob}={'unset' if value is MISSING else json.dumps(value)}")
    docs.append(pod)
    return Case("GO114 pss-restricted / GO137 host-port (and the pod rules)", ", ".join(changed), docs,
                (len(docs) - 1,), frozenset({"GO114", "GO115", "GO119", "GO137"}), exact=False)  # fmt: skip


def test_pod_security(api, project):
    compare(api, project, examples(pod_security_cases(), 200))


# --- GO127 cluster-config: a namespace is a DNS label -------------------------------------
LABELS = ["dev", "flask-app-dev", "a", "a" * 63, "a" * 64, "-dev", "dev-", "Dev", "dev\n", "dev ", " dev",
          "d.ev", "d_ev", "0dev", "123", "dév", "", "dev\r\n", "a-b-c"]  # fmt: skip
namespace_names = st.one_of(
    st.sampled_from(LABELS),
    st.from_regex(r"[a-z0-9]([-a-z0-9]{0,20}[a-z0-9])?", fullmatch=True),
    st.text(alphabet="az09-.A\n ", max_size=12),
)


@st.composite
def namespace_cases(draw) -> Case:
    name = draw(namespace_names)
    config = {
        "cluster": {"name": "dev"},
        "environment": "dev",
        "namespace": name,
        "autoSync": True,
        "url": "https://dev.example.com",
    }
    namespace = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}
    checked = [{"kind": "ClusterConfig", "metadata": {"name": "dev"}, "spec": config}]
    return Case("GO127 cluster-config (namespace)", f"namespace {name!r}", [namespace], (0,), frozenset({"GO127"}),
                exact=True, create=True, checked=checked, stage=policy.INPUT)  # fmt: skip


def test_cluster_namespace_is_a_dns_label(api, project):
    compare(api, project, examples(namespace_cases(), 60))


# --- older API versions -------------------------------------------------------------------
# Every apiVersion the render's kinds have had; discovery says which the server serves.
HISTORY: dict[str, list[str]] = {
    "Deployment": ["apps/v1", "apps/v1beta2", "apps/v1beta1", "extensions/v1beta1"],
    "PodDisruptionBudget": ["policy/v1", "policy/v1beta1"],
    "NetworkPolicy": ["networking.k8s.io/v1", "extensions/v1beta1"],
    "HorizontalPodAutoscaler": ["autoscaling/v2", "autoscaling/v2beta2", "autoscaling/v2beta1"],
    "Service": ["v1"],
    "ServiceAccount": ["v1"],
}


def test_older_api_versions(api, project):
    """Each kind of the render in each apiVersion it ever had: served ones pass both, the others fail both.

    What the server serves is recorded here (printed and counted), not assumed: were
    policy/v1beta1 served again, its PodDisruptionBudget would be judged like policy/v1's.
    """
    cases = []
    served = {}
    for kind, versions in HISTORY.items():
        for version in versions:
            docs = base_render()
            at = next(i for i, d in enumerate(docs) if d["kind"] == kind and d["metadata"]["name"] != "default-deny")
            docs[at]["apiVersion"] = version
            served[f"{kind} {version}"] = api.served(version, kind)
            cases.append(Case("older API versions", f"{kind} as {version}", docs, (at,), frozenset(), exact=True))
    print("\nserved: " + ", ".join(f"{k}: {'yes' if v else 'no'}" for k, v in served.items()))
    assert served["PodDisruptionBudget policy/v1"], served
    assert served["HorizontalPodAutoscaler autoscaling/v2"], served
    compare(api, project, cases)
