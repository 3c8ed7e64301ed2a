"""Bad releases on a real node: the service's own image in real pods, probed by a real kubelet.

A stack of its own (the real node for dev: harness/stack/node.py), reconciled by the real
Argo CD. Each bad release is pushed through Git the way a person would push it, and:

- requests through the Service, sampled every 100 ms from the node's network, never fail:
  the old pods keep serving (maxUnavailable: 0, and the new pods are never Ready);
- `gitops status --live` and the promotion gate name the reason from Argo CD's resource tree;
- one command (`gitops rollback dev --push`) brings dev back, and Argo CD syncs it.
"""

from __future__ import annotations

import contextlib
import http.server
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest

from gitops.toolchain import build_cache, pins, tools_dir
from harness.stack import image, node
from harness.stack.stack import Stack, app_state
from tests.e2e.conftest import OUTPUTS, ROOT, TIMINGS

DEV_APP = "flask-app-dev"
OVERLAY = Path("apps/flask-app/overlays/dev/kustomization.yaml")


@pytest.fixture(scope="module")
def real():
    state = Path(tempfile.mkdtemp(prefix="flask-gitops-node-")) / "state"
    started = time.monotonic()
    try:
        up = Stack.up(state, ROOT, build_cache(), tools_dir() / "bin", pins(), log=lambda line: None,
                      worktree=True, tied=True, real_node=True)  # fmt: skip
    except BaseException:
        shutil.rmtree(state.parent, ignore_errors=True)  # a failed start leaves no folder behind
        raise
    TIMINGS["real-node stack up to every Application settled (s)"] = time.monotonic() - started
    try:
        yield up
    finally:
        up.down()
        shutil.rmtree(state.parent, ignore_errors=True)


@pytest.fixture(scope="module")
def work(real):
    folder = real.state.parent / "work"
    subprocess.run(["git", "clone", "-q", "--branch", "main", str(real.bare), str(folder)], check=True)
    for key, value in (("user.name", "e2e"), ("user.email", "e2e@flask-gitops.invalid")):
        subprocess.run(["git", "config", key, value], cwd=folder, check=True)
    return folder


class Receiver:
    """The notifications controller's one outside address (the dispatch URL), on 127.0.0.1."""

    def __init__(self):
        self.received: list[tuple[float, dict]] = []
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(min(int(self.headers.get("Content-Length", 0)), 1 << 16))
                outer.received.append((time.monotonic(), json.loads(body)))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/repos/example-org/flask-gitops/dispatches"

    def events(self, event: str, revision: str) -> list[float]:
        return [t for t, body in self.received
                if body["event_type"] == event and body["client_payload"]["revision"] == revision]  # fmt: skip


@pytest.fixture(scope="module")
def receiver(real):
    listener = Receiver()
    real.argo.start_notifications(ROOT / "argocd" / "notifications" / "argocd-notifications-cm.yaml", listener.url)
    try:
        yield listener
    finally:
        listener.server.shutdown()


def gitops(work: Path, real, *args: str, token: str | None = None) -> subprocess.CompletedProcess:
    """`gitops` with the read-only token (or ``token``: an operator's, who may sync)."""
    env = {**os.environ, "ARGOCD_SERVER": real.argo.url, "ARGOCD_AUTH_TOKEN": token or real.reader_token}
    return subprocess.run([sys.executable, "-m", "gitops", *args], cwd=work, capture_output=True, text=True,
                          check=False, env=env, timeout=300)  # fmt: skip


def push(work: Path, message: str) -> str:
    subprocess.run(["git", "commit", "-qam", message], cwd=work, check=True)
    subprocess.run(["git", "push", "-q", "origin", "HEAD:main"], cwd=work, check=True, capture_output=True)
    return deployed(work)


def deployed(work: Path) -> str:
    """The revision Argo CD syncs for main (the local remote's deploy/local, main plus its repoURL commit)."""
    for _ in range(100):
        subprocess.run(["git", "fetch", "-q", "origin"], cwd=work, check=True)
        main, deploy = (subprocess.run(["git", "rev-parse", ref], cwd=work, capture_output=True, text=True).stdout
                        .strip() for ref in ("origin/main", "origin/deploy/local"))  # fmt: skip
        parent = subprocess.run(["git", "rev-parse", f"{deploy}~1"], cwd=work, capture_output=True, text=True)
        if parent.stdout.strip() == main:
            return deploy
        time.sleep(0.1)
    raise AssertionError("deploy/local never followed main")


