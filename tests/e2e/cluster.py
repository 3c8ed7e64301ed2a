"""A real Kubernetes control plane as plain processes on 127.0.0.1: no Docker, no kubelet.

etcd, kube-apiserver, kube-controller-manager and kube-scheduler are built from the
pinned sources by tools/build-k8s.sh; kwok plays the nodes, so pods are scheduled and
become Ready. Everything lives in one temporary directory and is stopped and removed
by ``stop()``, whatever happened.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _pins() -> dict[str, str]:
    pins = {}
    for line in (ROOT / "tools" / "versions.mk").read_text().splitlines():
        if ":=" in line and not line.startswith("#"):
            key, _, value = line.partition(":=")
            pins[key.strip()] = value.strip()
    return pins


def binaries() -> Path:
    """The folder holding the pinned control-plane binaries (built by `make e2e-tools`)."""
    pins = _pins()
    tools_dir = Path(os.environ.get("TOOLS_DIR") or ROOT / ".tools")
    folder = (
        tools_dir / "k8s" / f"v{pins['KUBERNETES_E2E_VERSION']}-etcd-{pins['ETCD_VERSION']}-kwok-{pins['KWOK_VERSION']}"
    )
    missing = [
        name
        for name in ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubectl", "kwok")
        if not (folder / name).is_file()
    ]
    if missing:
        raise RuntimeError(f"{folder}: missing {', '.join(missing)}: run 'make e2e-tools'")
    return folder


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def make_pki(pki: Path) -> None:
    """A CA, the API server's serving cert, an admin client cert and the service-account key."""
    pki.mkdir()
    _openssl(
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-days",
        "1",
        "-subj",
        "/CN=e2e-ca",
        "-keyout",
        "ca.key",
        "-out",
        "ca.crt",
        cwd=pki,
    )
    (pki / "server.ext").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    for name, subject, ext in (
        ("server", "/CN=kube-apiserver", ["-extfile", "server.ext"]),
        ("admin", "/O=system:masters/CN=e2e-admin", []),
    ):
        _openssl(
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-subj",
            subject,
            "-keyout",
            f"{name}.key",
            "-out",
            f"{name}.csr",
            cwd=pki,
        )
        _openssl(
            "x509",
            "-req",
            "-in",
            f"{name}.csr",
            "-CA",
            "ca.crt",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "1",
            "-out",
            f"{name}.crt",
            *ext,
            cwd=pki,
        )
    _openssl("genrsa", "-out", "sa.key", "2048", cwd=pki)
    _openssl("rsa", "-in", "sa.key", "-pubout", "-out", "sa.pub", cwd=pki)


