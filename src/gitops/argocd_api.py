"""A client for the few Argo CD API calls the tool makes (the REST API its UI and CLI use).

The server comes from ``--argocd URL`` (or ``ARGOCD_SERVER``), the bearer token from
``ARGOCD_AUTH_TOKEN`` (the variable the argocd CLI reads too); ``GET /api/v1/session``
style logins are the caller's business. Every failure is one line naming the call.
"""

from __future__ import annotations

import dataclasses
import http.client
import json
import os
import time
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
    messages: tuple[str, ...] = field(default=())  # what Argo CD says is wrong: health message, conditions
    reasons: tuple[str, ...] = field(default=())  # the resources of its tree that are not healthy, and why

    @property
    def settled(self) -> bool:
        return self.sync == "Synced" and self.health == "Healthy" and self.operation != "Running"

    def describe(self) -> str:
        revision = self.revision[:12] or "-"
        state = f"{self.sync}/{self.health} at {revision}"
        if self.operation == "Running":
            state += " (sync running)"
        return state


LOOPBACK = {"127.0.0.1", "localhost", "::1"}
MAX_RESPONSE = 16 << 20  # bytes: more than any Application list this tool reads


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """A redirect would carry the bearer token to wherever it points: refuse it."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        raise urllib.error.HTTPError(
            req.full_url, code, "redirect refused (the token stays with its server)", headers, fp
        )


_OPENER = urllib.request.build_opener(_NoRedirects)


def _checked_url(url: str, source: str = "--argocd") -> tuple[str, str]:
    """The base URL and its host for messages; https, or http on this machine only; no credentials in it.

    ``source`` is where the URL came from (``--argocd`` or ``ARGOCD_SERVER``), for the messages.
    """
    try:
        parts = urllib.parse.urlsplit(url)
        host = parts.hostname or ""
        port = parts.port
    except ValueError:
        raise GitopsError(f"{source}: not a URL", 2) from None
    if parts.username is not None or parts.password is not None:
        raise GitopsError(f"{source}: put no credentials in the URL (the token comes from {TOKEN_ENV})", 2)
    if parts.scheme not in ("http", "https") or not host:
        raise GitopsError(f"{source} {parts.scheme}://{host}: expected the https URL of the Argo CD API server", 2)
    if parts.scheme == "http" and host not in LOOPBACK:
        raise GitopsError(f"{source} http://{host}: plain http only on this machine; use https", 2)
    where = f"{host}:{port}" if port else host
    return f"{parts.scheme}://{parts.netloc}{parts.path.rstrip('/')}", where


class ArgoAPI:
    def __init__(self, url: str, token: str, timeout: float = 30, source: str = "--argocd"):
        self.url, self.where = _checked_url(url, source)
        if token and (not token.isascii() or not token.isprintable() or " " in token):
            raise GitopsError(f"{TOKEN_ENV}: not a token (it holds spaces or control characters)", 2)
        self.token = token
        self.timeout = timeout

    @classmethod
    def from_env(cls, url: str | None) -> ArgoAPI | None:
        """The API given on the command line or in the environment; None when neither names a server."""
        source = "--argocd" if url else SERVER_ENV
        url = url or os.environ.get(SERVER_ENV)
        if not url:
            return None
        token = os.environ.get(TOKEN_ENV, "").strip()
        if not token:
            raise GitopsError(f"{source} {_checked_url(url, source)[0]}: set {TOKEN_ENV} to an Argo CD API token", 2)
        return cls(url, token, source=source)

    @classmethod
    def login(cls, url: str, username: str, password: str) -> ArgoAPI:
        anonymous = cls(url, "")
        session = anonymous.call("POST", "/api/v1/session", {"username": username, "password": password})
        if not isinstance(session.get("token"), str):
            raise GitopsError(f"argocd: {anonymous.where}: the session answer holds no token", 1)
        return cls(url, session["token"])

    def call(self, method: str, path: str, body: dict | None = None) -> dict:
        """One JSON call: no redirects, at most MAX_RESPONSE bytes, ``timeout`` seconds in all."""
        what = f"argocd: {method} {self.where}{path.split('?')[0]}"
        data = json.dumps(body).encode() if body is not None else None
        deadline = time.monotonic() + self.timeout
        try:
            request = urllib.request.Request(  # noqa: S310 - the scheme is checked in _checked_url
                f"{self.url}{path}", data=data, method=method, headers={"Content-Type": "application/json"}
            )
            if self.token:
                request.add_header("Authorization", f"Bearer {self.token}")
            with _OPENER.open(request, timeout=self.timeout) as response:
                payload = _read(response, deadline)
        except urllib.error.HTTPError as error:
            detail = _read(error, deadline, 4096).decode(errors="replace") if error.fp else error.reason
            detail = " ".join(str(detail).split())[:200]
            if error.code in (401, 403):
                detail = f"the token may not do this ({detail})"
            raise GitopsError(f"{what}: HTTP {error.code}: {detail}", 1) from None
        except (OSError, http.client.HTTPException) as error:
            reason = getattr(error, "reason", None) or type(error).__name__
            raise GitopsError(f"{what}: {reason}", 1) from None
        try:
            answer = json.loads(payload or b"{}")
        except ValueError:
            raise GitopsError(f"{what}: the answer is not JSON", 1) from None
        if not isinstance(answer, dict):
            raise GitopsError(f"{what}: the answer is not a JSON object", 1)
        return answer

    # --- what the commands use --------------------------------------------------------
    def applications(self) -> list[dict]:
        return [a for a in _list(self.call("GET", "/api/v1/applications").get("items")) if isinstance(a, dict)]

    def application(self, name: str, refresh: str | None = None) -> dict:
        query = f"?refresh={refresh}" if refresh else ""
        return self.call("GET", f"/api/v1/applications/{urllib.parse.quote(name)}{query}")

    def application_set(self, name: str) -> dict | None:
        """ApplicationSet ``name`` as Argo CD reports it, or None when it does not exist."""
        try:
            return self.call("GET", f"/api/v1/applicationsets/{urllib.parse.quote(name)}")
        except GitopsError as error:
            if ": HTTP 404:" in str(error):
                return None
            raise

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
            if ": HTTP 404:" in str(error):
                return None
            raise
        live = live_of(app)
        if not live.images:
            live = dataclasses.replace(live, images=self.running_images(name))
        if live.health not in ("Healthy", "Missing", "Unknown"):
            from .health import reasons

            live = dataclasses.replace(live, reasons=reasons(self, name))
        return live

    def resource_tree(self, name: str) -> dict:
        return self.call("GET", f"/api/v1/applications/{urllib.parse.quote(name)}/resource-tree")

    def resource(self, name: str, node: dict) -> dict:
        """The live object of one node of Application ``name``'s resource tree (``{"manifest": JSON}``)."""
        query = urllib.parse.urlencode({
            "namespace": _text(node.get("namespace")), "resourceName": _text(node.get("name")),
            "group": _text(node.get("group")), "version": _text(node.get("version")), "kind": _text(node.get("kind")),
        })  # fmt: skip
        return self.call("GET", f"/api/v1/applications/{urllib.parse.quote(name)}/resource?{query}")

    def revision_date(self, name: str, revision: str) -> str:
        """When ``revision`` was committed, as Argo CD's repo server reads it (RFC 3339), or ""."""
        path = f"/api/v1/applications/{urllib.parse.quote(name)}/revisions/{urllib.parse.quote(revision)}/metadata"
        return _text(self.call("GET", path).get("date"))

    def running_images(self, name: str) -> tuple[str, ...]:
        """The images of the Application's live Deployments, as Argo CD sees them in the cluster.

        (The Deployment's spec, not the pods of the resource tree: during a rollout the
        tree holds the pods of the old ReplicaSet as well.)
        """
        path = f"/api/v1/applications/{urllib.parse.quote(name)}/managed-resources?group=apps&kind=Deployment"
        found: list[str] = []
        for item in _list(self.call("GET", path).get("items")):
            try:
                live = json.loads(_text(_dict(item).get("liveState")) or "null")
            except ValueError:
                continue
            spec = _dict(_dict(_dict(_dict(live).get("spec")).get("template")).get("spec"))
            for container in _list(spec.get("containers")):
                image = _dict(container).get("image")
                if isinstance(image, str) and image not in found:
                    found.append(image)
        return tuple(found)

    def deployed_images(self, name: str, revision: str) -> set[str]:
        """The container images of the Deployments Argo CD renders for ``name`` at ``revision``."""
        query = urllib.parse.urlencode({"revision": revision})
        manifests = self.call("GET", f"/api/v1/applications/{urllib.parse.quote(name)}/manifests?{query}")
        images = set()
        for text in _list(manifests.get("manifests")):
            try:
                doc = yaml.safe_load(text) if isinstance(text, str) else text
            except yaml.YAMLError:
                continue
            if isinstance(doc, dict) and doc.get("kind") == "Deployment":
                spec = _dict(_dict(_dict(doc.get("spec")).get("template")).get("spec"))
                for container in _list(spec.get("containers")):
                    image = _dict(container).get("image")
                    if isinstance(image, str):
                        images.add(image)
        return images


