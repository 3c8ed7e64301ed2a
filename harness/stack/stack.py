"""The whole GitOps loop on one machine: clusters, Argo CD, a git remote, bootstrapped.

Used by `make up` / `make down`, by the e2e tests and by the benchmarks alike:

    stack = Stack.up(state_dir, root)      # progress lines while it starts
    ...
    stack.down()                           # or Stack.down_state(state_dir) from elsewhere

One API server per folder in ``clusters/`` (prod-eu and prod-us hold the same namespace,
so they cannot share one), Argo CD in its own namespace on the first environment's
cluster, and the bootstrap exactly as the README says: ``kubectl apply -k argocd/`` in a
checkout configured by ``gitops configure --repo-url``.
"""

from __future__ import annotations

import json
import secrets
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import yaml

from gitops.argocd_api import ArgoAPI
from gitops.errors import GitopsError
from gitops.repo import Repo
from harness.stack import argocd_procs, gitremote, gitserver, image, kube, node, release
from harness.stack.procs import Supervisor, free_port, write_private

REPO_NAME = "flask-gitops.git"
SPARE = "spare"


def cluster_configs(root: Path) -> list[dict]:
    configs = []
    for path in sorted((root / "clusters").glob("*/config.yaml")):
        data = yaml.safe_load(path.read_text())
        configs.append({**data, "folder": path.parent.name})
    return configs


def app_state(app: dict) -> tuple[str, str, str]:
    status = app.get("status") or {}
    return (
        (status.get("sync") or {}).get("status", "Unknown"),
        (status.get("health") or {}).get("status", "Unknown"),
        (status.get("sync") or {}).get("revision", ""),
    )


SYNC_NAMESPACE = "flask-gitops-sync"  # argocd/destinations/: the service account Argo CD syncs as


