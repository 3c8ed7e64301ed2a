"""Kubernetes clusters as plain processes on 127.0.0.1: no Docker, no kubelet.

One etcd holds every cluster, each under its own ``--etcd-prefix``; each cluster is a
kube-apiserver with its own kube-controller-manager, kube-scheduler and kwok (which plays
the nodes, so pods are scheduled and become Ready). The binaries are the pinned ones
that tools/build-k8s.sh builds. All clusters trust one CA and one admin certificate.

Resource metrics come from the real Metrics Server that Argo CD syncs (addons/), served
through each API server's aggregator. Its requests reach the cluster through the egress
proxy (egress.py). On the real node's cluster it is the pod of the synced Deployment, which
scrapes the real kubelet. kwok's pods run nothing, so beside each kwok cluster the same
pinned binary runs as a process, and scrapes kwok's simulated kubelet metrics (``METRICS``:
kwok's Metric and ClusterResourceUsage). There is no cloud: ``cloud`` gives LoadBalancer
Services an address (see there).
"""

from __future__ import annotations

import json
import ssl
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from harness.stack import http
from harness.stack.node import NODE_IP, SERVICE_RANGE
from harness.stack.procs import SCALE_ENV, Supervisor, free_port, scaled

COMPONENTS = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubectl", "kwok")
KUBERNETES_SERVICE_IP = "10.96.0.1"  # the ``kubernetes`` Service: what a pod's client dials
AGGREGATOR_USER = "front-proxy-client"  # the aggregator's client certificate (requestheader)
METRICS_USER = "metrics-server"  # its certificate names the add-on's service account
# What kwok's simulated kubelets report (its Metric and ClusterResourceUsage configuration):
# each container uses 30m of CPU and 64Mi (a pod may say otherwise with the annotations
# kwok.x-k8s.io/usage-cpu and -memory). 30m is 30% of dev's and staging's 100m request and
# 12% of prod's 250m: below the HPA's 50% target, so every HPA holds its minimum, as on a
# quiet cluster. The path is per node (kwok serves every node on one port); Metrics Server
# reads it from each node's ``metrics.k8s.io/resource-metrics-path`` annotation.
METRICS_PATH = "/metrics/nodes/{nodeName}/metrics/resource"
_CONTAINER = [{"name": "container", "value": "container.name"},
              {"name": "namespace", "value": "pod.metadata.namespace"},
              {"name": "pod", "value": "pod.metadata.name"}]  # fmt: skip


def _usage(resource: str, default: str) -> str:
    annotation = f"kwok.x-k8s.io/usage-{resource}"
    return (f'"{annotation}" in pod.metadata.annotations ? '
            f'Quantity(pod.metadata.annotations["{annotation}"]) : Quantity("{default}")')  # fmt: skip


METRICS = (
    {"apiVersion": "kwok.x-k8s.io/v1alpha1", "kind": "ClusterResourceUsage", "metadata": {"name": "flask-gitops"},
     "spec": {"usages": [{"usage": {
         "cpu": {"expression": _usage("cpu", "30m")},
         "memory": {"expression": _usage("memory", "64Mi")},
     }}]}},
    {"apiVersion": "kwok.x-k8s.io/v1alpha1", "kind": "Metric", "metadata": {"name": "resource"},
     "spec": {"path": METRICS_PATH, "metrics": [
         {"name": "node_cpu_usage_seconds_total", "kind": "counter", "dimension": "node", "help": "node CPU",
          "value": 'node.CumulativeUsage("cpu")'},
         {"name": "node_memory_working_set_bytes", "kind": "gauge", "dimension": "node", "help": "node memory",
          "value": 'node.Usage("memory")'},
         {"name": "container_start_time_seconds", "kind": "gauge", "dimension": "container", "help": "start",
          "labels": _CONTAINER, "value": "pod.SinceSecond()"},
         {"name": "container_cpu_usage_seconds_total", "kind": "counter", "dimension": "container", "help": "CPU",
          "labels": _CONTAINER, "value": 'pod.CumulativeUsage("cpu", container.name)'},
         {"name": "container_memory_working_set_bytes", "kind": "gauge", "dimension": "container",
          "help": "memory", "labels": _CONTAINER, "value": 'pod.Usage("memory", container.name)'},
     ]}},
)  # fmt: skip