def edit_overlay(work: Path, old: str, new: str) -> None:
    path = work / OVERLAY
    text = path.read_text()
    assert text.count(old) == 1, old
    path.write_text(text.replace(old, new))


def patch_container(work: Path, patch: str) -> None:
    """An inline JSON patch of the Deployment's container, added to dev's overlay."""
    edit_overlay(work, "patches:\n", "patches:\n  - target: {kind: Deployment, name: flask-app}\n    patch: |\n"
                 + "".join(f"      {line}\n" for line in patch.strip().splitlines()))  # fmt: skip


class Sampler:
    """Requests through dev's Service every 100 ms, from inside the node's network."""

    def __init__(self, real, folder: Path, timeout: float = 2.0):
        service = real.clusters["dev"].get("service", "flask-app", "-n", "flask-app-dev")
        url = f"http://{service['spec']['clusterIP']}:{service['spec']['ports'][0]['port']}/"
        self.out, self.stop_file = folder / "samples.jsonl", folder / "samples.stop"
        self.stop_file.unlink(missing_ok=True)
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        self.process = subprocess.Popen(
            real.node.nsenter(sys.executable, "-m", "harness.testing.sampler", "--url", url, "--out", str(self.out),
                              "--stop", str(self.stop_file), "--max-seconds", "600", "--timeout", str(timeout)),
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        )  # fmt: skip

    def stop(self) -> list[dict]:
        self.stop_file.touch()
        try:
            self.process.wait(timeout=10)
        finally:
            if self.process.poll() is None:
                self.process.kill()
        return [json.loads(line) for line in self.out.read_text().splitlines() if line.strip()]


def until(real, what, check, timeout):
    return real.procs.until(what, check, timeout, interval=1)


def dev_state(real) -> tuple[str, str, str]:
    return app_state(real.api.application(DEV_APP))


def pods(real) -> list[dict]:
    return real.clusters["dev"].get("pods", "-n", "flask-app-dev")["items"]


def oldest_ready_pod(real) -> dict:
    """A Ready pod of dev that a scale-down keeps: the HPA acts on Metrics Server's real numbers,
    so a test's load may have added pods, and a ReplicaSet removes the most recently ready first."""

    def ready_since(pod: dict) -> str:
        conditions = {c["type"]: c for c in pod["status"].get("conditions") or []}
        ready = conditions.get("Ready") or {}
        return ready.get("lastTransitionTime", "") if ready.get("status") == "True" else ""

    ready = [p for p in pods(real) if not p["metadata"].get("deletionTimestamp") and ready_since(p)]
    assert ready, "dev has a Ready pod"
    return min(ready, key=ready_since)


def host_traces(state: Path) -> list[str]:
    """What of a real node is on the host: its leftovers, processes, interfaces, rules and mounts."""
    found = node.leftovers()
    for pid in Path("/proc").iterdir():
        with contextlib.suppress(OSError):
            if pid.name.isdigit() and str(state) in (pid / "cmdline").read_bytes().decode(errors="replace"):
                found.append(f"process {pid.name}")
    links = subprocess.run(["ip", "-br", "link"], capture_output=True, text=True).stdout.split("\n")
    found += [f"interface {line.split()[0]}" for line in links if line.startswith(("cni0", "node0", "veth"))]
    rules = subprocess.run(["iptables-save"], capture_output=True, text=True).stdout
    found += [f"iptables chain {c}" for c in ("KUBE-SERVICES", "CNI-", "KUBE-ROUTER") if c in rules]
    sets = subprocess.run(["ipset", "list", "-n"], capture_output=True, text=True).stdout.split()
    found += [f"ipset {name}" for name in sets if name.startswith(("KUBE-", "kube-router"))]
    found += [f"mount {line.split()[2]}" for line in Path("/proc/self/mounts").read_text().splitlines()
              if str(state) in line]  # fmt: skip
    return found


