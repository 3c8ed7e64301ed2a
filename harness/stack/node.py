"""A real node for one cluster: containerd, runc, the kubelet, kube-proxy and kube-router, contained.

Opt-in (``make up NODE=real``, and the e2e tests of bad releases): the dev cluster's pods
then run the service's own image in real containers, probed by a real kubelet. The node
is contained so that nothing it does outlives it on the host, even after ``kill -9``:

- ``unshare`` gives it its own PID, network and mount namespaces. When the node's first
  process dies (with the stack: it is tied to it), the kernel kills every process in
  the PID namespace (containerd, its shims, the containers); the network namespace and
  with it every interface, route, iptables rule and per-namespace sysctl the kubelet,
  kube-proxy and the CNI plugins made disappear; so do the mounts.
- Inside, ``/var/lib``, ``/var/log`` and ``/run`` are the state folder's (or a tmpfs), so
  the paths the components hard-code (``/var/lib/kubelet/device-plugins``, ``/var/lib/cni``,
  ``/var/log/containers``, ``/run/netns``, ``/run/containerd``) are written there.
- The kubelet's kernel tunables (``vm.overcommit_memory``, ``kernel.panic``...) are global:
  inside the mount namespace a file of the state folder is mounted over each, so the
  kubelet's writes land there and the host's values never change.
- What is left is global and outside the namespaces: the cgroups the kubelet creates
  (``/sys/fs/cgroup/*/kubepods``) and the machine lock. A janitor process, started
  apart from the stack (its own session, not tied), waits for the node to end however it
  ends and removes both.

The kubelet reaches its API server (on the host's 127.0.0.1) through a Unix socket in the
state folder, bridged by socat on both sides; the host reaches the node's network (the
tests' clients of the Service) with ``nsenter`` into it.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import json
import os
import signal
import ssl
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from harness.stack import image

NODE_NAME = "dev-node"
NODE_IP = "10.250.0.2"
POD_SUBNET = "10.244.0.0/24"
LOCK = Path("/run/lock/flask-gitops-real-node.lock")
CGROUP_ROOT = Path("/sys/fs/cgroup")
# The kubelet sets these (container_manager_linux.go, setupKernelTunables): global, not
# per network namespace, so each is a state-folder file mounted over the host's.
KERNEL_TUNABLES = (
    "vm/overcommit_memory",
    "vm/panic_on_oom",
    "kernel/panic",
    "kernel/panic_on_oops",
    "kernel/keys/root_maxkeys",
    "kernel/keys/root_maxbytes",
)
SANDBOX_IMAGE = "localhost/flask-gitops/pause:1"
SERVICE_RANGE = "10.96.0.0/16"  # every API server's --service-cluster-ip-range (kube.py)
ROUTER_USER = "flask-gitops:kube-router"
READ = ["get", "list", "watch"]
# What kube-router's firewall reads (its upstream RBAC, read-only): the policies and what they select.
ROUTER_RBAC = (
    {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": {"name": ROUTER_USER},
     "rules": [{"apiGroups": [""], "resources": ["namespaces", "pods", "services", "nodes", "endpoints"],
                "verbs": READ},
               {"apiGroups": ["networking.k8s.io"], "resources": ["networkpolicies"], "verbs": READ},
               {"apiGroups": ["discovery.k8s.io"], "resources": ["endpointslices"], "verbs": READ}]},
    {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding", "metadata": {"name": ROUTER_USER},
     "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": ROUTER_USER},
     "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": ROUTER_USER}]},
)  # fmt: skip


def binaries(cache: Path, pins: dict[str, str]) -> Path:
    """The folder of the pinned kubelet, kube-proxy and kube-router (tools/build-node.sh, make node-tools)."""
    folder = cache / "k8s" / f"node-v{pins['KUBERNETES_E2E_VERSION']}"
    missing = [name for name in ("kubelet", "kube-proxy", "kube-router") if not (folder / name).is_file()]
    if missing:
        raise RuntimeError(f"{folder}: missing {', '.join(missing)}: run 'make node-tools'")
    return folder


class NodeBusy(RuntimeError):
    pass


def take_lock() -> int:
    """The machine's one real node: an exclusive lock, or NodeBusy naming who holds it."""
    LOCK.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(LOCK, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.pread(fd, 200, 0).decode(errors="replace").strip()
        os.close(fd)
        raise NodeBusy(f"a real node already runs on this machine ({holder}); stop it first (make down)") from None
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"state {os.getcwd()} pid {os.getpid()}\n".encode(), 0)
    return fd


