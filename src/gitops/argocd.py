"""A client for the few Argo CD API calls the tool makes (the REST API its UI and CLI use).

The server comes from ``--argocd URL`` (or ``ARGOCD_SERVER``), the bearer token from
``ARGOCD_AUTH_TOKEN`` (the variable the argocd CLI reads too); ``GET /api/v1/session``
style logins are the caller's business. Every failure is one line naming the call.
"""

from __future__ import annotations

import dataclasses
import json
import os
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field

import yaml

from .errors import GitopsError

TOKEN_ENV = "ARGOCD_AUTH_TOKEN"  # noqa: S105 - the name of the variable, not a secret
SERVER_ENV = "ARGOCD_SERVER"


@dataclass(frozen=True)
class Live:
    """What Argo CD reports for one Application now."""

    app: str
    sync: str
    health: str
    revision: str
    images: tuple[str, ...] = ()
    operation: str = ""
    message: str = ""
    conditions: tuple[str, ...] = field(default=())

    @property
    def settled(self) -> bool:
        return self.sync == "Synced" and self.health == "Healthy" and self.operation != "Running"

    def describe(self) -> str:
        revision = self.revision[:12] or "-"
        state = f"{self.sync}/{self.health} at {revision}"
        if self.operation == "Running":
            state += " (sync running)"
        return state


class ArgoAPI:
    def __init__(self, url: str, token: str, timeout: float = 30):
        if not url.startswith(("http://", "https://")):
            raise GitopsError(f"--argocd {url!r}: expected an http(s) URL of the Argo CD API server", 2)
        self.url = url.rstrip("/")
        self.token = token
        self.timeout = timeout

    @classmethod
    def from_env(cls, url: str | None) -> ArgoAPI | None:
        """The API given on the command line or in the environment; None when neither names a server."""
        url = url or os.environ.get(SERVER_ENV)
        if not url:
            return None
        token = os.environ.get(TOKEN_ENV, "")
        if not token:
            raise GitopsError(f"--argocd {url}: set {TOKEN_ENV} to an Argo CD API token", 2)
        return cls(url, token)

    @classmethod
    def login(cls, url: str, username: str, password: str) -> ArgoAPI:
        anonymous = cls(url, "")
        session = anonymous.call("POST", "/api/v1/session", {"username": username, "password": password})
        return cls(url, session["token"])

    def call(self, method: str, path: str, body: dict | None = None) -> dict:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(  # noqa: S310 - the scheme is checked in __init__
            f"{self.url}{path}", data=data, method=method, headers={"Content-Type": "application/json"}
        )
        if self.token:
            request.add_header("Authorization", f"Bearer {self.token}")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310 - checked
                return json.loads(response.read() or b"{}")
        except urllib.error.HTTPError as error:
            detail = error.read().decode(errors="replace").strip().replace("\n", " ")[:200]
            raise GitopsError(f"argocd: {method} {path}: HTTP {error.code}: {detail}", 1) from None
        except (OSError, ValueError) as error:
            raise GitopsError(f"argocd: {method} {self.url}{path}: {error}", 1) from None

    # --- what the commands use --------------------------------------------------------
    def applications(self) -> list[dict]:
        return self.call("GET", "/api/v1/applications").get("items") or []

    def application(self, name: str, refresh: str | None = None) -> dict:
        query = f"?refresh={refresh}" if refresh else ""
        return self.call("GET", f"/api/v1/applications/{urllib.parse.quote(name)}{query}")

    def sync(self, name: str, revision: str | None = None, prune: bool = True) -> dict:
        body: dict = {"prune": prune}
        if revision:
            body["revision"] = revision
        return self.call("POST", f"/api/v1/applications/{urllib.parse.quote(name)}/sync", body)

    def live(self, name: str) -> Live | None:
        """Application ``name`` as Argo CD reports it, or None when it does not exist."""
        try:
            app = self.application(name)
        except GitopsError as error:
            if "HTTP 404" in str(error) or "HTTP 403" in str(error):
                return None
            raise
        live = live_of(app)
        if not live.images:
            live = dataclasses.replace(live, images=self.running_images(name))
        return live

    def running_images(self, name: str) -> tuple[str, ...]:
        """The images of the Application's running pods, from its resource tree (what the UI shows)."""
        tree = self.call("GET", f"/api/v1/applications/{urllib.parse.quote(name)}/resource-tree")
        found: list[str] = []
        for node in tree.get("nodes") or []:
            if node.get("kind") == "Pod":
                found += [i for i in node.get("images") or [] if i not in found]
        return tuple(found)

    def deployed_images(self, name: str, revision: str) -> set[str]:
        """The container images of the Deployments Argo CD renders for ``name`` at ``revision``."""
        query = urllib.parse.urlencode({"revision": revision})
        manifests = self.call("GET", f"/api/v1/applications/{urllib.parse.quote(name)}/manifests?{query}")
        images = set()
        for text in manifests.get("manifests") or []:
            doc = yaml.safe_load(text) if isinstance(text, str) else text
            if isinstance(doc, dict) and doc.get("kind") == "Deployment":
                for container in doc["spec"]["template"]["spec"].get("containers") or []:
                    images.add(container.get("image", ""))
        return images


def live_of(app: dict) -> Live:
    status = app.get("status") or {}
    sync = status.get("sync") or {}
    operation = status.get("operationState") or {}
    return Live(
        app=app["metadata"]["name"],
        sync=sync.get("status", "Unknown"),
        health=(status.get("health") or {}).get("status", "Unknown"),
        revision=sync.get("revision", ""),
        images=tuple((status.get("summary") or {}).get("images") or ()),
        operation=operation.get("phase", ""),
        message=operation.get("message", ""),
        conditions=tuple(c.get("type", "") for c in status.get("conditions") or []),
    )