def test_a_killed_run_leaves_nothing_of_the_real_node_on_the_host(tmp_path):
    """kill -9 of what started a real node (here one running a pod): its processes, interfaces,
    iptables rules, mounts, cgroups and lock go with it (the namespaces die, the janitor cleans)."""
    state = tmp_path / "state"
    child = subprocess.Popen([sys.executable, "-m", "harness.testing.lone_node", str(state)], cwd=ROOT,
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                             env={**os.environ, "PYTHONPATH": str(ROOT)})  # fmt: skip
    try:
        line = child.stdout.readline()
        while line and not line.startswith("READY"):
            line = child.stdout.readline()
        assert line.startswith("READY"), f"the lone node did not start: {child.stdout.read()[-2000:]}"
        inside = node.RealNode.__new__(node.RealNode)
        inside.pid = int(line.split()[2])
        assert "cni0" in subprocess.run(inside.nsenter("ip", "-br", "link"), capture_output=True, text=True).stdout
        assert node.leftovers(), "while it runs, its cgroups and lock are there"
    finally:
        child.kill()
        child.wait()
    deadline = time.monotonic() + 30
    while host_traces(state) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert host_traces(state) == []


def test_the_service_image_runs_in_real_pods_contained_on_the_real_node(real, work):
    assert dev_state(real)[:2] == ("Synced", "Healthy")
    running = pods(real)
    assert running, "dev has pods"
    for pod in running:
        assert pod["spec"]["nodeName"] == node.NODE_NAME
        (status,) = pod["status"]["containerStatuses"]
        assert status["ready"] is True
        assert status["imageID"].endswith(real.release["digest"]), "the image built from the Dockerfile, by digest"
    sampler = Sampler(real, real.state.parent)
    time.sleep(2)
    samples = sampler.stop()
    assert samples
    assert all(s.get("status") == 200 for s in samples), samples[:3]
    # Contained: the node's interfaces, iptables rules and mounts are not the host's.
    assert "cni0" not in subprocess.run(["ip", "-br", "link"], capture_output=True, text=True).stdout
    assert "KUBE-SERVICES" not in subprocess.run(["iptables-save"], capture_output=True, text=True).stdout
    assert "KUBE-ROUTER" not in subprocess.run(["iptables-save"], capture_output=True, text=True).stdout
    inside = subprocess.run(real.node.nsenter("iptables-save"), capture_output=True, text=True).stdout
    assert "KUBE-ROUTER-FORWARD" in inside, "kube-router's firewall is in the node's network namespace"
    assert not Path("/var/lib/kubelet").exists()


def test_idle_and_slow_clients_leave_the_real_pod_ready_and_serving(real):
    """Issue 28's counts against a pod, judged by the kubelet's own probes: 2,100 connections that
    send nothing on the traffic port and 64 slow clients on the probe port, for 30 s. The pod
    stays Ready and is never restarted, `/` through the Service answers within 1 s throughout,
    and the pod closes the connections that never send a whole request (REQUEST_HEAD_TIMEOUT)."""
    pod = oldest_ready_pod(real)
    name, restarts = pod["metadata"]["name"], pod["status"]["containerStatuses"][0]["restartCount"]
    ports = {p["name"]: p["containerPort"] for p in pod["spec"]["containers"][0]["ports"]}

    def unhealthy() -> int:
        events = real.clusters["dev"].get("events", "-n", "flask-app-dev")["items"]
        return sum(e.get("count") or 1 for e in events
                   if e["involvedObject"].get("name") == name and e.get("reason") == "Unhealthy")  # fmt: skip

    probe_failures = unhealthy()
    sampler = Sampler(real, real.state.parent, timeout=1.0)
    try:
        held = subprocess.run(
            real.node.nsenter(sys.executable, "-m", "harness.testing.abuser", "--host", pod["status"]["podIP"],
                              "--idle", f"2100:{ports['http']}", "--slow", f"64:{ports['probes']}", "--seconds", "30"),
            env={**os.environ, "PYTHONPATH": str(ROOT)}, capture_output=True, text=True, timeout=120, check=True,
        )  # fmt: skip
    finally:
        samples = sampler.stop()
    report = json.loads(held.stdout)
    after = real.clusters["dev"].get("pod", name, "-n", "flask-app-dev")
    ready = {c["type"]: c["status"] for c in after["status"]["conditions"]}["Ready"]
    assert ready == "True"
    assert after["status"]["containerStatuses"][0]["restartCount"] == restarts, "liveness never failed"
    assert unhealthy() == probe_failures, "no probe failed while the clients were held"
    failed = [s for s in samples if s.get("status") != 200]
    assert len(samples) > 100
    assert not failed, f"{len(failed)} of {len(samples)} requests to / failed or took over 1 s: {failed[:3]}"
    assert report["not_opened"] == {"idle": 0, "slow": 0}, report
    assert report["closed_by_server"]["idle"] >= 2100, f"idle connections are timed out: {report}"
    OUTPUTS.append(f"real pod, 2,100 idle + 64 slow clients for 30 s: {len(samples)} requests to / all 200 "
                   f"within 1 s, pod Ready, 0 restarts; the pod closed {report['closed_by_server']}")  # fmt: skip


