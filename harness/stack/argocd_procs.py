"""Argo CD out of cluster, the way its own Procfile runs it for development and e2e tests.

One multi-call binary (tools/build-argocd.sh) started under the component names
argocd-repo-server, argocd-application-controller, argocd-applicationset-controller and
argocd-server, with ``ARGOCD_FAKE_IN_CLUSTER=true`` and the host cluster's kubeconfig;
Redis from Debian, behind a password. Every listener is on 127.0.0.1 except the two that
cannot be told so: the metrics ports of the application controller (v3.6.1 binds it to
0.0.0.0 in controller/appcontroller.go, with no flag or variable) and of the notifications
controller.
The repo server finds ``git-verify-wrapper.sh`` and ``gpg-wrapper.sh`` in the pinned
module's ``hack/`` folder, in the Go module cache.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from harness.stack import http
from harness.stack.kube import Cluster
from harness.stack.procs import Supervisor, free_port, write_private

NAMESPACE = "argocd"
# The read-only account whose token `make up` prints for `gitops status`, `promote` and the
# gate: `get` on Applications and ApplicationSets, nothing else (the admin password is for
# the UI only).
READER = "gitops-reader"


def module_dir(version: str, toolchain: str) -> Path:
    """The pinned Argo CD module in the Go module cache (downloaded by `make e2e-tools`)."""
    result = subprocess.run(
        ["go", "mod", "download", "-json", f"github.com/argoproj/argo-cd/v3@{version}"],
        capture_output=True,
        text=True,
        env={**os.environ, "GOTOOLCHAIN": toolchain, "GOFLAGS": "-mod=mod"},
        check=False,
        timeout=300,
    )
    info = json.loads(result.stdout or "{}")
    if not info.get("Dir"):
        raise RuntimeError(f"argo-cd module {version}: {info.get('Error') or result.stderr.strip()}")
    return Path(info["Dir"])


def binary(cache: Path, version: str) -> Path:
    folder = cache / "argocd" / version / "bin"
    if not (folder / ".complete").is_file():
        raise RuntimeError(f"{folder}: Argo CD {version} is not built: run 'make e2e-tools'")
    return folder


@dataclass
class ArgoCD:
    procs: Supervisor
    bin: Path
    module: Path
    host: Cluster
    ports: dict[str, int] = field(default_factory=dict)
    redis_password: str = field(default_factory=lambda: secrets.token_urlsafe(24))

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.ports['server']}"

    @property
    def appset_webhook(self) -> str:
        return f"http://127.0.0.1:{self.ports['appset-webhook']}/api/webhook"

    def install(self, clusters: list[Cluster], tools_bin: Path, settings: dict[str, str]) -> None:
        """CRDs, the namespace, Argo CD's config maps and secret, and one cluster secret per cluster.
        ``settings``: the repository's argocd-cm keys (argocd/settings/), merged into the stack's."""
        self.tools_bin = tools_bin
        host = self.host
        host.kubectl("apply", "--server-side", "-k", str(self.module / "manifests" / "crds"))
        host.apply_json({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}})
        host.kubectl(
            "apply", "--server-side", "-n", NAMESPACE, "-k", str(self.module / "manifests" / "base" / "config")
        )
        listeners = ("redis", "repo", "repo-metrics", "server", "server-metrics", "controller-metrics")
        listeners += ("appset-metrics", "appset-probe", "appset-webhook")
        self.ports = {name: free_port() for name in listeners}
        host.apply_json(
            *(self.cluster_secret(cluster.name, cluster.server) for cluster in clusters),
            {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {"name": "argocd-cm", "namespace": NAMESPACE},
                # A local loop: compare with Git every minute (default 3), besides the push webhooks.
                "data": {
                    "url": self.url,
                    "admin.enabled": "true",
                    "timeout.reconciliation": "60s",
                    # The account `gitops` reads with: an API key, no login, read-only (below).
                    f"accounts.{READER}": "apiKey",
                    **settings,
                },
            },
            {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {"name": "argocd-rbac-cm", "namespace": NAMESPACE},
                "data": {
                    "policy.default": "",
                    "policy.csv": (
                        f"p, role:{READER}, applications, get, */*, allow\n"
                        f"p, role:{READER}, applicationsets, get, */*, allow\n"
                        f"g, {READER}, role:{READER}\n"
                    ),
                },
            },
        )

    def cluster_secret(self, name: str, server: str) -> dict:
        """Argo CD's declarative cluster registration (what `argocd cluster add --name` writes)."""
        pki = self.procs.state / "pki"
        tls = {
            "caData": base64.b64encode((pki / "ca.crt").read_bytes()).decode(),
            "certData": base64.b64encode((pki / "admin.crt").read_bytes()).decode(),
            "keyData": base64.b64encode((pki / "admin.key").read_bytes()).decode(),
        }
        return {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {
                "name": f"cluster-{name}",
                "namespace": NAMESPACE,
                "labels": {"argocd.argoproj.io/secret-type": "cluster"},
            },
            "stringData": {"name": name, "server": server, "config": json.dumps({"tlsClientConfig": tls})},
        }

    def repository_secret(self, url: str, username: str, password: str) -> dict:
        """Argo CD's declarative repository credentials (what `argocd repo add` writes)."""
        return {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {
                "name": "repo-local",
                "namespace": NAMESPACE,
                "labels": {"argocd.argoproj.io/secret-type": "repository"},
            },
            "stringData": {"type": "git", "url": url, "username": username, "password": password},
        }

    def _env(self) -> dict[str, str]:
        state = self.procs.state / "argocd"
        for sub in ("tls", "ssh", "gpg/keys", "gpg/source", "tmp"):
            (state / sub).mkdir(parents=True, exist_ok=True)
        (state / "gitconfig").write_text("[safe]\n\tdirectory = *\n")
        # The repo server runs these two on every manifest generation. The module cache
        # keeps no execute bits, so each is run through sh from where it lies there.
        wrappers = state / "bin"
        wrappers.mkdir(exist_ok=True)
        for name in ("git-verify-wrapper.sh", "gpg-wrapper.sh"):
            script = self.module / "hack" / name
            if not script.is_file():
                raise RuntimeError(f"{script}: missing from the Argo CD module")
            (wrappers / name).write_text(f'#!/bin/sh\nexec sh "{script}" "$@"\n')
            (wrappers / name).chmod(0o755)
        path = os.pathsep.join([str(self.bin), str(wrappers), str(self.tools_bin), os.environ["PATH"]])
        return {
            "KUBECONFIG": str(self.host.kubeconfig),
            "ARGOCD_FAKE_IN_CLUSTER": "true",
            "ARGOCD_TLS_DATA_PATH": str(state / "tls"),
            "ARGOCD_SSH_DATA_PATH": str(state / "ssh"),
            "ARGOCD_GNUPGHOME": str(state / "gpg" / "keys"),
            "ARGOCD_GPG_DATA_PATH": str(state / "gpg" / "source"),
            "ARGOCD_GPG_ENABLED": "false",
            "GIT_CONFIG_GLOBAL": str(state / "gitconfig"),
            "GIT_CONFIG_NOSYSTEM": "1",
            "TMPDIR": str(state / "tmp"),
            "PATH": path,
            "HOSTNAME": "argocd-application-controller-0",
            "REDIS_PASSWORD": self.redis_password,
            # The repo server hands git its credentials through this socket (its default is
            # one path in /tmp for every Argo CD on the machine: two stacks would answer each
            # other's git): inside the private state folder.
            "ARGOCD_ASK_PASS_SOCK": str(state / "ask-pass.sock"),
        }

    def start(self, timeout: float = 120) -> None:
        if not shutil.which("redis-server"):
            raise RuntimeError("redis-server is not installed: run 'make e2e-tools'")
        env = self._env()
        p = self.ports
        redis = f"127.0.0.1:{p['redis']}"
        repo = f"127.0.0.1:{p['repo']}"
        # Redis asks for a password (Argo CD's cache holds manifests and tokens' sessions): it
        # lives in a 0600 file and the components' environment, never on a command line.
        config = self.procs.state / "argocd" / "redis.conf"
        write_private(
            config,
            f'bind 127.0.0.1\nport {p["redis"]}\nsave ""\nappendonly no\nrequirepass {self.redis_password}\n',
        )
        self.procs.spawn("redis", ["redis-server", str(config)])
        common = ["--loglevel", "info", "--logformat", "json", "--redis", redis]
        self.procs.spawn(
            "argocd-repo-server",
            [str(self.bin / "argocd-repo-server"), *common, "--address", "127.0.0.1", "--port", str(p["repo"]),
             "--metrics-address", "127.0.0.1", "--metrics-port", str(p["repo-metrics"]),
             "--disable-tls", "--client-ca-path", ""],
            env=env,
        )  # fmt: skip
        self.procs.spawn(
            "argocd-server",
            [str(self.bin / "argocd-server"), *common, "--namespace", NAMESPACE, "--insecure",
             "--address", "127.0.0.1", "--port", str(p["server"]),
             "--metrics-address", "127.0.0.1", "--metrics-port", str(p["server-metrics"]),
             "--repo-server", repo, "--repo-server-plaintext", "--dex-server", ""],
            env=env,
        )  # fmt: skip
        self.procs.until("argocd-server answers", self._server_up, timeout, log="argocd-server")
        # The server writes server.secretkey (and the initial admin password) on its first
        # start; the controllers need that settings secret complete.
        self.procs.until("argocd-secret initialised", self._secret_ready, timeout, log="argocd-server")
        self.procs.spawn(
            "argocd-application-controller",
            [str(self.bin / "argocd-application-controller"), *common, "--namespace", NAMESPACE,
             "--repo-server", repo, "--repo-server-plaintext", "--metrics-port", str(p["controller-metrics"]),
             "--status-processors", "4", "--operation-processors", "2", "--self-heal-timeout-seconds", "2"],
            env=env,
        )  # fmt: skip
        self.procs.spawn(
            "argocd-applicationset-controller",
            [str(self.bin / "argocd-applicationset-controller"), "--loglevel", "info", "--logformat", "json",
             "--namespace", NAMESPACE, "--argocd-repo-server", repo, "--repo-server-plaintext",
             "--metrics-addr", f"127.0.0.1:{p['appset-metrics']}", "--probe-addr", f"127.0.0.1:{p['appset-probe']}",
             "--webhook-addr", f"127.0.0.1:{p['appset-webhook']}", "--enable-policy-override",
             # No SCM-provider or pull-request generator reaches out with Argo CD's tokens.
             "--enable-scm-providers=false"],
            env=env,
        )  # fmt: skip

    def start_notifications(self, sample: Path, receiver: str, timeout: float = 60) -> None:
        """The notifications controller with the repository's sample configuration, its one
        outside address (the GitHub dispatch URL) pointed at ``receiver``, a local listener."""
        import yaml

        config = yaml.safe_load(sample.read_text())
        data = config["data"]
        service = yaml.safe_load(data["service.webhook.github-dispatch"])
        service["url"] = receiver
        data["service.webhook.github-dispatch"] = yaml.safe_dump(service, sort_keys=False)
        data.pop("service.slack", None)  # nowhere to send it here
        config["metadata"]["namespace"] = NAMESPACE
        secret = {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "argocd-notifications-secret", "namespace": NAMESPACE},
            "stringData": {"github-dispatch-token": "local-stack-token"},
        }
        self.host.apply_json(config, secret)
        self.procs.spawn(
            "argocd-notifications",
            [str(self.bin / "argocd-notifications"), "--loglevel", "info", "--logformat", "json",
             "--namespace", NAMESPACE, "--argocd-repo-server", f"127.0.0.1:{self.ports['repo']}",
             "--argocd-repo-server-plaintext", "--metrics-port", str(free_port())],
            env=self._env(),
        )  # fmt: skip

    def _secret_ready(self) -> bool:
        secret = self.host.maybe_get("secret", "argocd-secret", "-n", NAMESPACE) or {}
        return "server.secretkey" in (secret.get("data") or {})

    def _server_up(self) -> bool:
        return http.answers(f"{self.url}/healthz")

    def admin_password(self) -> str:
        secret = self.host.maybe_get("secret", "argocd-initial-admin-secret", "-n", NAMESPACE)
        if not secret:
            raise RuntimeError("argocd-server did not create argocd-initial-admin-secret")
        return base64.b64decode(secret["data"]["password"]).decode()


def reader_token(api, hours: int = 24) -> str:
    """A token of the read-only account (READER), made with the admin session ``api``."""
    answer = api.call("POST", f"/api/v1/account/{READER}/token", {"name": READER, "expiresIn": hours * 3600})
    token = answer.get("token")
    if not isinstance(token, str) or not token:
        raise RuntimeError(f"Argo CD made no token for the account {READER}")
    return token
