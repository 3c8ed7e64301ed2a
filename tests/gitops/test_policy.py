"""The policy registry and runner, without kustomize: ids, reasons, skipping, no mutation."""

from __future__ import annotations

import copy
import re

import pytest

from gitops import policy
from gitops.policy.pod import HOST_HANDLERS, RESTRICTED
from gitops.toolchain import repo_root


def deployment(**container: object) -> dict:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "app"},
        "spec": {"template": {"spec": {"containers": [{"name": "web", "image": "web:1", **container}]}}},
    }


def findings(*bodies: dict, skip: tuple[str, ...] = ()) -> list[str]:
    docs = [policy.Doc("case", body) for body in bodies]
    return [str(f) for f in policy.run(docs, policy.Context(root=repo_root()), skip).findings]


def test_every_policy_is_registered_once_with_a_name_and_a_reason():
    assert len(policy.POLICIES) == 69
    for pid, entry in policy.POLICIES.items():
        assert re.fullmatch(r"GO\d{3}", pid)
        assert entry.id == pid
        assert re.fullmatch(r"[a-z-]+", entry.name)
        assert len(entry.reason) > 40
    assert len({p.name for p in policy.POLICIES.values()}) == len(policy.POLICIES)


def test_a_check_needs_a_new_id_and_a_reason():
    def again(doc, scope):
        """A second registration of the same id."""

    with pytest.raises(ValueError, match="GO101 registered twice"):
        policy.check("GO101", "again")(again)
    with pytest.raises(ValueError, match="GO999 has no reason"):
        policy.check("GO999", "unexplained")(lambda doc, scope: ())
    assert "GO999" not in policy.POLICIES


def test_run_changes_neither_its_documents_nor_its_context():
    docs = [policy.Doc("case", deployment()), policy.Doc("case", {"kind": "AppProject", "metadata": {"name": "p"}})]
    ctx = policy.Context(root=repo_root(), digest_required=frozenset({"prod"}))
    before = (copy.deepcopy(docs), copy.deepcopy(ctx))
    policy.run(docs, ctx)
    assert (docs, ctx) == before


def test_skipped_ids_do_not_run():
    everything = {line.split()[0] for line in findings(deployment())}
    assert "GO101" in everything
    assert {line.split()[0] for line in findings(deployment(), skip=("GO101", "GO104"))} == everything - {
        "GO101",
        "GO104",
    }
    with pytest.raises(ValueError, match="GO999"):
        findings(deployment(), skip=("GO999",))


@pytest.mark.parametrize("rule", RESTRICTED, ids=lambda rule: rule.field)
def test_each_restricted_rule_is_data_with_a_failing_value(rule):
    assert rule.level in {"pod", "container"}
    assert not rule.allowed(
        {
            "hostNetwork": True,
            "hostPID": True,
            "hostIPC": True,
            "volumes[*].hostPath": {"path": "/"},
            "securityContext.runAsUser": 0,
            "securityContext.allowPrivilegeEscalation": True,
            "securityContext.privileged": True,
            "securityContext.capabilities.drop": ["NET_RAW"],
            "securityContext.capabilities.add": ["SYS_ADMIN"],
            "securityContext.runAsNonRoot": False,
            "securityContext.seccompProfile.type": "Unconfined",
            "volumes[*]": {"name": "data", "nfs": {"server": "nfs.example", "path": "/"}},
            "securityContext.sysctls": [{"name": "net.core.somaxconn", "value": "1024"}],
            "securityContext.seLinuxOptions": {"type": "spc_t"},
            "securityContext.appArmorProfile.type": "Unconfined",
            "securityContext.windowsOptions.hostProcess": True,
            "securityContext.procMount": "Unmasked",
            **dict.fromkeys(HOST_HANDLERS, "169.254.169.254"),
        }[rule.field]
    )
    assert rule.message(["SYS_ADMIN"])


# --- what tests/e2e/test_differential.py found: the API server and validate disagreed -----------------
def web(
    ports: list | None = None,
    readiness: object = "http",
    sidecar: dict | None = None,
    labels: dict | None = None,
    **pod: object,
) -> dict:
    container = {
        "name": "web",
        "image": "web:1",
        "ports": [{"name": "http", "containerPort": 8080}] if ports is None else ports,
        "readinessProbe": {"httpGet": {"path": "/ready", "port": readiness}},
    }
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "app"},
        "spec": {
            "selector": {"matchLabels": labels or {"app": "web"}},
            "template": {
                "metadata": {"labels": labels or {"app": "web"}, **pod.pop("metadata", {})},
                "spec": {"containers": [container, *([sidecar] if sidecar else [])], **pod},
            },
        },
    }