def binaries(cache: Path, pins: dict[str, str]) -> Path:
    """The folder holding the pinned control-plane binaries (built by `make e2e-tools`)."""
    folder = (
        cache / "k8s" / f"v{pins['KUBERNETES_E2E_VERSION']}-etcd-{pins['ETCD_VERSION']}-kwok-{pins['KWOK_VERSION']}"
    )
    missing = [name for name in COMPONENTS if not (folder / name).is_file()]
    if missing:
        raise RuntimeError(f"{folder}: missing {', '.join(missing)}: run 'make e2e-tools'")
    return folder


def metrics_server(cache: Path, pins: dict[str, str]) -> Path:
    """The pinned Metrics Server binary (tools/build-metrics-server.sh, `make e2e-tools`)."""
    path = cache / f"metrics-server-{pins['METRICS_SERVER_VERSION']}" / "metrics-server"
    if not path.is_file():
        raise RuntimeError(f"{path}: missing: run 'make e2e-tools'")
    return path


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def make_pki(pki: Path) -> None:
    """A CA, the API servers' serving cert, an admin client cert and the service-account key."""
    pki.mkdir(parents=True, mode=0o700)
    _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "7", "-subj", "/CN=flask-gitops-local-ca",
             "-keyout", "ca.key", "-out", "ca.crt", cwd=pki)  # fmt: skip
    # The API servers' certificate also names the ``kubernetes`` Service, which the real node's
    # pods (Metrics Server) dial.
    (pki / "server.ext").write_text(
        f"subjectAltName=IP:127.0.0.1,DNS:localhost,IP:{KUBERNETES_SERVICE_IP},DNS:kubernetes.default.svc\n"
    )
    for name, subject, ext in (
        ("server", "/CN=kube-apiserver", ["-extfile", "server.ext"]),
        ("admin", "/O=system:masters/CN=flask-gitops-admin", []),
        (AGGREGATOR_USER, f"/CN={AGGREGATOR_USER}", []),
        # The Metrics Servers beside the kwok clusters: the add-on's service account, so the
        # RBAC Argo CD syncs (addons/metrics-server) is what they are allowed.
        (
            METRICS_USER,
            "/O=system:serviceaccounts/O=system:serviceaccounts:kube-system"
            "/CN=system:serviceaccount:kube-system:metrics-server",
            [],
        ),
    ):
        _openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", subject, "-keyout", f"{name}.key",
                 "-out", f"{name}.csr", cwd=pki)  # fmt: skip
        _openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
                 "-days", "7", "-out", f"{name}.crt", *ext, cwd=pki)  # fmt: skip
    _openssl("genrsa", "-out", "sa.key", "2048", cwd=pki)
    _openssl("rsa", "-in", "sa.key", "-pubout", "-out", "sa.pub", cwd=pki)


def kwok_node(name: str, zone: str) -> dict:
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": name,
            "annotations": {
                "kwok.x-k8s.io/node": "fake",
                "metrics.k8s.io/resource-metrics-path": METRICS_PATH.replace("{nodeName}", name),
            },
            "labels": {
                "kubernetes.io/hostname": name,
                "topology.kubernetes.io/zone": zone,
                "type": "kwok",
                "kubernetes.io/os": "linux",
                "kubernetes.io/arch": "amd64",
            },
        },
        "status": {
            "allocatable": {"cpu": "8", "memory": "16Gi", "pods": "110"},
            "capacity": {"cpu": "8", "memory": "16Gi", "pods": "110"},
        },
    }