def _dict(value: object) -> dict:
    return value if isinstance(value, dict) else {}


def _list(value: object) -> list:
    return value if isinstance(value, list) else []


def _text(value: object, default: str = "") -> str:
    return value if isinstance(value, str) else default


def _read(response, deadline: float, limit: int = MAX_RESPONSE) -> bytes:
    chunks, size = [], 0
    while True:
        if time.monotonic() > deadline:
            raise TimeoutError("the answer took too long")
        chunk = response.read(65536)
        if not chunk:
            return b"".join(chunks)
        size += len(chunk)
        if size > limit:
            if limit < MAX_RESPONSE:
                return b"".join(chunks)[:limit]
            raise OSError(f"the answer is larger than {MAX_RESPONSE >> 20} MiB")
        chunks.append(chunk)


def live_of(app: dict) -> Live:
    status = _dict(app.get("status"))
    sync = _dict(status.get("sync"))
    operation = _dict(status.get("operationState"))
    health = _dict(status.get("health"))
    messages = [_text(health.get("message"))] + [
        f"{_text(_dict(c).get('type'), 'condition')}: {_text(_dict(c).get('message'))}"
        for c in _list(status.get("conditions"))
    ]
    return Live(
        app=_text(_dict(app.get("metadata")).get("name"), "?"),
        sync=_text(sync.get("status"), "Unknown"),
        health=_text(_dict(status.get("health")).get("status"), "Unknown"),
        revision=_text(sync.get("revision")),
        images=tuple(i for i in _list(_dict(status.get("summary")).get("images")) if isinstance(i, str)),
        operation=_text(operation.get("phase")),
        message=_text(operation.get("message")),
        conditions=tuple(_text(_dict(c).get("type")) for c in _list(status.get("conditions"))),
        messages=tuple(m for m in messages if m),
    )


# ApplicationSet conditions that say it cannot do its work (Argo CD's own health check
# for an ApplicationSet reads the same two: ErrorOccurred true, ResourcesUpToDate false).
APPSET_FAILING = {"ErrorOccurred": "True", "ResourcesUpToDate": "False", "ParametersGenerated": "False"}


def appset_health(appset: dict) -> tuple[str, tuple[str, ...]]:
    """(health, messages) of an ApplicationSet: Degraded with the failing conditions' messages, or Healthy."""
    status = _dict(appset.get("status"))
    failing: dict[str, list[str]] = {}  # message -> the condition types that carry it
    for condition in _list(status.get("conditions")):
        condition = _dict(condition)
        kind = _text(condition.get("type"))
        if APPSET_FAILING.get(kind) == _text(condition.get("status")):
            failing.setdefault(_text(condition.get("message"), "(no message)"), []).append(kind)
    reported = _text(_dict(status.get("health")).get("status"))
    if failing:
        return "Degraded", tuple(f"{', '.join(kinds)}: {message}" for message, kinds in failing.items())
    return reported or "Healthy", ()