def service(*ports: dict, **spec: object) -> dict:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "web", "namespace": "app"},
        "spec": {"selector": {"app": "web"}, "ports": list(ports) or [{"name": "http", "port": 80}], **spec},
    }


def netpol(spec: dict, name: str = "web") -> dict:
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": name, "namespace": "app"},
        "spec": spec,
    }


def block(cidr: str, *excepts: str) -> dict:
    ip_block = {"cidr": cidr, **({"except": list(excepts)} if excepts else {})}
    return netpol({"podSelector": {}, "ingress": [{"from": [{"ipBlock": ip_block}]}]})


def hpa(api_version: str = "autoscaling/v2", annotations: dict | None = None, **spec: object) -> dict:
    ref = spec.pop("scaleTargetRef", {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"})
    return {
        "apiVersion": api_version,
        "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": "web", "namespace": "app", **({"annotations": annotations} if annotations else {})},
        "spec": {"scaleTargetRef": ref, "minReplicas": 1, "maxReplicas": 3, **spec},
    }


DEFAULT_DENY = netpol({"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}, name="default-deny")
CPU_METRICS_ANNOTATION = '[{"type": "Resource", "resource": {"name": "cpu", "targetAverageUtilization": 60}}]'
MEMORY_METRICS_ANNOTATION = '[{"type": "Resource", "resource": {"name": "memory", "targetAverageUtilization": 60}}]'

# (policy id, documents, a field that id must report, or None: that id reports nothing)
DIFFERENTIAL_CASES = {
    # GO112: Python's ipaddress takes what the API server refuses or warns about.
    "cidr-without-prefix-length": ("GO112", [block("10.0.0.1")], "ipBlock.cidr"),
    "cidr-netmask": ("GO112", [block("10.0.0.0/255.0.0.0")], "ipBlock.cidr"),
    "cidr-host-bits": ("GO112", [block("10.0.0.1/8")], "ipBlock.cidr"),
    "cidr-prefix-leading-zero": ("GO112", [block("10.0.0.0/08")], "ipBlock.cidr"),
    "cidr-zone": ("GO112", [block("fe80::%eth0/64")], "ipBlock.cidr"),
    "cidr-ipv4-mapped": ("GO112", [block("::ffff:a00:0/104")], "ipBlock.cidr"),
    "cidr-ipv6-not-canonical": ("GO112", [block("FD00::/8")], "ipBlock.cidr"),
    "cidr-canonical": ("GO112", [block("10.0.0.0/8"), block("fd00::/8"), block("0.0.0.0/0")], None),
    "except-inside": ("GO112", [block("10.0.0.0/8", "10.1.0.0/16")], None),
    "except-equal": ("GO112", [block("10.0.0.0/8", "10.0.0.0/8")], "ipBlock.except[0]"),
    "except-outside": ("GO112", [block("10.0.0.0/8", "192.168.0.0/16")], "ipBlock.except[0]"),
    "except-other-family": ("GO112", [block("10.0.0.0/8", "fd00::/8")], "ipBlock.except[0]"),
    "source-range-invalid": (
        "GO135",
        [service(type="LoadBalancer", loadBalancerSourceRanges=["10.0.0.1"])],
        "spec.loadBalancerSourceRanges[0]",
    ),
    "source-range-padded": ("GO135", [service(type="LoadBalancer", loadBalancerSourceRanges=[" 10.0.0.0/8 "])], None),
    # GO109: Service ports as the API server takes them, targetPort as it defaults it.
    "target-port-0-means-port": ("GO109", [web(), service({"port": 8080, "targetPort": 0})], None),
    "target-port-empty-means-port": ("GO109", [web(), service({"port": 8080, "targetPort": ""})], None),
    "target-port-digits": ("GO109", [web(), service({"port": 80, "targetPort": "8080"})], "spec.ports[0]"),
    "target-port-name-other-protocol": (
        "GO109",
        [web(), service({"port": 80, "targetPort": "http", "protocol": "UDP"})],
        "spec.ports[0].targetPort",
    ),
    "service-port-out-of-range": ("GO109", [web(), service({"port": 65536, "targetPort": "http"})], "spec.ports[0]"),
    "service-port-twice": (
        "GO109",
        [
            web(),
            service({"name": "a", "port": 80, "targetPort": "http"}, {"name": "b", "port": 80, "targetPort": "http"}),
        ],
        "spec.ports[b]",
    ),
    "service-ports-unnamed": (
        "GO109",
        [web(), service({"port": 80, "targetPort": "http"}, {"name": "b", "port": 81, "targetPort": "http"})],
        "spec.ports[0]",
    ),
    "service-port-name-uppercase": (
        "GO109",
        [web(), service({"name": "HTTP", "port": 80, "targetPort": "http"})],
        "spec.ports[HTTP]",
    ),
    # GO110: container ports and probe ports as the API server and the kubelet take them.
    "probe-port-digits": ("GO110", [web(readiness="8080")], "readinessProbe.httpGet.port"),
    "probe-port-name-of-another-container": (
        "GO110",
        [
            web(
                ports=[],
                sidecar={"name": "side", "image": "side:1", "ports": [{"name": "http", "containerPort": 8080}]},
            )
        ],
        "readinessProbe.httpGet.port",
    ),
    "container-port-name-too-long": (
        "GO110",
        [web(ports=[{"name": "abcdefghijklmnop", "containerPort": 8080}], readiness=8080)],
        "ports[abcdefghijklmnop]",
    ),
    "container-port-name-double-hyphen": (
        "GO110",
        [web(ports=[{"name": "ht--tp", "containerPort": 8080}], readiness=8080)],
        "ports[ht--tp]",
    ),
    "container-port-name-twice": (
        "GO110",
        [web(ports=[{"name": "http", "containerPort": 8080}, {"name": "http", "containerPort": 8081}])],
        "ports[http]",
    ),
    "container-port-0": ("GO110", [web(ports=[{"name": "http", "containerPort": 0}])], "ports[http]"),
    # GO111, GO108: selectors as the API server validates them.
    "selector-notin-without-values": (
        "GO111",
        [web(), netpol({"podSelector": {"matchExpressions": [{"key": "app", "operator": "NotIn", "values": []}]}})],
        "spec.podSelector",
    ),
    "selector-operator-lower-case": (
        "GO111",
        [web(), netpol({"podSelector": {"matchExpressions": [{"key": "app", "operator": "in", "values": ["web"]}]}})],
        "spec.podSelector",
    ),
    "selector-exists-with-values": (
        "GO111",
        [
            web(),
            netpol({"podSelector": {"matchExpressions": [{"key": "app", "operator": "Exists", "values": ["web"]}]}}),
        ],
        "spec.podSelector",
    ),
    "service-selector-invalid-value": (
        "GO108",
        [web(labels={"app": "-web"}), service(selector={"app": "-web"})],
        "spec.selector",
    ),
    # GO113: the server stores {"matchLabels": {}} as {} (every pod), and refuses a third policy type.
    "default-deny-empty-match-labels": (
        "GO113",
        [web(), netpol({"podSelector": {"matchLabels": {}}, "policyTypes": ["Ingress", "Egress"]}, "default-deny")],
        None,
    ),
    "default-deny-invalid-policy-type": (
        "GO113",
        [web(), netpol({"podSelector": {}, "policyTypes": ["Ingress", "Egress", "Other"]}, "default-deny")],
        "metadata.namespace",
    ),
    # GO105: an HPA without a metric scales on CPU utilization, in autoscaling/v1 and v2 alike.
    "hpa-v1-without-target": ("GO105", [web(), hpa("autoscaling/v1")], "resources.requests.cpu"),
    "hpa-v2-without-metrics": ("GO105", [web(), hpa()], "resources.requests.cpu"),
    "hpa-v2-empty-metrics": ("GO105", [web(), hpa(metrics=[])], "resources.requests.cpu"),
    "hpa-v1-cpu-in-the-metrics-annotation": (
        "GO105",
        [web(), hpa("autoscaling/v1", {"autoscaling.alpha.kubernetes.io/metrics": CPU_METRICS_ANNOTATION})],
        "resources.requests.cpu",
    ),
    "hpa-v1-memory-in-the-metrics-annotation": (
        "GO105",
        [web(), hpa("autoscaling/v1", {"autoscaling.alpha.kubernetes.io/metrics": MEMORY_METRICS_ANNOTATION})],
        None,
    ),
    # GO106: the HPA controller looks the kind up in scaleTargetRef's API group, and knows it in lower case too.
    "hpa-target-extensions-group": (
        "GO106",
        [web(), hpa(scaleTargetRef={"apiVersion": "extensions/v1beta1", "kind": "Deployment", "name": "web"})],
        "spec.scaleTargetRef",
    ),
    "hpa-target-without-api-version": (
        "GO106",
        [web(), hpa(scaleTargetRef={"kind": "Deployment", "name": "web"})],
        "spec.scaleTargetRef",
    ),
    "hpa-target-older-version-same-group": (
        "GO106",
        [web(), hpa(scaleTargetRef={"apiVersion": "apps/v1beta1", "kind": "Deployment", "name": "web"})],
        None,
    ),
    "hpa-target-kind-lower-case": (
        "GO106",
        [web(), hpa(scaleTargetRef={"apiVersion": "apps/v1", "kind": "deployment", "name": "web"})],
        None,
    ),
    # GO114: the rest of the restricted Pod Security Standard.
    "pss-pod-run-as-non-root-false": (
        "GO114",
        [web(securityContext={"runAsNonRoot": False})],
        "spec.template.spec.securityContext.runAsNonRoot",
    ),
    "pss-nfs-volume": (
        "GO114",
        [web(volumes=[{"name": "data", "nfs": {"server": "nfs", "path": "/"}}])],
        "spec.template.spec.volumes[data]: ",
    ),
    "pss-unsafe-sysctl": (
        "GO114",
        [web(securityContext={"sysctls": [{"name": "kernel.msgmax", "value": "1"}]})],
        "securityContext.sysctls",
    ),
    "pss-selinux-user": (
        "GO114",
        [web(securityContext={"seLinuxOptions": {"user": "system_u"}})],
        "securityContext.seLinuxOptions",
    ),
    "pss-apparmor-unconfined": (
        "GO114",
        [web(securityContext={"appArmorProfile": {"type": "Unconfined"}})],
        "securityContext.appArmorProfile.type",
    ),
    "pss-apparmor-annotation": (
        "GO114",
        [web(metadata={"annotations": {"container.apparmor.security.beta.kubernetes.io/web": "unconfined"}})],
        "metadata.annotations.container.apparmor.security.beta.kubernetes.io/web",
    ),
}


@pytest.mark.parametrize("case", sorted(DIFFERENTIAL_CASES))
def test_what_the_api_server_decides_validate_decides(case):
    pid, bodies, field = DIFFERENTIAL_CASES[case]
    lines = [line for line in findings(*copy.deepcopy(bodies)) if line.startswith(f"{pid} ")]
    if field is None:
        assert lines == []
    else:
        assert any(field in line for line in lines), lines


def test_pss_rules_cover_probe_and_lifecycle_hosts():
    deployment = web()
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    container["readinessProbe"]["httpGet"]["host"] = "169.254.169.254"
    container["lifecycle"] = {"preStop": {"tcpSocket": {"port": 8080, "host": "10.0.0.1"}}}
    lines = [line for line in findings(deployment) if line.startswith("GO114 ")]
    assert any("readinessProbe.httpGet.host" in line for line in lines), lines
    assert any("lifecycle.preStop.tcpSocket.host" in line for line in lines), lines


def test_a_digest_with_a_trailing_newline_is_no_digest():
    pinned = "registry.invalid/web@sha256:" + "a" * 64
    assert not [f for f in findings(deployment(image=pinned)) if f.startswith("GO116")]
    assert [f for f in findings(deployment(image=pinned + "\n")) if f.startswith("GO116")]


def test_the_input_stage_never_sees_rendered_documents_and_vice_versa():
    for entry in policy.POLICIES.values():
        assert entry.stages <= {policy.INPUT, policy.DOCUMENT}
    addons = {f"GO{n}" for n in range(162, 170)}  # the cluster add-ons' pins (policy/addons.py)
    assert {pid for pid, p in policy.POLICIES.items() if p.mandatory} == {"GO125", "GO126", "GO153", "GO154", *addons}


def test_sync_windows_match_as_argocd_matches_them():
    """GO159's matching (policy/windows.py): gobwas braces, andOperator, a schedule that parses, no manualSync."""
    from gitops.policy.windows import covered

    def window(**extra):
        return {"syncWindows": [{"kind": "allow", "schedule": "0 8 * * 1-5", "duration": "10h", **extra}]}

    prod = ("flask-app-prod-eu", "prod-eu", "flask-app-prod")
    assert covered(window(namespaces=["{flask-app-prod,other}"]), *prod)
    assert covered(window(clusters=["prod-*"]), *prod)
    assert not covered(window(namespaces=["flask-app-prod"], manualSync=True), *prod)
    assert not covered(window(namespaces=["flask-app-prod"], andOperator=True, clusters=["nowhere"]), *prod)
    assert covered(window(namespaces=["flask-app-prod"], andOperator=True, clusters=["prod-*"]), *prod)
    assert not covered(window(namespaces=["flask-app-prod"], duration="ten hours"), *prod)
    assert not covered({"syncWindows": [{"kind": "deny", "schedule": "* * * * *", "duration": "1h",
                                         "namespaces": ["*"]}]}, *prod)  # fmt: skip


def test_the_shutdown_budget_reads_gunicorns_defaults():
    """GO161 counts gunicorn.conf.py's own defaults for a setting the container leaves unset."""
    from gitops.policy.pod import SHUTDOWN_DEFAULTS

    conf = (repo_root() / "gunicorn.conf.py").read_text()
    found = dict(re.findall(r'_int\("(DRAIN_SECONDS|GRACEFUL_TIMEOUT)", (\d+)\)', conf))
    assert {name: int(value) for name, value in found.items()} == SHUTDOWN_DEFAULTS


def test_the_shutdown_budget_reads_a_configmap_value():
    """A DRAIN_SECONDS from a ConfigMap of the render counts with its value; one the render lacks is refused."""
    body = deployment(
        lifecycle={"preStop": {"sleep": {"seconds": 5}}},
        env=[{"name": "DRAIN_SECONDS", "valueFrom": {"configMapKeyRef": {"name": "env", "key": "DRAIN"}}}],
    )
    body["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] = 35
    config = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "env", "namespace": "app"}}
    go161 = lambda *bodies: [line for line in findings(*bodies) if line.startswith("GO161")]  # noqa: E731
    assert go161(body, {**config, "data": {"DRAIN": "8"}}) == []
    (line,) = go161(body, {**config, "data": {"DRAIN": "9"}})
    assert "35 s is less than preStop sleep 5 + DRAIN_SECONDS 9 + GRACEFUL_TIMEOUT 20 + 2 s" in line, line
    (line,) = go161(body)
    assert "spec.template.spec.containers[web].env: DRAIN_SECONDS comes from ConfigMap 'env'" in line, line


def _go161(*bodies: dict, image: str = "") -> list[str]:
    docs = [policy.Doc("case", body) for body in bodies]
    ctx = policy.Context(root=repo_root(), image=image)
    return [str(f) for f in policy.run(docs, ctx).findings if f.id == "GO161"]


def _shutdown(grace: object = 60, image: str = "web:1", **container: object) -> dict:
    body = deployment(**container)
    body["spec"]["template"]["spec"]["containers"][0]["image"] = image
    if grace is not None:
        body["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] = grace
    return body


W = "GO161 case: Deployment/web: spec.template.spec"
C = f"{W}.containers[web]"


@pytest.mark.parametrize(
    ("container", "line"),
    [
        # Crashes before (AttributeError / ValueError): now one line naming the field.
        ({"env": [{"name": "GRACEFUL_TIMEOUT", "value": "\u00b2"}]},
         f"{C}.env: GRACEFUL_TIMEOUT='\u00b2' is no number though str.isdigit() takes it: gunicorn refuses to start"),
        ({"lifecycle": {"preStop": "sleep 5"}},
         f"{C}.lifecycle.preStop: 'sleep 5' is not a mapping: the gate cannot read the preStop duration"),
        ({"lifecycle": ["preStop"]},
         f"{C}.lifecycle: ['preStop'] is not a mapping: the gate cannot read the preStop duration"),
        ({"lifecycle": {"preStop": {"sleep": [5]}}},
         f"{C}.lifecycle.preStop.sleep: [5] is not a mapping: the gate cannot read the preStop duration"),
        # False passes before: a preStop or a value the gate cannot count is refused, not read as 0 or skipped.
        ({"lifecycle": {"preStop": {"exec": {"command": ["sleep", "30"]}}}},
         f"{W}.terminationGracePeriodSeconds: 30 s is less than preStop sleep 30 + DRAIN_SECONDS 3 + "
         "GRACEFUL_TIMEOUT 20 + 2 s of margin = 55 s (spec.template.spec.containers[web])"),
        ({"lifecycle": {"preStop": {"exec": {"command": ["/bin/sh", "-c", "sleep 30"]}}}},
         f"{W}.terminationGracePeriodSeconds: 30 s is less than preStop sleep 30 + DRAIN_SECONDS 3 + "
         "GRACEFUL_TIMEOUT 20 + 2 s of margin = 55 s (spec.template.spec.containers[web])"),
        ({"lifecycle": {"preStop": {"exec": {"command": ["/bin/drain.sh"]}}}},
         f"{C}.lifecycle.preStop.exec.command: exec ['/bin/drain.sh'] is not a plain sleep: the gate cannot read "
         "the preStop duration; use sleep"),
        ({"lifecycle": {"preStop": {"httpGet": {"path": "/drain", "port": 5000}}}},
         f"{C}.lifecycle.preStop: a httpGet hook: the gate cannot read the preStop duration; use sleep (seconds)"),
        ({"lifecycle": {"preStop": {"sleep": {"seconds": -100}}}},
         f"{C}.lifecycle.preStop.sleep.seconds: -100 is negative"),
        ({"lifecycle": {"preStop": {"sleep": {"seconds": 1e30}}}},
         f"{C}.lifecycle.preStop.sleep.seconds: 1e+30 is not a whole number of seconds"),
        ({"lifecycle": {"preStop": {"sleep": {"seconds": 2**63}}}},
         f"{C}.lifecycle.preStop.sleep.seconds: {2**63} is beyond int64: the API server refuses it"),
        ({"envFrom": [{"secretRef": {"name": "s"}}]},
         f"{C}.envFrom: envFrom[0] takes every key of a Secret, which the gate cannot read: it may set DRAIN_SECONDS; "
         "set DRAIN_SECONDS in env (env wins over envFrom); envFrom[0] takes every key of a Secret, which the gate "
         "cannot read: it may set GRACEFUL_TIMEOUT; set GRACEFUL_TIMEOUT in env (env wins over envFrom)"),
    ],
)  # fmt: skip
def test_the_shutdown_budget_refuses_what_it_cannot_count(container, line):
    """GO161 reads each preStop, value and source it can count, and refuses the others in one line each."""
    grace = 30 if "exec" in str(container) else 60
    assert _go161(_shutdown(grace, **container)) == [line]


@pytest.mark.parametrize("grace", [-1, 1e23, 2**63, True])
def test_the_shutdown_budget_refuses_a_grace_period_the_api_server_would_not_store(grace):
    (line,) = _go161(_shutdown(grace))
    assert line.startswith(f"{W}.terminationGracePeriodSeconds: {grace!r} "), line


def test_the_shutdown_budget_reads_envfrom_configmaps():
    """envFrom ConfigMaps of the render count (with their prefix; the last source wins); env wins over envFrom."""
    config = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "env", "namespace": "app"}}
    long = {**config, "data": {"GRACEFUL_TIMEOUT": "120"}}
    (line,) = _go161(_shutdown(envFrom=[{"configMapRef": {"name": "env"}}]), long)
    assert "60 s is less than preStop sleep 0 + DRAIN_SECONDS 3 + GRACEFUL_TIMEOUT 120 + 2 s" in line, line
    prefixed = {**config, "data": {"GRACEFUL_TIMEOUT": "120", "TIMEOUT": "40"}}
    (line,) = _go161(_shutdown(40, envFrom=[{"configMapRef": {"name": "env"}, "prefix": "GRACEFUL_"}]), prefixed)
    assert "GRACEFUL_TIMEOUT 40 + 2 s" in line, line
    explicit = [{"name": "GRACEFUL_TIMEOUT", "value": "20"}]
    assert _go161(_shutdown(envFrom=[{"configMapRef": {"name": "env"}}], env=explicit), long) == []
    later = [{"secretRef": {"name": "s"}}, {"configMapRef": {"name": "env"}}]
    both = {**config, "data": {"GRACEFUL_TIMEOUT": "20", "DRAIN_SECONDS": "3"}}
    assert _go161(_shutdown(envFrom=later), both) == []  # the ConfigMap after the Secret sets both
    (line,) = _go161(_shutdown(envFrom=[{"configMapRef": {"name": "missing"}}]))
    assert f"{C}.envFrom: envFrom[0] takes ConfigMap 'missing', not in this render: it may set" in line, line


def test_the_shutdown_budget_takes_an_absent_optional_key_as_unset():
    """An optional configMapKeyRef whose key the ConfigMap lacks leaves the variable unset: gunicorn's default."""
    ref = {"configMapKeyRef": {"name": "env", "key": "GRACEFUL_TIMEOUT", "optional": True}}
    body = _shutdown(env=[{"name": "GRACEFUL_TIMEOUT", "valueFrom": ref}])
    config = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "env", "namespace": "app"}}
    assert _go161(body, {**config, "data": {"APP_ENV": "prod"}}) == []
    (line,) = _go161(body)  # the ConfigMap itself is not in the render: unreadable
    assert "GRACEFUL_TIMEOUT comes from ConfigMap 'env' key 'GRACEFUL_TIMEOUT', not in this render" in line, line