# A new pod's address reaches kube-router's ipsets a moment after the pod starts (measured:
# refused for ~0.5 s even where allowed), so the client tries for up to 10 s.
CLIENT = """
import sys, time, urllib.request
started = time.monotonic()
while True:
    try:
        with urllib.request.urlopen(sys.argv[1], timeout=2) as response:
            result = f"status {response.status}"
            break
    except Exception as error:
        result = f"error {type(error).__name__}: {error}"[:300]
    if time.monotonic() - started > 10:
        break
    time.sleep(0.5)
open("/dev/termination-log", "w").write(result)
"""


def request_from(real, namespace: str, url: str) -> str:
    """One request to ``url`` from a pod of ``namespace`` on the real node: "status 200" or "error ..."."""
    cluster, name = real.clusters["dev"], f"client-{int(time.monotonic() * 1000) % 10**8}"
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": namespace},
           "spec": {"restartPolicy": "Never", "containers": [{
               "name": "client", "image": f"{image.IMAGE}@{real.release['digest']}", "imagePullPolicy": "Never",
               "command": ["python3", "-c", CLIENT, url]}]}}  # fmt: skip
    cluster.apply_json({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}}, pod)
    try:
        done = until(real, f"the client in {namespace}", lambda: (
            cluster.get("pod", name, "-n", namespace)["status"].get("phase") in ("Succeeded", "Failed")
            and cluster.get("pod", name, "-n", namespace)), 60)  # fmt: skip
        return done["status"]["containerStatuses"][0]["state"]["terminated"].get("message", "")
    finally:
        cluster.kubectl("delete", "pod", name, "-n", namespace, "--wait=false")