def leftovers() -> list[str]:
    """What a real node leaves on the host when it is not cleaned up (empty when clean)."""
    found = [str(p) for p in sorted(CGROUP_ROOT.glob("*/kubepods*"))]
    if LOCK.exists():
        found.append(str(LOCK))
    for path in ("/var/lib/kubelet", "/var/lib/cni", "/var/log/containers", "/var/log/pods", "/run/containerd",
                 "/var/lib/containerd", "/run/netns"):  # fmt: skip
        if Path(path).exists():
            found.append(path)
    return found


def clean_host() -> list[str]:
    """Remove the node's cgroups (deepest first, once their processes are gone) and the lock."""
    removed = []
    for top in sorted(CGROUP_ROOT.glob("*/kubepods*")):
        for folder in [*sorted((p for p in top.rglob("*") if p.is_dir()), key=lambda p: -len(p.parts)), top]:
            for _ in range(50):
                try:
                    folder.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    time.sleep(0.1)  # its last process is still being killed
        removed.append(str(top))
    with contextlib.suppress(FileNotFoundError):
        LOCK.unlink()
        removed.append(str(LOCK))
    return removed


def janitor(pid: int, lock_fd: int) -> None:
    """Wait (in a session of its own) until the node's process ``pid`` is gone, then clean up."""
    while True:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.5)
    time.sleep(1)  # the kernel kills the PID namespace's processes after its first one
    clean_host()
    os.close(lock_fd)


# --- on the host -------------------------------------------------------------------------
def _sign(pki: Path, name: str, subject: str, names: str = "") -> None:
    extensions = []
    if names:
        (pki / f"{name}.ext").write_text(f"subjectAltName={names}\n")
        extensions = ["-extfile", f"{name}.ext"]
    for argv in (
        ["req", "-newkey", "rsa:2048", "-nodes", "-subj", subject, "-keyout", f"{name}.key", "-out", f"{name}.csr"],
        ["x509", "-req", "-in", f"{name}.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial", "-days", "7",
         "-out", f"{name}.crt", *extensions],
    ):  # fmt: skip
        subprocess.run(["openssl", *argv], cwd=pki, check=True, capture_output=True)


def _kubeconfig(server: str, pki: Path, user: str) -> str:
    return json.dumps({
        "apiVersion": "v1", "kind": "Config", "current-context": "node",
        "clusters": [{"name": "node", "cluster": {"server": server, "certificate-authority": str(pki / "ca.crt")}}],
        "users": [{"name": user, "user": {"client-certificate": str(pki / f"{user}.crt"),
                                          "client-key": str(pki / f"{user}.key")}}],
        "contexts": [{"name": "node", "context": {"cluster": "node", "user": user}}],
    })  # fmt: skip


