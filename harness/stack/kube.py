"""Kubernetes clusters as plain processes on 127.0.0.1: no Docker, no kubelet.

One etcd holds every cluster, each under its own ``--etcd-prefix``; each cluster is a
kube-apiserver with its own kube-controller-manager, kube-scheduler and kwok (which plays
the nodes, so pods are scheduled and become Ready). The binaries are the pinned ones
that tools/build-k8s.sh builds. All clusters trust one CA and one admin certificate.

There is no metrics-server and no cloud: ``cloud`` serves the resource metrics the HPA
reads and gives LoadBalancer Services an address (see there).
"""

from __future__ import annotations

import json
import ssl
import subprocess
from dataclasses import dataclass
from pathlib import Path

from harness.stack import http
from harness.stack.procs import SCALE_ENV, Supervisor, free_port, scaled

COMPONENTS = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubectl", "kwok")


def binaries(cache: Path, pins: dict[str, str]) -> Path:
    """The folder holding the pinned control-plane binaries (built by `make e2e-tools`)."""
    folder = (
        cache / "k8s" / f"v{pins['KUBERNETES_E2E_VERSION']}-etcd-{pins['ETCD_VERSION']}-kwok-{pins['KWOK_VERSION']}"
    )
    missing = [name for name in COMPONENTS if not (folder / name).is_file()]
    if missing:
        raise RuntimeError(f"{folder}: missing {', '.join(missing)}: run 'make e2e-tools'")
    return folder


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def make_pki(pki: Path) -> None:
    """A CA, the API servers' serving cert, an admin client cert and the service-account key."""
    pki.mkdir(parents=True, mode=0o700)
    _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "7", "-subj", "/CN=flask-gitops-local-ca",
             "-keyout", "ca.key", "-out", "ca.crt", cwd=pki)  # fmt: skip
    (pki / "server.ext").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    for name, subject, ext in (
        ("server", "/CN=kube-apiserver", ["-extfile", "server.ext"]),
        ("admin", "/O=system:masters/CN=flask-gitops-admin", []),
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
            "annotations": {"kwok.x-k8s.io/node": "fake"},
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


def write_kubeconfig(path: Path, name: str, port: int, pki: Path) -> None:
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
                        "name": "admin",
                        "user": {
                            "client-certificate": str(pki / "admin.crt"),
                            "client-key": str(pki / "admin.key"),
                        },
                    }
                ],
                "contexts": [{"name": name, "context": {"cluster": name, "user": "admin"}}],
            },
            indent=1,
        )
    )


class ControlPlane:
    """etcd plus one API server (with controllers and kwok nodes) per named cluster."""

    def __init__(self, procs: Supervisor, bin: Path, names: list[str], real_node: str | None = None):
        self.procs = procs
        self.real_node = real_node  # the cluster whose pods run on a real node (node.py), not kwok's
        self.bin = bin
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
            self.procs.spawn(f"{name}-kube-apiserver", self._apiserver_args(name, port, etcd))
        for cluster in self.clusters.values():
            self._wait_healthy(cluster, timeout)
            self._controllers(cluster)
        kwok = [c for c in self.clusters.values() if c.name != self.real_node]
        for cluster in kwok:
            cluster.apply_json(
                *(kwok_node(f"kwok-node-{i}", zone) for i, zone in enumerate(("zone-a", "zone-b", "zone-a")))
            )
        for cluster in kwok:
            self.procs.until(f"{cluster.name}: kwok nodes Ready", lambda c=cluster: _nodes_ready(c), timeout)

    def _apiserver_args(self, name: str, port: int, etcd: str) -> list[str]:
        pki = self.pki
        return [
            str(self.bin / "kube-apiserver"),
            f"--etcd-servers={etcd}",
            f"--etcd-cafile={pki / 'ca.crt'}",
            f"--etcd-certfile={pki / 'admin.crt'}",
            f"--etcd-keyfile={pki / 'admin.key'}",
            f"--etcd-prefix=/registry-{name}",
            "--bind-address=127.0.0.1",
            "--advertise-address=127.0.0.1",
            f"--secure-port={port}",
            f"--tls-cert-file={pki / 'server.crt'}",
            f"--tls-private-key-file={pki / 'server.key'}",
            f"--client-ca-file={pki / 'ca.crt'}",
            f"--service-account-key-file={pki / 'sa.pub'}",
            f"--service-account-signing-key-file={pki / 'sa.key'}",
            "--service-account-issuer=https://kubernetes.default.svc",
            "--service-cluster-ip-range=10.96.0.0/16",
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
        self.procs.spawn(
            f"{cluster.name}-kwok",
            [str(self.bin / "kwok"), "--kubeconfig", str(cluster.kubeconfig), "--manage-all-nodes=false",
             "--node-lease-duration-seconds=40",
                "--manage-nodes-with-annotation-selector", "kwok.x-k8s.io/node=fake",
             "--node-ip", "10.0.0.1", "--cidr", "10.0.0.1/24", "--server-address", f"127.0.0.1:{free_port()}"],
        )  # fmt: skip

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