def test_the_shutdown_budget_judges_only_containers_of_the_apps_image():
    """With gitops.yaml image set, a container of another image is not judged with gunicorn's settings."""
    app = "registry.example.com/org/web"
    assert _go161(_shutdown(10, image="memcached:1.6"), image=app) == []
    (line,) = _go161(_shutdown(10, image=f"{app}:sha-1"), image=app)
    assert line.startswith(f"{W}.terminationGracePeriodSeconds: 10 s is less than"), line
    (line,) = _go161(_shutdown(10, image="memcached:1.6"))  # no image configured: every container
    assert line.startswith(f"{W}.terminationGracePeriodSeconds: 10 s is less than"), line


def test_a_malformed_ipblock_is_a_finding_not_a_traceback():
    """An ipBlock that is not a mapping is one GO112 line; GO136 and GO160 pass over it (they raised before)."""
    web = deployment(ports=[{"name": "http", "containerPort": 5000}])
    web["spec"]["template"]["metadata"] = {"labels": {"app": "web"}}
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "web", "namespace": "app"},
        "spec": {"type": "LoadBalancer", "selector": {"app": "web"}, "ports": [{"port": 80, "targetPort": "http"}]},
    }
    netpol = {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": "web", "namespace": "app"},
        "spec": {"podSelector": {"matchLabels": {"app": "web"}}, "ingress": [{"from": [{"ipBlock": "10.0.0.0/8"}]}]},
    }
    lines = findings(web, service, netpol)
    assert not [line for line in lines if line.startswith("GO160")]
    assert [line for line in lines if line.startswith("GO112")] == [
        "GO112 case: NetworkPolicy/web: spec.ingress[0].from[0].ipBlock.cidr: None is not a CIDR"
    ]
    netpol["spec"]["ingress"][0]["from"] = [{"ipBlock": {"cidr": "203.0.113.0/24"}}]
    (line,) = [line for line in findings(web, service, netpol) if line.startswith("GO160")]
    assert line.startswith("GO160 case: Service/web: spec.externalTrafficPolicy: 'Cluster': "), line


def test_a_networkpolicy_rule_that_is_not_a_mapping_is_a_finding_not_a_traceback():
    """An ingress rule that is a string is one GO136 line (GO136's namespace-wide pass raised before)."""
    netpol = {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": "web", "namespace": "app"},
        "spec": {"podSelector": {}, "ingress": ["junk", {"from": {"ipBlock": {"cidr": "10.0.0.0/8"}}}]},
    }
    lines = [line for line in findings(netpol) if line.startswith("GO136")]
    assert lines == [
        "GO136 case: NetworkPolicy/web: spec.ingress[0]: 'junk' is not a rule (a mapping): what it allows is "
        "unreadable",
        "GO136 case: NetworkPolicy/web: spec.ingress[1].from: {'ipBlock': {'cidr': '10.0.0.0/8'}} is not a list of "
        "peers: what it allows is unreadable",
    ], lines