@dataclass
class Stack:
    state: Path
    root: Path
    procs: Supervisor
    plane: kube.ControlPlane
    argo: argocd_procs.ArgoCD
    bare: Path
    repo_url: str
    password: str  # admin's, for the UI
    api: ArgoAPI  # an admin session (the harness applies and syncs)
    reader_token: str = ""  # what `make up` prints for `gitops`: get on applications and applicationsets only
    release: dict | None = None  # the sandbox's release (stack/release.py): tag and digest
    node: node.RealNode | None = None  # the real node (node.py), when asked for

    @property
    def clusters(self) -> dict[str, kube.Cluster]:
        return self.plane.clusters

    @property
    def host(self) -> kube.Cluster:
        return self.argo.host

    @classmethod
    def up(cls, state: Path, root: Path, cache: Path, tools_bin: Path, pins: dict[str, str], log=print,
           worktree: bool = False, tied: bool = False, spare: bool = False,
           real_node: bool = False) -> Stack:  # fmt: skip
        """Start everything; the remote's main is ``root``'s HEAD, or (``worktree``) its working tree.
        ``tied``: every process dies with this one, even if it is killed (tests and benchmarks).
        ``real_node``: the first environment's first cluster runs its pods on a real node
        (node.py; as root), with the service's image built from the Dockerfile (image.py)."""
        state.mkdir(parents=True, mode=0o700)
        state.chmod(0o700)  # whatever the umask: it holds keys, passwords and tokens
        procs = Supervisor(state, tied=tied)
        try:
            return cls._up(state, root, cache, tools_bin, pins, procs, log, worktree, spare, real_node)
        except BaseException:
            procs.stop()
            raise

    @classmethod
    def _up(cls, state, root, cache, tools_bin, pins, procs, log, worktree, spare=False, real_node=False) -> Stack:
        started = time.monotonic()

        def step(what: str) -> None:
            log(f"up: {what} ({time.monotonic() - started:.0f}s)")

        configs = cluster_configs(root)
        environments = Repo.load(root).environments
        order = sorted(configs, key=lambda c: (environments.index(c["environment"]), c["cluster"]["name"]))
        names = [c["cluster"]["name"] for c in order]
        step(f"starting {len(names)} Kubernetes API servers ({', '.join(names)}) on one etcd")
        # "spare": an API server no cluster folder uses, for tests and benchmarks that add a
        # cluster folder (its cluster-scoped objects would collide on a used one).
        plane = kube.ControlPlane(
            procs,
            kube.binaries(cache, pins),
            [*names, SPARE] if spare else names,
            names[0] if real_node else None,
            kube.metrics_server(cache, pins),
        )
        plane.start()
        real = None
        revision = gitremote.worktree_commit(root) if worktree else "HEAD"
        if real_node:
            step(f"building the service's image from the Dockerfile and starting a real node for {names[0]}")
            archive, digest = image.service(root, cache, state / "images", release.TAG, revision)
            real = node.RealNode(procs, plane.clusters[names[0]], node.binaries(cache, pins), plane.pki)
            # Metrics Server runs there as the pod Argo CD syncs (addons/metrics-server), from an
            # image of the pinned binary under the name that Deployment asks for (GO164's).
            repo = Repo.load(root)
            (addon,) = [a for a in repo.addons if a.name == "metrics-server"]
            metrics = image.binary_image(cache, state / "images", kube.metrics_server(cache, pins),
                                         f"{addon.mirror(repo.image)}:{addon.version}")  # fmt: skip
            real.start([image.pause(cache, state / "images"), archive, metrics])
        procs.spawn(
            "cloud",
            [
                sys.executable,
                "-m",
                "harness.stack.cloud",
                *(f"--kubeconfig={c.kubeconfig}" for c in plane.clusters.values()),
            ],
        )
        step("starting the git server and Argo CD " + pins["ARGOCD_VERSION"])
        git_root = state / "git"
        git_root.mkdir()
        ready = state / "gitserver.port"
        git_password = secrets.token_urlsafe(24)
        write_private(state / "git-password", git_password + "\n")
        procs.spawn(
            "gitserver",
            [sys.executable, "-m", "harness.stack.gitserver", "--root", str(git_root), "--port", "0",
             "--ready-file", str(ready), "--password-file", str(state / "git-password")],
        )  # fmt: skip
        host = plane.clusters[names[0]]
        argo = argocd_procs.ArgoCD(
            procs,
            argocd_procs.binary(cache, pins["ARGOCD_VERSION"]),
            argocd_procs.module_dir(pins["ARGOCD_VERSION"], pins["ARGOCD_GOTOOLCHAIN"]),
            host,
        )
        settings = yaml.safe_load((root / "argocd" / "settings" / "argocd-cm.yaml").read_text())["data"]
        argo.install([plane.clusters[name] for name in names], tools_bin, settings)
        argo.start()
        port = int(procs.until("git server port", lambda: ready.exists() and ready.read_text().strip(), 30))
        repo_url = f"http://127.0.0.1:{port}/{REPO_NAME}"
        bare = git_root / REPO_NAME
        host.apply_json(argo.repository_secret(repo_url, gitserver.REMOTE_USER, git_password))
        step(f"seeding the local git remote {repo_url} from {root}")
        gitremote.create(bare, root, repo_url, [f"{argo.url}/api/webhook", argo.appset_webhook], revision)
        password = argo.admin_password()
        api = ArgoAPI.login(argo.url, "admin", password)
        stack = cls(state, root, procs, plane, argo, bare, repo_url, password, api, argocd_procs.reader_token(api))
        stack.node = real
        if real:
            stack.release = {"tag": release.TAG, "digest": digest}
            step(f"deploying the release to {names[0]} as CI's bump does: gitops set-image --env "
                 f"{environments[0]} --tag {release.TAG} --digest {digest[:19]}...")  # fmt: skip
            stack.bump(environments[0], release.TAG, digest)
        else:
            stack.release = {"tag": release.TAG, "digest": release.build(root, state / "oci")}
        step("bootstrapping: gitops configure --repo-url, kubectl apply -k argocd/projects/, then -k argocd/")
        stack.bootstrap()
        write_private(state / "stack.json", json.dumps(stack.describe(), indent=1))
        step("waiting for every Application to settle")
        stack.wait_settled(on_healthy=lambda name: step(f"{name} Synced + Healthy"))
        step("ready")
        return stack

    def _checkout(self) -> Path:
        """A fresh checkout of what Argo CD reads (deploy/local: main, configured for this remote)."""
        checkout = self.state / "bootstrap"
        if checkout.exists():
            shutil.rmtree(checkout)
        gitremote._git("clone", "--quiet", str(self.bare), str(checkout))
        return checkout

    def bootstrap(self) -> None:
        """The README's bootstrap: on every workload cluster the identity Argo CD syncs as, the
        AppProjects (an admin's steps), then the root objects."""
        checkout = self._checkout()
        for cluster in self.clusters.values():
            namespace = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": SYNC_NAMESPACE}}
            cluster.apply_json(namespace)
            cluster.kubectl("apply", "-k", str(checkout / "argocd" / "destinations"))
        self.host.kubectl("apply", "-k", str(checkout / "argocd" / "projects"))
        self.host.kubectl("apply", "-k", str(checkout / "argocd"))

    def bump(self, environment: str, tag: str, digest: str) -> str:
        """Set ``environment``'s image in the remote's main (what CI's bump step pushes)."""
        checkout = self.state / "bump"
        shutil.rmtree(checkout, ignore_errors=True)
        gitremote._git("clone", "--quiet", "--branch", "main", str(self.bare), str(checkout))
        subprocess.run([sys.executable, "-m", "gitops", "set-image", "--env", environment, "--tag", tag,
                        "--digest", digest], cwd=checkout, check=True, capture_output=True)  # fmt: skip
        return push(checkout, self.bare, f"chore({environment}): deploy {tag}")

    def apply_projects(self) -> None:
        """What an admin does after a reviewed change to argocd/projects/: apply it (Argo CD never does)."""
        self.host.kubectl("apply", "-k", str(self._checkout() / "argocd" / "projects"))

    def describe(self) -> dict:
        return {
            "ui": self.argo.url,
            "username": "admin",
            "password": self.password,
            "token": self.reader_token,  # read-only: get on applications and applicationsets
            "release": self.release,
            "node": {"cluster": self.node.cluster.name, "pid": self.node.pid} if self.node else None,
            "repo_url": self.repo_url,
            "remote_path": str(self.bare),
            "clusters": {
                name: {"server": c.server, "kubeconfig": str(c.kubeconfig)} for name, c in self.clusters.items()
            },
            "argocd_host": self.host.name,
        }

    def register_cluster(self, name: str, on: str) -> None:
        """Register one more Argo CD cluster ``name``, served by the API server of cluster ``on``
        (reached as https://localhost:PORT, so Argo CD sees a cluster of its own)."""
        server = f"https://localhost:{self.clusters[on].port}"
        self.host.apply_json(self.argo.cluster_secret(name, server))

    # --- reading Argo CD -----------------------------------------------------------
    def apps(self) -> dict[str, dict]:
        return {a["metadata"]["name"]: a for a in self.api.applications()}

    def expected_apps(self) -> dict[str, dict]:
        """Each cluster's app, and its add-ons (addons/, synced on every cluster)."""
        configs = cluster_configs(self.root)
        apps = {f"flask-app-{c['cluster']['name']}": c for c in configs}
        addons = {
            addon.application(c["cluster"]["name"]): {**c, "autoSync": True}
            for addon in Repo.load(self.root).addons
            for c in configs
        }
        return {**addons, **apps}

    def wait_settled(self, timeout: float = 300, on_healthy=lambda name: None) -> dict[str, dict]:
        """Until root is Synced+Healthy, every cluster has its Application, auto-sync ones are
        Synced+Healthy and the others have been compared (OutOfSync until someone syncs).
        ``on_healthy(name)`` is called once as each Application first is Synced + Healthy."""
        expected = self.expected_apps()
        seen: list[str] = []
        healthy: set[str] = set()

        def settled():
            apps = self.apps()
            seen[:] = [f"{name} {'/'.join(app_state(a)[:2])}" for name, a in sorted(apps.items())]
            for name, app in sorted(apps.items()):
                if name not in healthy and app_state(app)[:2] == ("Synced", "Healthy"):
                    healthy.add(name)
                    on_healthy(name)
            root = apps.get("flask-gitops-root")
            if not root or app_state(root)[:2] != ("Synced", "Healthy"):
                return False
            for name, config in expected.items():
                app = apps.get(name)
                if not app:
                    return False
                sync, health, _ = app_state(app)
                if config.get("autoSync") is True and (sync, health) != ("Synced", "Healthy"):
                    return False
                if sync == "Unknown":
                    return False
            return apps

        try:
            return self.procs.until("every Application settled", settled, timeout, interval=1)
        except TimeoutError:
            raise TimeoutError(f"Applications not settled after {timeout:.0f}s: {', '.join(seen) or 'none'}") from None

    def wait_app(self, name: str, want, timeout: float = 180) -> dict:
        """Until ``want(app)`` holds for Application ``name`` (read through Argo CD's API)."""

        def check():
            try:
                app = self.api.application(name)
            except GitopsError:
                return False
            return app if want(app) else False

        return self.procs.until(f"Application {name}", check, timeout, interval=0.5)

    # --- stopping -------------------------------------------------------------------
    def down(self) -> None:
        self.down_state(self.state)

    @staticmethod
    def down_state(state: Path) -> int:
        stopped = Supervisor.stop_recorded(state)
        node.RealNode.wait_janitor(state)
        shutil.rmtree(state, ignore_errors=True)
        return stopped


def push(workdir: Path, bare: Path, message: str) -> str:
    """Commit everything in ``workdir`` (a clone of main) and push it to the remote's main."""
    gitremote._git("add", "-A", cwd=workdir)
    gitremote._git("-c", "user.name=e2e", "-c", "user.email=e2e@flask-gitops.invalid",
                   "commit", "--quiet", "-m", message, cwd=workdir)  # fmt: skip
    subprocess.run(["git", "push", "--quiet", str(bare), "HEAD:main"], cwd=workdir, check=True, capture_output=True)
    return gitremote._git("rev-parse", "HEAD", cwd=workdir)


__all__ = ["Stack", "app_state", "cluster_configs", "free_port", "push"]