def write_config(folder: Path, pki: Path, port: int) -> None:
    """containerd's, the CNI's, the kubelet's and kube-proxy's configuration, all in ``folder``."""
    (folder / "cni").mkdir(parents=True, exist_ok=True)
    (folder / "containerd.toml").write_text(f"""version = 2
root = "/var/lib/containerd"
state = "/run/containerd"
[grpc]
  address = "{folder / "containerd.sock"}"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "{SANDBOX_IMAGE}"
  # root here lacks CAP_SYS_RESOURCE: a sandbox may not lower its OOM score below ours.
  restrict_oom_score_adj = true
  enable_selinux = false
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "{folder / "cni"}"
""")
    (folder / "cni" / "10-flask-gitops.conflist").write_text(json.dumps({
        "cniVersion": "1.0.0", "name": "flask-gitops",
        "plugins": [
            {"type": "bridge", "bridge": "cni0", "isGateway": True, "ipMasq": True, "hairpinMode": True,
             "ipam": {"type": "host-local", "ranges": [[{"subnet": POD_SUBNET}]], "routes": [{"dst": "0.0.0.0/0"}]}},
            {"type": "portmap", "capabilities": {"portMappings": True}},
        ],
    }))  # fmt: skip
    (folder / "resolv.conf").write_text("nameserver 127.0.0.1\n")  # no cluster DNS: the app resolves nothing
    server = f"https://127.0.0.1:{port}"
    (folder / "kubelet.kubeconfig").write_text(_kubeconfig(server, pki, "node"))
    (folder / "kube-proxy.kubeconfig").write_text(_kubeconfig(server, pki, "kube-proxy"))
    (folder / "kube-router.kubeconfig").write_text(_kubeconfig(server, pki, "kube-router"))
    (folder / "kubelet.yaml").write_text(json.dumps({
        "apiVersion": "kubelet.config.k8s.io/v1beta1", "kind": "KubeletConfiguration",
        "address": NODE_IP, "readOnlyPort": 0, "healthzBindAddress": "127.0.0.1",
        # Served with a certificate of the cluster's CA for the node's address: Metrics Server
        # verifies it with the CA its service account trusts (no --kubelet-insecure-tls).
        "tlsCertFile": str(pki / "kubelet-serving.crt"), "tlsPrivateKeyFile": str(pki / "kubelet-serving.key"),
        "authentication": {"anonymous": {"enabled": False}, "webhook": {"enabled": True},
                           "x509": {"clientCAFile": str(pki / "ca.crt")}},
        "authorization": {"mode": "Webhook"},
        "cgroupDriver": "cgroupfs", "failCgroupV1": False, "failSwapOn": False,
        "containerRuntimeEndpoint": f"unix://{folder / 'containerd.sock'}",
        "resolvConf": str(folder / "resolv.conf"),
        # A busy disk must not evict the pods or collect the images the node cannot pull again.
        "evictionHard": {"memory.available": "100Mi", "nodefs.available": "1%", "imagefs.available": "1%",
                         "nodefs.inodesFree": "1%"},
        "imageGCHighThresholdPercent": 100, "imageGCLowThresholdPercent": 99,
        "nodeStatusUpdateFrequency": "4s", "syncFrequency": "10s",
        "maxPods": 30, "serializeImagePulls": False, "rotateCertificates": False,
    }))  # fmt: skip
    (folder / "kube-proxy.yaml").write_text(json.dumps({
        "apiVersion": "kubeproxy.config.k8s.io/v1alpha1", "kind": "KubeProxyConfiguration",
        "clientConnection": {"kubeconfig": str(folder / "kube-proxy.kubeconfig")},
        "mode": "iptables", "hostnameOverride": NODE_NAME, "clusterCIDR": POD_SUBNET,
        "healthzBindAddress": "127.0.0.1:10256", "metricsBindAddress": "127.0.0.1:10249",
        # Leave the host's conntrack table size and timeouts alone (they are not per namespace).
        "conntrack": {"maxPerCore": 0, "min": 0, "tcpEstablishedTimeout": "0s", "tcpCloseWaitTimeout": "0s"},
    }))  # fmt: skip