def test_network_policies_are_enforced_on_the_real_node(real, work):
    """kube-router enforces the app's NetworkPolicies: a pod of a namespace the policy does not name
    is refused (through the Service and at the pod), the ingress controller's namespace is let in,
    the kubelet's probes still pass. A regression that opens the policy to every namespace, pushed
    past the gate, would let that pod in: `gitops validate` refuses it, and on the node it opens."""
    service = real.clusters["dev"].get("service", "flask-app", "-n", "flask-app-dev")
    via_service = f"http://{service['spec']['clusterIP']}:{service['spec']['ports'][0]['port']}/"
    pod = oldest_ready_pod(real)
    port = {p["name"]: p["containerPort"] for p in pod["spec"]["containers"][0]["ports"]}["http"]
    at_pod = f"http://{pod['status']['podIP']}:{port}/"
    assert request_from(real, "ingress-nginx", via_service) == "status 200"
    assert request_from(real, "intruder", via_service).startswith("error"), "default deny: not from elsewhere"
    assert request_from(real, "intruder", at_pod).startswith("error")
    assert {c["type"]: c["status"] for c in pod["status"]["conditions"]}["Ready"] == "True", "the probes pass"
    # The regression: every namespace may reach the app ("a 502 from the new ingress, quick fix").
    subprocess.run(["git", "pull", "-q", "--ff-only", "origin", "main"], cwd=work, check=True)
    edit_overlay(work, "patches:\n", "patches:\n  - target: {kind: NetworkPolicy, name: flask-app}\n    patch: |\n"
                 "      - {op: replace, path: /spec/ingress/0/from, value: [{namespaceSelector: {}}]}\n")  # fmt: skip
    refused = gitops(work, real, "validate")
    assert refused.returncode == 1, refused.stdout
    OUTPUTS.append(f"$ gitops validate   # the ingress opened to every namespace\n{refused.stdout[-600:]}")
    revision = push(work, "dev: let every namespace in (pushed past the gate)")
    until(real, "dev synced the open policy", lambda: dev_state(real) == ("Synced", "Healthy", revision), 120)
    opened = until(real, "the intruder let in", lambda: request_from(real, "intruder", via_service) == "status 200", 60)
    assert opened
    subprocess.run(["git", "revert", "--no-commit", "HEAD"], cwd=work, check=True)
    revision = push(work, "dev: the policy as it was")
    until(real, "dev back on the policy", lambda: dev_state(real) == ("Synced", "Healthy", revision), 120)
    until(real, "the intruder refused again",
          lambda: request_from(real, "intruder", via_service).startswith("error"), 60)  # fmt: skip


def wait_reason(work, real, reason: str, timeout: float = 120) -> str:
    """Until `gitops status --live` exits 1 naming ``reason`` for dev; its output."""

    def named():
        result = gitops(work, real, "status", "--live")
        return result.returncode == 1 and reason in result.stderr and result.stdout

    return until(real, f"status --live naming {reason}", named, timeout)


def rollback_and_wait(work, real) -> tuple[str, float]:
    """`gitops rollback dev --push` by an operator (a token that may sync: it ends the bad sync)."""
    started = time.monotonic()
    result = gitops(work, real, "rollback", "dev", "--push", token=real.api.token)
    assert result.returncode == 0, result.stderr
    OUTPUTS.append(f"$ gitops rollback dev --push\n{result.stdout}")  # the README quotes it
    revision = deployed(work)
    until(real, "dev Synced + Healthy after the rollback",
          lambda: dev_state(real) == ("Synced", "Healthy", revision), 180)  # fmt: skip
    return revision, time.monotonic() - started


def test_a_crash_loop_is_named_refused_reported_and_rolled_back_with_no_failed_request(real, work, receiver):
    sampler = Sampler(real, real.state.parent)
    try:
        edit_overlay(work, "LOG_LEVEL=DEBUG", "LOG_LEVEL=NOPE")  # the app cannot configure its logger: exit 1
        pushed = time.monotonic()
        bad = push(work, "dev: a log level the app does not know")
        out = wait_reason(work, real, "CrashLoopBackOff")
        TIMINGS["crash loop: push -> status --live names it (s)"] = time.monotonic() - pushed
        assert "pod flask-app-" in out
        assert "restart" in out
        assert dev_state(real)[1] != "Healthy"
        refused = gitops(work, real, "promote", "dev", "staging")
        assert refused.returncode == 1
        assert "refused by the Argo CD gate" in refused.stderr
        assert "CrashLoopBackOff" in refused.stderr
        OUTPUTS.append(f"$ gitops promote dev staging\n{refused.stderr}")
        # The progress deadline (dev: 60 s) turns it Degraded, and on-health-degraded goes out once.
        until(real, "dev Degraded", lambda: dev_state(real)[1] == "Degraded", 150)
        until(real, "the flask-gitops-degraded dispatch", lambda: receiver.events("flask-gitops-degraded", bad), 60)
        assert not receiver.events("flask-gitops-deployed", bad), "a crash loop is never 'deployed'"
        _, recovered = rollback_and_wait(work, real)
        TIMINGS["crash loop: rollback push -> Healthy (s)"] = recovered
    finally:
        samples = sampler.stop()
    failed = [s for s in samples if s.get("status") != 200]
    assert len(samples) > 100
    assert not failed, f"{len(failed)} of {len(samples)} requests failed: {failed[:3]}"
    message = subprocess.run(["git", "log", "-1", "--format=%B", "origin/main"], cwd=work, capture_output=True,
                             text=True, check=True).stdout  # fmt: skip
    assert "Rolled-back-from: " in message
    time.sleep(3)
    assert len(receiver.events("flask-gitops-degraded", bad)) == 1, "once per revision"