@dataclass
class Cluster:
    """One API server (and its controllers) as seen from outside: name, URL, kubeconfig."""

    name: str
    port: int
    kubeconfig: Path
    bin: Path

    @property
    def server(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    def kubectl(self, *args: str, input: str | None = None, check: bool = True) -> subprocess.CompletedProcess:
        timeout = scaled(120)
        try:
            result = subprocess.run(
                [str(self.bin / "kubectl"), "--kubeconfig", str(self.kubeconfig), *args],
                input=input,
                capture_output=True,
                text=True,
                check=False,
                timeout=timeout,
            )
        except subprocess.TimeoutExpired:
            raise TimeoutError(
                f"{self.name}: kubectl {' '.join(args[:3])} got no answer in {timeout:.0f}s (a loaded machine: "
                f"set {SCALE_ENV}=3 and re-run)"
            ) from None
        if check and result.returncode != 0:
            raise RuntimeError(f"{self.name}: kubectl {' '.join(args)}: {result.stderr.strip()}")
        return result

    def get(self, *args: str) -> dict:
        return json.loads(self.kubectl("get", *args, "-o", "json").stdout)

    def maybe_get(self, *args: str) -> dict | None:
        result = self.kubectl("get", *args, "-o", "json", check=False)
        return json.loads(result.stdout) if result.returncode == 0 else None

    def apply_json(self, *objects: dict, manager: str = "flask-gitops-local") -> None:
        body = json.dumps({"apiVersion": "v1", "kind": "List", "items": list(objects)})
        self.kubectl("apply", "--server-side", "--force-conflicts", f"--field-manager={manager}", "-f", "-", input=body)


def write_kubeconfig(path: Path, name: str, port: int, pki: Path, user: str = "admin") -> None:
    path.write_text(
        json.dumps(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "current-context": name,
                "clusters": [
                    {
                        "name": name,
                        "cluster": {
                            "server": f"https://127.0.0.1:{port}",
                            "certificate-authority": str(pki / "ca.crt"),
                        },
                    }
                ],
                "users": [
                    {
                        "name": user,
                        "user": {
                            "client-certificate": str(pki / f"{user}.crt"),
                            "client-key": str(pki / f"{user}.key"),
                        },
                    }
                ],
                "contexts": [{"name": name, "context": {"cluster": name, "user": user}}],
            },
            indent=1,
        )
    )


