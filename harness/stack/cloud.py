"""What a cloud provides that the local clusters lack: load balancers.

A Service of type LoadBalancer gets an address in its status, as a cloud controller would
give it (a hostname under ``.invalid``: nothing is ever sent there), so Argo CD can call it
Healthy instead of Progressing for ever.

Resource metrics are not imitated: the real Metrics Server serves them (addons/, kube.py).
Scaffolding for the local stack only, like kwok's nodes.

    python -m harness.stack.cloud --kubeconfig FILE [--kubeconfig FILE ...]
"""

from __future__ import annotations

import argparse
import json
import signal
import ssl
import sys
import time
from pathlib import Path

from harness.stack import http


class Api:
    def __init__(self, kubeconfig: Path):
        config = json.loads(kubeconfig.read_text())
        self.server = config["clusters"][0]["cluster"]["server"]
        user = config["users"][0]["user"]
        self.context = ssl.create_default_context(cafile=config["clusters"][0]["cluster"]["certificate-authority"])
        self.context.load_cert_chain(user["client-certificate"], user["client-key"])

    def call(self, method: str, path: str, body: dict | None = None) -> dict:
        return http.json_call(method, self.server + path, body, context=self.context)


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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="harness.stack.cloud", description=__doc__.split("\n\n")[0])
    parser.add_argument("--kubeconfig", action="append", type=Path, required=True)
    parser.add_argument("--interval", type=float, default=2.0)
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    apis = [Api(path) for path in args.kubeconfig]
    while True:
        for api in apis:
            try:
                load_balancers(api)
            except (OSError, http.HTTPError, KeyError, ValueError) as error:
                print(f"cloud: {api.server}: {error}", file=sys.stderr, flush=True)
        time.sleep(args.interval)


if __name__ == "__main__":
    raise SystemExit(main())