def test_a_memory_limit_too_low_is_shown_as_oomkilled_and_rolled_back(real, work):
    subprocess.run(["git", "pull", "-q", "--ff-only", "origin", "main"], cwd=work, check=True)
    sampler = Sampler(real, real.state.parent)
    try:
        patch_container(work, '- {op: replace, path: /spec/template/spec/containers/0/resources/limits/memory, '
                              'value: "24Mi"}\n- {op: replace, path: /spec/template/spec/containers/0/resources/'
                              'requests/memory, value: "24Mi"}')  # fmt: skip
        push(work, "dev: a memory limit too low")
        out = wait_reason(work, real, "OOMKilled")
        assert re.search(r"pod flask-app-\S+ .*OOMKilled", out), out
        rollback_and_wait(work, real)
    finally:
        samples = sampler.stop()
    failed = [s for s in samples if s.get("status") != 200]
    assert not failed, f"{len(failed)} of {len(samples)} requests failed: {failed[:3]}"


def roll_out(real, what: str, revision: str, image: str) -> None:
    """Until dev is Synced + Healthy at ``revision``, every scaled ReplicaSet running ``image``;
    else fails with what is still up and the events that say why (an admission refusal...)."""
    seen: dict = {}

    def done() -> bool:
        sets = real.clusters["dev"].get("replicasets", "-n", "flask-app-dev")["items"]
        seen["state"] = dev_state(real)
        seen["replicasets"] = [
            (r["metadata"]["name"], r["spec"].get("replicas"), (r.get("status") or {}).get("replicas"),
             r["spec"]["template"]["spec"]["containers"][0]["image"])
            for r in sets
        ]  # fmt: skip
        scaled = {running for _, wanted, has, running in seen["replicasets"] if wanted or has}
        return seen["state"] == ("Synced", "Healthy", revision) and scaled == {image}

    try:
        until(real, what, done, 180)
    except (AssertionError, TimeoutError, pytest.fail.Exception) as error:
        events = real.clusters["dev"].get("events", "-n", "flask-app-dev")["items"]
        warnings = [
            f"{e['involvedObject']['name']}: {e['message'][:300]}" for e in events if e.get("type") == "Warning"
        ]
        raise AssertionError(f"{what}: {error}; last seen {seen}; warnings {warnings[-5:]}") from None