class RealNode:
    """The node of one cluster: started with the stack, stopped with it, cleaned by its janitor."""

    def __init__(self, procs, cluster, bin: Path, pki: Path):
        self.procs = procs
        self.cluster = cluster
        self.bin = bin
        self.pki = pki
        self.folder = procs.state / "node"
        self.pid = 0

    @property
    def socket(self) -> Path:
        return self.folder / "containerd.sock"

    def start(self, images: list[Path], timeout: float = 120) -> None:
        lock = take_lock()
        try:
            self.folder.mkdir(mode=0o700)
            _sign(self.pki, "node", f"/O=system:nodes/CN=system:node:{NODE_NAME}")
            _sign(self.pki, "kubelet-serving", f"/O=system:nodes/CN=system:node:{NODE_NAME}",
                  f"IP:{NODE_IP},DNS:{NODE_NAME}")  # fmt: skip
            _sign(self.pki, "kube-proxy", "/CN=system:kube-proxy")
            _sign(self.pki, "kube-router", f"/CN={ROUTER_USER}")
            self.cluster.apply_json(*ROUTER_RBAC)
            write_config(self.folder, self.pki, self.cluster.port)
            self.procs.spawn("node-api-bridge", ["socat", f"UNIX-LISTEN:{self.folder / 'apiserver.sock'},fork,mode=600",
                                                 f"TCP:127.0.0.1:{self.cluster.port}"])  # fmt: skip
            node = self.procs.spawn(
                "node",
                ["unshare", "--pid", "--fork", "--kill-child=SIGKILL", "--mount-proc", "--net", "--mount",
                 sys.executable, "-m", "harness.stack.node", "init", "--folder", str(self.folder),
                 "--api-port", str(self.cluster.port), "--bin", str(self.bin)],
            )  # fmt: skip
            self.pid = node.pid
            with open(self.procs.logs / "node-janitor.log", "ab") as log:
                janitor_process = subprocess.Popen(
                    [sys.executable, "-m", "harness.stack.node", "janitor", "--pid", str(node.pid),
                     "--lock-fd", str(lock)],
                    stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, pass_fds=(lock,),
                    start_new_session=True, env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])},
                )  # fmt: skip
            (self.folder / "janitor.pid").write_text(f"{janitor_process.pid}\n")
        finally:
            os.close(lock)
        self.procs.until("the real node's containerd", self.socket.exists, timeout, log="node")
        for archive in images:
            self.load(archive)
        self.procs.until(f"node {NODE_NAME} Ready", self._ready, timeout, interval=1, log="node")

    def load(self, archive: Path) -> None:
        """Import an OCI archive into the node's containerd (the kubelet's namespace), known by its
        name and by ``repository@digest``: the name a manifest pinned by digest asks for."""
        ctr = ["ctr", "--address", str(self.socket), "--namespace", "k8s.io", "images"]
        name, digest = image.reference_of(archive)
        pinned = f"{name.rsplit(':', 1)[0]}@{digest}"
        for argv in ([*ctr, "import", str(archive)], [*ctr, "tag", "--force", name, pinned]):
            result = subprocess.run(argv, capture_output=True, text=True)
            if result.returncode != 0:
                raise RuntimeError(f"ctr images {argv[6]} {archive.name}: {result.stderr.strip()}")

    def tag(self, source: str, *names: str) -> None:
        """More names for an image the node holds (a registry move: the same bytes, another name)."""
        ctr = ["ctr", "--address", str(self.socket), "--namespace", "k8s.io", "images", "tag", "--force"]
        for name in names:
            result = subprocess.run([*ctr, source, name], capture_output=True, text=True)
            if result.returncode != 0:
                raise RuntimeError(f"ctr images tag {source} {name}: {result.stderr.strip()}")

    def _ready(self) -> bool:
        node = self.cluster.maybe_get("node", NODE_NAME)
        conditions = {c["type"]: c["status"] for c in ((node or {}).get("status") or {}).get("conditions") or []}
        return conditions.get("Ready") == "True"

    def nsenter(self, *argv: str) -> list[str]:
        """``argv`` run inside the node's network (to reach Services and pods as a client would)."""
        return ["nsenter", f"--target={_init_pid(self.pid)}", "--net", *argv]

    @staticmethod
    def wait_janitor(state: Path, timeout: float = 20) -> None:
        """After a stop: until the janitor has removed the node's cgroups and the lock."""
        try:
            pid = int((state / "node" / "janitor.pid").read_text())
        except (OSError, ValueError):
            return
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.2)


def _init_pid(unshare_pid: int) -> int:
    """The node's first process (unshare's only child), as the host numbers it."""
    children = Path(f"/proc/{unshare_pid}/task/{unshare_pid}/children").read_text().split()
    return int(children[0])


# --- inside the namespaces ---------------------------------------------------------------
def _run(*argv: str) -> None:
    subprocess.run(argv, check=True, capture_output=True)


def _contain(folder: Path) -> None:
    """Mounts and network of the node, inside its fresh mount and network namespaces."""
    for name in ("var-lib", "var-log", "sysctl"):
        (folder / name).mkdir(exist_ok=True)
    _run("mount", "--make-rprivate", "/")
    _run("mount", "-t", "tmpfs", "-o", "mode=755", "tmpfs", "/run")
    _run("mount", "--bind", str(folder / "var-lib"), "/var/lib")
    _run("mount", "--bind", str(folder / "var-log"), "/var/log")
    for name in KERNEL_TUNABLES:
        copy = folder / "sysctl" / name.replace("/", ".")
        copy.write_text(Path("/proc/sys", name).read_text())
        _run("mount", "--bind", str(copy), f"/proc/sys/{name}")
    _run("ip", "link", "set", "lo", "up")
    _run("ip", "link", "add", "node0", "type", "bridge")
    _run("ip", "addr", "add", f"{NODE_IP}/24", "dev", "node0")
    _run("ip", "link", "set", "node0", "up")
    _run("ip", "route", "add", "default", "dev", "node0")
    for name, value in (("net/ipv4/ip_forward", "1"), ("net/bridge/bridge-nf-call-iptables", "1")):
        with contextlib.suppress(OSError):
            Path("/proc/sys", name).write_text(value)


