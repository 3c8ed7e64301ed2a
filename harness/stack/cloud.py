"""What a cloud provides that the local clusters lack: resource metrics and load balancers.

**Resource metrics**, where metrics-server cannot run (there are no kubelets).

An HorizontalPodAutoscaler reads ``metrics.k8s.io/v1beta1`` PodMetrics; without them its
``ScalingActive`` condition turns ``FailedGetResourceMetric`` and Argo CD (rightly) calls
it Degraded. Here that API is a CustomResourceDefinition (the group is a protected
``*.k8s.io`` one, hence the approval annotation), and this loop keeps one PodMetrics per
running pod, with the pod's labels and a CPU use of ``UTILIZATION`` of each container's
request, so the HPA computes, holds its replicas, and reports ``ValidMetricFound``: the
same state as on a real, quiet cluster.

**Load balancers**: a Service of type LoadBalancer gets an address in its status, as a
cloud controller would give it (a hostname under ``.invalid``: nothing is ever sent
there), so Argo CD can call it Healthy instead of Progressing for ever.

Scaffolding for the local stack only, like kwok's nodes.

    python -m harness.stack.cloud --kubeconfig FILE [--kubeconfig FILE ...]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import signal
import ssl
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from harness.stack import http

UTILIZATION = 0.3
GROUP = "metrics.k8s.io"
CRD = {
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "metadata": {
        "name": f"pods.{GROUP}",
        "annotations": {"api-approved.kubernetes.io": "unapproved, local test clusters only (flask-gitops)"},
    },
    "spec": {
        "group": GROUP,
        "scope": "Namespaced",
        "names": {"plural": "pods", "singular": "podmetrics", "kind": "PodMetrics", "listKind": "PodMetricsList"},
        "versions": [
            {
                "name": "v1beta1",
                "served": True,
                "storage": True,
                "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}},
            }
        ],
    },
}


def _millicores(value: str) -> float:
    if value.endswith("m"):
        return float(value[:-1])
    return float(value) * 1000


class Api:
    def __init__(self, kubeconfig: Path):
        config = json.loads(kubeconfig.read_text())
        self.server = config["clusters"][0]["cluster"]["server"]
        user = config["users"][0]["user"]
        self.context = ssl.create_default_context(cafile=config["clusters"][0]["cluster"]["certificate-authority"])
        self.context.load_cert_chain(user["client-certificate"], user["client-key"])

    def call(self, method: str, path: str, body: dict | None = None) -> dict:
        return http.json_call(method, self.server + path, body, context=self.context)


def podmetrics(pod: dict, now: str) -> dict | None:
    containers = []
    for container in pod["spec"]["containers"]:
        requests = (container.get("resources") or {}).get("requests") or {}
        cpu = _millicores(requests["cpu"]) * UTILIZATION if "cpu" in requests else 1.0
        containers.append({"name": container["name"], "usage": {"cpu": f"{max(int(cpu), 1)}m", "memory": "64Mi"}})
    meta = pod["metadata"]
    return {
        "apiVersion": f"{GROUP}/v1beta1",
        "kind": "PodMetrics",
        "metadata": {"name": meta["name"], "namespace": meta["namespace"], "labels": meta.get("labels") or {}},
        "timestamp": now,
        # The HPA counts a new pod only once a sample's window starts after the pod became
        # ready; metrics-server's ~15-30 s window keeps every HPA Degraded in Argo CD for that
        # long after each rollout. kwok's pods are ready at once: a 1 s window.
        "window": "1s",
        "containers": containers,
    }


def sync_once(api: Api) -> None:
    pods = api.call("GET", "/api/v1/pods")["items"]
    running = {
        (p["metadata"]["namespace"], p["metadata"]["name"]): p
        for p in pods
        if p.get("status", {}).get("phase") == "Running" and not p["metadata"].get("deletionTimestamp")
    }
    existing = {
        (m["metadata"]["namespace"], m["metadata"]["name"])
        for m in api.call("GET", f"/apis/{GROUP}/v1beta1/pods")["items"]
    }
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    for (namespace, name), pod in running.items():
        body = podmetrics(pod, now)
        path = f"/apis/{GROUP}/v1beta1/namespaces/{namespace}/pods"
        if (namespace, name) in existing:
            current = api.call("GET", f"{path}/{name}")
            body["metadata"]["resourceVersion"] = current["metadata"]["resourceVersion"]
            api.call("PUT", f"{path}/{name}", body)
        else:
            api.call("POST", path, body)
    for namespace, name in existing - running.keys():
        with contextlib.suppress(http.HTTPError):
            api.call("DELETE", f"/apis/{GROUP}/v1beta1/namespaces/{namespace}/pods/{name}")


def load_balancers(api: Api) -> None:
    for service in api.call("GET", "/api/v1/services")["items"]:
        if service["spec"].get("type") != "LoadBalancer":
            continue
        if ((service.get("status") or {}).get("loadBalancer") or {}).get("ingress"):
            continue
        meta = service["metadata"]
        hostname = f"{meta['name']}.{meta['namespace']}.lb.invalid"
        service["status"] = {"loadBalancer": {"ingress": [{"hostname": hostname}]}}
        api.call("PUT", f"/api/v1/namespaces/{meta['namespace']}/services/{meta['name']}/status", service)


def install(api: Api) -> None:
    with contextlib.suppress(http.HTTPError):
        api.call("POST", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions", CRD)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="harness.stack.cloud", description=__doc__.split("\n\n")[0])
    parser.add_argument("--kubeconfig", action="append", type=Path, required=True)
    parser.add_argument("--interval", type=float, default=2.0)
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    apis = [Api(path) for path in args.kubeconfig]
    for api in apis:
        install(api)
    while True:
        for api in apis:
            try:
                sync_once(api)
                load_balancers(api)
            except (OSError, http.HTTPError, KeyError, ValueError) as error:
                print(f"cloud: {api.server}: {error}", file=sys.stderr, flush=True)
        time.sleep(args.interval)


if __name__ == "__main__":
    raise SystemExit(main())