@pytest.mark.timeout(900)
def test_a_rollout_across_a_change_of_the_allowed_image_finishes(real, work):
    """The admission policy changes with the release: a registry move, then tag-only -> digest
    required. The Deployment controller scales the old ReplicaSet down with UPDATEs that still carry
    the image the new policy refuses; the policy must not judge those (its pod-template-changed
    condition), or the rollout stops half-way with the old pods up (and dev never Healthy)."""
    subprocess.run(["git", "pull", "-q", "--ff-only", "origin", "main"], cwd=work, check=True)
    tag, digest = real.release["tag"], real.release["digest"]
    sampler = Sampler(real, real.state.parent)
    try:
        # 1. dev runs the release by tag only (allowed: dev is not in digestRequired).
        result = gitops(work, real, "set-image", "--env", "dev", "--tag", tag)
        assert result.returncode == 0, result.stderr
        revision = push(work, "dev: the release by tag only")
        roll_out(real, "dev rolled out by tag", revision, f"{image.IMAGE}:{tag}")
        # 2. A registry move (`gitops configure --image`): the old pods' image is no longer allowed.
        moved = image.IMAGE.replace("example-org", "example-org-moved")
        real.node.tag(f"{image.IMAGE}:{tag}", f"{moved}:{tag}", f"{moved}@{digest}")
        result = gitops(work, real, "configure", "--image", moved)
        assert result.returncode == 0, result.stdout + result.stderr
        revision = push(work, "the image moves to another repository")
        roll_out(real, "dev rolled out from the new repository", revision, f"{moved}:{tag}")
        # 3. dev joins digestRequired: its policy now refuses the tag-only image the old pods run.
        #    (Not validated: `gitops validate` would also ask for a sync window covering dev, GO159.)
        config = work / "gitops.yaml"
        config.write_text(config.read_text().replace("digestRequired:\n  - prod", "digestRequired:\n  - dev\n  - prod"))
        shutil.copy(work / "apps/flask-app/overlays/prod/admission-digest-required.yaml", work / OVERLAY.parent)
        edit_overlay(work, "patches:\n", "patches:\n  - path: admission-digest-required.yaml\n    target:\n"
                     "      kind: ValidatingAdmissionPolicy\n      name: flask-app-images\n")  # fmt: skip
        result = gitops(work, real, "set-image", "--env", "dev", "--tag", tag, "--digest", digest)
        assert result.returncode == 0, result.stderr
        subprocess.run(["git", "add", "-A"], cwd=work, check=True)
        revision = push(work, "dev: images pinned by digest only")
        roll_out(real, "dev rolled out by digest under the new policy", revision, f"{moved}:{tag}@{digest}")
    finally:
        samples = sampler.stop()
    failed = [s for s in samples if s.get("status") != 200]
    assert not failed, f"{len(failed)} of {len(samples)} requests failed: {failed[:3]}"
    # Back as the other tests expect it (the module's stack is shared).
    subprocess.run(["git", "revert", "--no-commit", "HEAD~3..HEAD"], cwd=work, check=True)
    revision = push(work, "back to the stack's release")
    roll_out(real, "dev back on the release", revision, f"{image.IMAGE}:{tag}@{digest}")


def test_a_slow_start_is_deployed_only_once_ready_and_the_gate_waits(real, work, receiver):
    """The new pods are not Ready for 25 s: the gate refuses, and on-deployed (Argo CD's catalog
    condition) fires only after Argo CD saw them healthy; never during the rollout."""
    subprocess.run(["git", "pull", "-q", "--ff-only", "origin", "main"], cwd=work, check=True)
    patch_container(work, '- {op: add, path: /spec/template/spec/containers/0/env/-, '
                          'value: {name: WARMUP_SECONDS, value: "25"}}')  # fmt: skip
    slow = push(work, "dev: a release that warms up for 25 s")
    until(real, "dev syncing the slow release", lambda: dev_state(real)[2] == slow, 120)

    def refused_warming_up():
        refused = gitops(work, real, "promote", "dev", "staging")
        assert refused.returncode == 1, "never promotable while the new pods warm up"
        return "running, not ready" in refused.stderr

    until(real, "the gate naming the pod that is not ready", refused_warming_up, 60)
    healthy = until(real, "dev Healthy at the slow release",
                    lambda: dev_state(real) == ("Synced", "Healthy", slow) and time.monotonic(), 240)  # fmt: skip
    until(real, "the on-deployed dispatch", lambda: receiver.events("flask-gitops-deployed", slow), 90)
    (sent,) = receiver.events("flask-gitops-deployed", slow)
    assert sent >= healthy - 5, "on-deployed waited for the pods to be Ready"
    refused = gitops(work, real, "promote", "dev", "staging")
    assert refused.returncode == 1
    assert "stable health needs 30s" in refused.stderr
    waited = gitops(work, real, "promote", "dev", "staging", "--wait", "2m")
    assert waited.returncode == 0, waited.stderr
    assert "promote: the Argo CD gate passed" in waited.stdout


def hpa(real) -> dict:
    return real.clusters["dev"].get("hpa", "flask-app", "-n", "flask-app-dev")