def node_init(folder: Path, api_port: int, bin: Path) -> int:
    """The node's first process (PID 1 of its namespace): contain, start, reap, end with any part."""
    _contain(folder)
    logs = folder / "logs"
    logs.mkdir(exist_ok=True)
    children: dict[int, str] = {}

    def start(name: str, argv: list[str]) -> None:
        with open(logs / f"{name}.log", "ab") as log:
            process = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        children[process.pid] = name

    def stop(signum, frame):
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, stop)
    # The API server, at the port it has on the host: on 127.0.0.1 for the node's components,
    # and on the node's address, where the ``kubernetes`` Service sends the pods (kube.py).
    start("api-bridge", ["socat", f"TCP-LISTEN:{api_port},fork,reuseaddr",
                         f"UNIX-CONNECT:{folder / 'apiserver.sock'}"])  # fmt: skip
    # The API server's way in (its egress selector; egress.py): the aggregator reaches Metrics
    # Server's Service, and the kubelet for logs and exec, from inside the node's network.
    start("egress", [sys.executable, "-m", "harness.stack.egress",
                     f"{folder / 'egress.sock'}=direct:{SERVICE_RANGE},{POD_SUBNET},{NODE_IP}/32"])  # fmt: skip
    start("containerd", ["containerd", "--config", str(folder / "containerd.toml")])
    socket = folder / "containerd.sock"
    for _ in range(200):
        if socket.exists():
            break
        time.sleep(0.1)
    start("kubelet", [str(bin / "kubelet"), f"--config={folder / 'kubelet.yaml'}",
                      f"--kubeconfig={folder / 'kubelet.kubeconfig'}", f"--hostname-override={NODE_NAME}",
                      f"--node-ip={NODE_IP}", "--v=1"])  # fmt: skip
    start("kube-proxy", [str(bin / "kube-proxy"), f"--config={folder / 'kube-proxy.yaml'}", "--v=1"])
    # NetworkPolicy enforcement (iptables and ipsets in the node's network namespace): the
    # firewall only; routes are the bridge CNI's and Services are kube-proxy's. It starts once
    # the kubelet has registered the Node (kube-router exits when it finds none).
    router = [str(bin / "kube-router"), f"--kubeconfig={folder / 'kube-router.kubeconfig'}",
              f"--hostname-override={NODE_NAME}", "--run-firewall=true", "--run-router=false",
              "--run-service-proxy=false", "--enable-cni=false", "--health-port=0", "--metrics-port=0",
              f"--service-cluster-ip-range={SERVICE_RANGE}", "--v=1"]  # fmt: skip
    while True:
        pid, status = os.waitpid(-1, os.WNOHANG)
        if pid in children:
            print(f"node: {children[pid]} exited ({status}); the node stops", flush=True)
            return 1
        if router and _registered(folder / "kube-router.kubeconfig", api_port):
            start("kube-router", router)
            router = []
        if not pid:
            time.sleep(0.5)


def _registered(kubeconfig: Path, api_port: int) -> bool:
    """Whether the API server knows this node yet (asked as kube-router, through the bridge)."""
    config = json.loads(kubeconfig.read_text())
    user = config["users"][0]["user"]
    context = ssl.create_default_context(cafile=config["clusters"][0]["cluster"]["certificate-authority"])
    context.load_cert_chain(user["client-certificate"], user["client-key"])
    try:
        with urllib.request.urlopen(f"https://127.0.0.1:{api_port}/api/v1/nodes/{NODE_NAME}", context=context,
                                    timeout=5):  # fmt: skip
            return True
    except (OSError, ValueError):
        return False


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m harness.stack.node")
    sub = parser.add_subparsers(dest="command", required=True)
    init = sub.add_parser("init")
    init.add_argument("--folder", type=Path, required=True)
    init.add_argument("--api-port", type=int, required=True)
    init.add_argument("--bin", type=Path, required=True)
    watch = sub.add_parser("janitor")
    watch.add_argument("--pid", type=int, required=True)
    watch.add_argument("--lock-fd", type=int, required=True)
    sub.add_parser("leftovers")
    args = parser.parse_args(argv)
    if args.command == "init":
        return node_init(args.folder, args.api_port, args.bin)
    if args.command == "janitor":
        janitor(args.pid, args.lock_fd)
        return 0
    print(json.dumps(leftovers()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