@dataclass
class ControlPlane:
    bin: Path
    workdir: Path
    processes: dict[str, subprocess.Popen] = field(default_factory=dict)
    api_port: int = 0
    kubeconfig: Path = Path()
    ready_seconds: float = 0.0

    @classmethod
    def start(cls, timeout: float = 120) -> ControlPlane:
        workdir = Path(tempfile.mkdtemp(prefix="flask-gitops-e2e-"))
        plane = cls(binaries(), workdir)
        try:
            plane._start(timeout)
        except BaseException:
            plane.stop()
            raise
        return plane

    def _spawn(self, name: str, *args: str) -> None:
        log = open(self.workdir / f"{name}.log", "wb")  # noqa: SIM115 - lives as long as the process
        self.processes[name] = subprocess.Popen(
            [str(self.bin / name), *args],
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=self.workdir,
            start_new_session=True,
        )

    def _start(self, timeout: float) -> None:
        started = time.monotonic()
        pki = self.workdir / "pki"
        make_pki(pki)
        etcd_port, peer_port = free_port(), free_port()
        self._spawn(
            "etcd",
            "--data-dir",
            str(self.workdir / "etcd"),
            "--unsafe-no-fsync",
            "--listen-client-urls",
            f"http://127.0.0.1:{etcd_port}",
            "--advertise-client-urls",
            f"http://127.0.0.1:{etcd_port}",
            "--listen-peer-urls",
            f"http://127.0.0.1:{peer_port}",
            "--initial-advertise-peer-urls",
            f"http://127.0.0.1:{peer_port}",
            "--initial-cluster",
            f"default=http://127.0.0.1:{peer_port}",
            "--listen-metrics-urls",
            f"http://127.0.0.1:{free_port()}",
        )
        self.api_port = free_port()
        self._spawn(
            "kube-apiserver",
            "--etcd-servers",
            f"http://127.0.0.1:{etcd_port}",
            "--bind-address",
            "127.0.0.1",
            "--advertise-address",
            "127.0.0.1",
            "--secure-port",
            str(self.api_port),
            "--tls-cert-file",
            str(pki / "server.crt"),
            "--tls-private-key-file",
            str(pki / "server.key"),
            "--client-ca-file",
            str(pki / "ca.crt"),
            "--service-account-key-file",
            str(pki / "sa.pub"),
            "--service-account-signing-key-file",
            str(pki / "sa.key"),
            "--service-account-issuer",
            "https://kubernetes.default.svc",
            "--service-cluster-ip-range",
            "10.96.0.0/16",
            "--authorization-mode",
            "Node,RBAC",
            "--allow-privileged=false",
            "--enable-priority-and-fairness=false",
        )
        self.kubeconfig = self.workdir / "kubeconfig"
        self.kubeconfig.write_text(
            json.dumps(
                {
                    "apiVersion": "v1",
                    "kind": "Config",
                    "current-context": "e2e",
                    "clusters": [
                        {
                            "name": "e2e",
                            "cluster": {
                                "server": f"https://127.0.0.1:{self.api_port}",
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
                    "contexts": [{"name": "e2e", "context": {"cluster": "e2e", "user": "admin"}}],
                }
            )
        )
        self._wait_healthy(started + timeout)
        # Both controllers: admin kubeconfig, no leader election, health on a free local port.
        component = ["--kubeconfig", str(self.kubeconfig), "--leader-elect=false", "--bind-address", "127.0.0.1"]
        self._spawn(
            "kube-controller-manager",
            *component,
            f"--secure-port={free_port()}",
            f"--root-ca-file={pki / 'ca.crt'}",
            f"--service-account-private-key-file={pki / 'sa.key'}",
            "--use-service-account-credentials=false",
            "--controllers=*",
            "--horizontal-pod-autoscaler-sync-period=2s",
        )
        self._spawn("kube-scheduler", *component, f"--secure-port={free_port()}")
        self._spawn(
            "kwok",
            "--kubeconfig",
            str(self.kubeconfig),
            "--manage-all-nodes=false",
            "--manage-nodes-with-annotation-selector",
            "kwok.x-k8s.io/node=fake",
            "--node-ip",
            "10.0.0.1",
            "--cidr",
            "10.0.0.1/24",
            "--server-address",
            f"127.0.0.1:{free_port()}",
        )
        for zone, index in (("zone-a", 0), ("zone-b", 1), ("zone-a", 2)):
            self.apply_json(self._node(f"kwok-node-{index}", zone))
        self._wait_nodes_ready(started + timeout)
        self.ready_seconds = time.monotonic() - started

    @staticmethod
    def _node(name: str, zone: str) -> dict:
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

    def _until(self, deadline: float, what: str, log: str, check) -> None:
        """Poll ``check`` until it is true; fail early if a component died."""
        while time.monotonic() < deadline:
            self._check_alive()
            if check():
                return
            time.sleep(0.2)
        raise TimeoutError(f"{what}: {self.log(log)}")

    def _wait_healthy(self, deadline: float) -> None:
        context = ssl.create_default_context(cafile=str(self.workdir / "pki" / "ca.crt"))
        context.load_cert_chain(self.workdir / "pki" / "admin.crt", self.workdir / "pki" / "admin.key")
        url = f"https://127.0.0.1:{self.api_port}/readyz"

        def ready() -> bool:
            try:
                with urllib.request.urlopen(url, context=context, timeout=2) as response:
                    return response.status == 200
            except OSError:
                return False

        self._until(deadline, "kube-apiserver not ready", "kube-apiserver", ready)

    def _wait_nodes_ready(self, deadline: float) -> None:
        def ready() -> bool:
            nodes = self.get("nodes")["items"]
            conditions = [{c["type"]: c["status"] for c in n.get("status", {}).get("conditions") or []} for n in nodes]
            return bool(nodes) and all(c.get("Ready") == "True" for c in conditions)

        self._until(deadline, "kwok nodes not Ready", "kwok", ready)

    def _check_alive(self) -> None:
        for name, process in self.processes.items():
            if process.poll() is not None:
                raise RuntimeError(f"{name} exited with {process.returncode}: {self.log(name)}")

    def log(self, name: str) -> str:
        path = self.workdir / f"{name}.log"
        return path.read_text(errors="replace")[-3000:] if path.exists() else ""

    def kubectl(self, *args: str, input: str | None = None, check: bool = True) -> subprocess.CompletedProcess:
        result = subprocess.run(
            [str(self.bin / "kubectl"), "--kubeconfig", str(self.kubeconfig), *args],
            input=input,
            capture_output=True,
            text=True,
            check=False,
            timeout=120,
        )
        if check and result.returncode != 0:
            raise RuntimeError(f"kubectl {' '.join(args)}: {result.stderr.strip()}")
        return result

    def get(self, *args: str) -> dict:
        return json.loads(self.kubectl("get", *args, "-o", "json").stdout)

    def apply_json(self, obj: dict) -> None:
        self.kubectl("apply", "--server-side", "--field-manager=e2e", "-f", "-", input=json.dumps(obj))

    def stop(self) -> None:
        for process in reversed(list(self.processes.values())):
            if process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGTERM)
        for process in self.processes.values():
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=5)
        shutil.rmtree(self.workdir, ignore_errors=True)