def test_the_hpa_scales_real_pods_up_and_down_on_metrics_servers_numbers(real, work):
    """The resource metrics pipeline, all real: Argo CD synced Metrics Server (addons/) to dev, its
    pod runs on the real node and scrapes the real kubelet, the aggregator serves it through the
    APIService Argo CD synced. Load through the Service (from the node's network, bounded) makes
    the HPA scale the real Deployment up on those numbers; when the load ends it scales down. The
    Application stays Synced throughout (the HPA owns replicas)."""
    dev = real.clusters["dev"]
    api = dev.get("apiservice", "v1beta1.metrics.k8s.io")
    assert api["spec"]["service"] == {"name": "metrics-server", "namespace": "kube-system", "port": 443}
    assert {c["type"]: c["status"] for c in api["status"]["conditions"]}["Available"] == "True"
    assert dev.maybe_get("crd", "pods.metrics.k8s.io") is None, "no imitation of the metrics API"
    addon = real.api.application("metrics-server-dev")
    assert app_state(addon)[:2] == ("Synced", "Healthy")
    assert {(r["kind"], r["name"]) for r in addon["status"]["resources"]} >= {
        ("APIService", "v1beta1.metrics.k8s.io"), ("Deployment", "metrics-server")}  # fmt: skip
    (server,) = dev.get("pods", "-n", "kube-system", "-l", "k8s-app=metrics-server")["items"]
    assert server["spec"]["nodeName"] == node.NODE_NAME, "Metrics Server runs on the real node"
    assert server["status"]["containerStatuses"][0]["ready"] is True
    until(real, "dev's HPA one replica, on valid metrics",
          lambda: hpa(real)["status"].get("currentReplicas") == 1
          and hpa(real)["status"].get("currentMetrics"), 240)  # fmt: skip

    service = dev.get("service", "flask-app", "-n", "flask-app-dev")
    url = f"http://{service['spec']['clusterIP']}:{service['spec']['ports'][0]['port']}/"
    stop = real.state.parent / "load.stop"
    stop.unlink(missing_ok=True)
    load = subprocess.Popen(
        real.node.nsenter(sys.executable, "-m", "harness.testing.load", "--url", url, "--stop", str(stop),
                          "--threads", "6", "--max-seconds", "240"),
        env={**os.environ, "PYTHONPATH": str(ROOT)}, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    states: set[tuple[str, str]] = set()
    started = time.monotonic()
    try:

        def scaled_up():
            states.add(dev_state(real)[:1])
            status = hpa(real)["status"]
            return status.get("currentReplicas", 0) >= 2 and status

        status = until(real, "the HPA scaling dev up under load", scaled_up, 180)
        up_seconds = time.monotonic() - started
        (metric,) = status["currentMetrics"]
        utilization = metric["resource"]["current"]["averageUtilization"]
        measured = dev.kubectl("get", "--raw", "/apis/metrics.k8s.io/v1beta1/namespaces/flask-app-dev/pods").stdout
        until(real, "the scaled-up pods Ready",
              lambda: states.add(dev_state(real)[:1]) or
              dev.get("deployment", "flask-app", "-n", "flask-app-dev")["status"].get("readyReplicas", 0) >= 2,
              120)  # fmt: skip
    finally:
        stop.touch()
        out, err = load.communicate(timeout=30)
    assert load.returncode == 0, err
    report = json.loads(out)
    assert utilization > 50, f"scaled on Metrics Server's numbers above the 50% target: {status}"
    cpu = [c["usage"]["cpu"] for p in json.loads(measured)["items"] for c in p["containers"]]
    assert cpu, measured
    ended = time.monotonic()

    def scaled_down():
        states.add(dev_state(real)[:1])
        return hpa(real)["status"].get("currentReplicas") == 1

    until(real, "the HPA scaling dev back down once the load ended", scaled_down, 300)
    down_seconds = time.monotonic() - ended
    assert states == {("Synced",)}, f"the Application stayed Synced while the HPA scaled: {states}"
    assert report["requests"] > 0
    assert report["ok"] == report["requests"], f"every request under load answered 200: {report}"
    OUTPUTS.append(f"real node, Metrics Server: load of {report['requests']} requests in {report['seconds']} s; the "
                   f"HPA saw {utilization}% of the CPU request (pods used {', '.join(cpu)}) and scaled dev up "
                   f"to {status['currentReplicas']} in {up_seconds:.0f} s, back to 1 in {down_seconds:.0f} s "
                   f"after the load; the Application stayed Synced")  # fmt: skip