class ControlPlane:
    """etcd plus one API server (with controllers and kwok nodes) per named cluster."""

    def __init__(self, procs: Supervisor, bin: Path, names: list[str], real_node: str | None = None,
                 metrics_server: Path | None = None):  # fmt: skip
        self.procs = procs
        self.real_node = real_node  # the cluster whose pods run on a real node (node.py), not kwok's
        self.bin = bin
        self.metrics_server = metrics_server  # the pinned binary (tools/build-metrics-server.sh)
        self.names = names
        self.pki = procs.state / "pki"
        self.clusters: dict[str, Cluster] = {}

    def start(self, timeout: float = 180) -> None:
        make_pki(self.pki)
        etcd_port, peer_port = free_port(), free_port()
        # Clients prove themselves with a certificate of the stack's CA (the API servers use the
        # admin one): etcd holds every cluster's secrets, and 127.0.0.1 is every local user's.
        etcd = self.etcd_url = f"https://127.0.0.1:{etcd_port}"
        pki = self.pki
        self.procs.spawn(
            "etcd",
            [str(self.bin / "etcd"), "--data-dir", str(self.procs.state / "etcd"), "--unsafe-no-fsync",
             "--listen-client-urls", etcd, "--advertise-client-urls", etcd,
             "--client-cert-auth", f"--trusted-ca-file={pki / 'ca.crt'}",
             f"--cert-file={pki / 'server.crt'}", f"--key-file={pki / 'server.key'}",
             "--listen-peer-urls", f"http://127.0.0.1:{peer_port}",
             "--initial-advertise-peer-urls", f"http://127.0.0.1:{peer_port}",
             "--initial-cluster", f"default=http://127.0.0.1:{peer_port}",
             "--listen-metrics-urls", f"http://127.0.0.1:{free_port()}", "--quota-backend-bytes", str(2 << 30)],
        )  # fmt: skip
        for name in self.names:
            port = free_port()
            kubeconfig = self.procs.state / f"kubeconfig-{name}"
            write_kubeconfig(kubeconfig, name, port, self.pki)
            self.clusters[name] = Cluster(name, port, kubeconfig, self.bin)
            self.procs.spawn(f"{name}-kube-apiserver", self._apiserver_args(name, port, etcd, self.egress(name)))
        for cluster in self.clusters.values():
            self._wait_healthy(cluster, timeout)
            self._controllers(cluster)
        kwok = [c for c in self.clusters.values() if c.name != self.real_node]
        self._metrics_servers(kwok)
        for cluster in kwok:
            cluster.apply_json(
                *(kwok_node(f"kwok-node-{i}", zone) for i, zone in enumerate(("zone-a", "zone-b", "zone-a")))
            )
        for cluster in kwok:
            self.procs.until(f"{cluster.name}: kwok nodes Ready", lambda c=cluster: _nodes_ready(c), timeout)

    def egress(self, name: str) -> Path:
        """The Unix socket of ``name``'s egress proxy (egress.py): in the real node's folder for
        its cluster (the proxy runs inside the node), in the state folder for the others."""
        if name == self.real_node:
            return self.procs.state / "node" / "egress.sock"
        return self.procs.state / f"egress-{name}.sock"

    def _apiserver_args(self, name: str, port: int, etcd: str, egress: Path) -> list[str]:
        pki = self.pki
        config = self.procs.state / f"egress-{name}.yaml"
        config.write_text(json.dumps({
            "apiVersion": "apiserver.k8s.io/v1beta1", "kind": "EgressSelectorConfiguration",
            "egressSelections": [{"name": "cluster", "connection": {
                "proxyProtocol": "HTTPConnect", "transport": {"uds": {"udsName": str(egress)}}}}],
        }))  # fmt: skip
        # The real node's pods reach their API server at the node's address (kube-proxy sends
        # the ``kubernetes`` Service there; node.py bridges it to this 127.0.0.1 port).
        advertise = NODE_IP if name == self.real_node else "127.0.0.1"
        return [
            str(self.bin / "kube-apiserver"),
            f"--etcd-servers={etcd}",
            f"--etcd-cafile={pki / 'ca.crt'}",
            f"--etcd-certfile={pki / 'admin.crt'}",
            f"--etcd-keyfile={pki / 'admin.key'}",
            f"--etcd-prefix=/registry-{name}",
            "--bind-address=127.0.0.1",
            f"--advertise-address={advertise}",
            f"--secure-port={port}",
            f"--tls-cert-file={pki / 'server.crt'}",
            f"--tls-private-key-file={pki / 'server.key'}",
            f"--client-ca-file={pki / 'ca.crt'}",
            f"--service-account-key-file={pki / 'sa.pub'}",
            f"--service-account-signing-key-file={pki / 'sa.key'}",
            "--service-account-issuer=https://kubernetes.default.svc",
            f"--service-cluster-ip-range={SERVICE_RANGE}",
            # The aggregator (Metrics Server's APIService): it proves itself to the extension
            # server with this client certificate, and passes the user in these headers.
            f"--egress-selector-config-file={config}",
            "--kubelet-preferred-address-types=InternalIP",  # the egress proxy takes addresses, not names
            f"--requestheader-client-ca-file={pki / 'ca.crt'}",
            f"--requestheader-allowed-names={AGGREGATOR_USER}",
            "--requestheader-username-headers=X-Remote-User",
            "--requestheader-group-headers=X-Remote-Group",
            "--requestheader-extra-headers-prefix=X-Remote-Extra-",
            f"--proxy-client-cert-file={pki / f'{AGGREGATOR_USER}.crt'}",
            f"--proxy-client-key-file={pki / f'{AGGREGATOR_USER}.key'}",
            "--authorization-mode=Node,RBAC",
            "--allow-privileged=false",
            "--enable-priority-and-fairness=false",
            "--profiling=false",
        ]

    def _controllers(self, cluster: Cluster) -> None:
        common = [f"--kubeconfig={cluster.kubeconfig}", "--leader-elect=false", "--bind-address=127.0.0.1"]
        self.procs.spawn(
            f"{cluster.name}-kube-controller-manager",
            [str(self.bin / "kube-controller-manager"), *common, f"--secure-port={free_port()}",
             f"--root-ca-file={self.pki / 'ca.crt'}", f"--service-account-private-key-file={self.pki / 'sa.key'}",
             "--use-service-account-credentials=false", "--controllers=*",
             "--horizontal-pod-autoscaler-sync-period=2s",
                # kwok renews node leases (below); a loaded 2-core machine may still be slow.
                "--node-monitor-grace-period=2m", "--profiling=false"],
        )  # fmt: skip
        self.procs.spawn(
            f"{cluster.name}-kube-scheduler",
            [str(self.bin / "kube-scheduler"), *common, f"--secure-port={free_port()}", "--profiling=false"],
        )
        # kwok's server plays every node's kubelet (HTTPS, with the stack's certificate): Metrics
        # Server scrapes the address and port kwok reports in each Node's status.
        metrics = self.procs.state / "kwok-metrics.yaml"
        if not metrics.exists():  # one file for every cluster's kwok
            metrics.write_text("---\n".join(json.dumps(document) + "\n" for document in METRICS))
        kubelet_port = free_port()
        self.procs.spawn(
            f"{cluster.name}-kwok",
            [str(self.bin / "kwok"), "--kubeconfig", str(cluster.kubeconfig), "--manage-all-nodes=false",
             "--node-lease-duration-seconds=40",
                "--manage-nodes-with-annotation-selector", "kwok.x-k8s.io/node=fake",
             "--node-ip", "127.0.0.1", "--node-port", str(kubelet_port), "--cidr", "10.0.0.1/24",
             "--server-address", f"127.0.0.1:{kubelet_port}", f"--config={metrics}",
             f"--tls-cert-file={self.pki / 'server.crt'}", f"--tls-private-key-file={self.pki / 'server.key'}"],
        )  # fmt: skip

    def _metrics_servers(self, kwok: list[Cluster]) -> None:
        """Beside each kwok cluster, the pinned Metrics Server as a process (kwok's pods run
        nothing), reached by that API server's aggregator through the egress proxy."""
        if not kwok or self.metrics_server is None:  # a control plane alone (the e2e `cluster` fixture)
            return
        rules = []
        pki = self.pki
        for cluster in kwok:
            port = free_port()
            kubeconfig = self.procs.state / f"kubeconfig-{cluster.name}-metrics-server"
            write_kubeconfig(kubeconfig, cluster.name, cluster.port, pki, METRICS_USER)
            # Restarted while it exits, as the kubelet would restart the pod: it cannot start
            # until Argo CD has synced its RBAC.
            self.procs.spawn(
                f"{cluster.name}-metrics-server",
                [sys.executable, "-m", "harness.stack.restart", str(self.metrics_server), f"--kubeconfig={kubeconfig}",
                 f"--authentication-kubeconfig={kubeconfig}", f"--authorization-kubeconfig={kubeconfig}",
                 "--bind-address=127.0.0.1", f"--secure-port={port}",
                 f"--tls-cert-file={pki / 'server.crt'}", f"--tls-private-key-file={pki / 'server.key'}",
                 f"--kubelet-certificate-authority={pki / 'ca.crt'}",
                 "--kubelet-preferred-address-types=InternalIP", "--kubelet-use-node-status-port",
                 "--metric-resolution=15s"],
            )  # fmt: skip
            rules.append(f"{self.egress(cluster.name)}=to:127.0.0.1:{port}")
        self.procs.spawn("egress", [sys.executable, "-m", "harness.stack.egress", *rules])

    def _wait_healthy(self, cluster: Cluster, timeout: float) -> None:
        context = ssl.create_default_context(cafile=str(self.pki / "ca.crt"))
        context.load_cert_chain(self.pki / "admin.crt", self.pki / "admin.key")

        def ready() -> bool:
            return http.answers(f"{cluster.server}/readyz", context=context)

        self.procs.until(f"{cluster.name}: kube-apiserver ready", ready, timeout, log=f"{cluster.name}-kube-apiserver")


def _nodes_ready(cluster: Cluster) -> bool:
    nodes = cluster.get("nodes")["items"]
    conditions = [{c["type"]: c["status"] for c in n.get("status", {}).get("conditions") or []} for n in nodes]
    return bool(nodes) and all(c.get("Ready") == "True" for c in conditions)
