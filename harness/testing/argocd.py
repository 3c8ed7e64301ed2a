"""A fake Argo CD API server on 127.0.0.1: the few read calls `gitops` makes, answered from dicts.

Tests fill ``apps`` and ``appsets`` with objects shaped like Argo CD's (``application`` and
``application_set`` build them) and point ``--argocd`` or ``ARGOCD_SERVER`` at ``url``.
"""

from __future__ import annotations

import datetime as dt
import json
import threading
import urllib.parse
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

TOKEN = "fake-argocd-token"  # noqa: S105 - a test token


def ago(seconds: float) -> str:
    """An RFC 3339 time ``seconds`` before now, as Argo CD writes them."""
    when = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=seconds)
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


def pod(name: str, reason: str = "", restarts: int = 0, last: str = "", ready: bool = True,
        started_ago: float = 3600) -> dict:  # fmt: skip
    """A Pod's live object: a container waiting for ``reason`` (or running), its last exit ``last``."""
    state = {"waiting": {"reason": reason}} if reason else {"running": {"startedAt": ago(started_ago)}}
    status = {"name": "flask-app", "ready": ready and not reason, "restartCount": restarts, "state": state}
    if last:
        status["lastState"] = {"terminated": {"reason": last, "exitCode": 137 if last == "OOMKilled" else 1}}
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name}, "status": {"containerStatuses": [status]}}


def application(
    name: str,
    sync: str = "Synced",
    health: str = "Healthy",
    revision: str = "0" * 40,
    images: tuple[str, ...] = (),
    conditions: tuple[tuple[str, str], ...] = (),
    health_message: str = "",
    healthy_for: float = 3600,
    synced_ago: float | None = None,
    history: tuple[str, ...] = (),
) -> dict:
    """``healthy_for``: seconds since health last changed; ``synced_ago``: since the last sync
    finished (by default as long as health has held)."""
    health_ = {
        "status": health,
        "lastTransitionTime": ago(healthy_for),
        **({"message": health_message} if health_message else {}),
    }
    return {
        "metadata": {"name": name, "namespace": "argocd"},
        "status": {
            "sync": {"status": sync, "revision": revision},
            "operationState": {
                "phase": "Succeeded",
                "finishedAt": ago(healthy_for if synced_ago is None else synced_ago),
                "syncResult": {"revision": revision},
            },
            "health": health_,
            "history": [{"id": i, "revision": r, "deployedAt": ago(600)} for i, r in enumerate(history)],
            "summary": {"images": list(images)},
            "conditions": [{"type": t, "message": m} for t, m in conditions],
        },
    }


def application_set(name: str, error: str | None = None) -> dict:
    """An ApplicationSet whose conditions are those of a working one, or of one failing with ``error``."""
    if error is None:
        conditions = [
            {"type": "ErrorOccurred", "status": "False", "message": "Successfully generated parameters"},
            {"type": "ParametersGenerated", "status": "True", "message": "Successfully generated parameters"},
            {"type": "ResourcesUpToDate", "status": "True", "message": "All applications have been generated"},
        ]
    else:
        reason = "ApplicationGenerationFromParamsError"
        conditions = [
            {"type": "ErrorOccurred", "status": "True", "message": error, "reason": reason},
            {"type": "ParametersGenerated", "status": "True", "message": "Successfully generated parameters"},
            {"type": "ResourcesUpToDate", "status": "False", "message": error, "reason": reason},
        ]
    return {"metadata": {"name": name, "namespace": "argocd"}, "status": {"conditions": conditions}}


@dataclass
class FakeArgoCD:
    apps: dict[str, dict] = field(default_factory=dict)
    appsets: dict[str, dict] = field(default_factory=dict)
    manifests: dict[str, list[str]] = field(default_factory=dict)  # per Application, at any revision
    # Per Application: the resource tree's nodes ({"kind", "name", "health": {...}}) and the
    # live objects of its pods (by name); the commit date of every revision.
    trees: dict[str, list[dict]] = field(default_factory=dict)
    pods: dict[str, dict] = field(default_factory=dict)
    committed_ago: float = 7200
    token: str = TOKEN
    requests: list[str] = field(default_factory=list)
    server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        if self.server is None:
            raise RuntimeError("FakeArgoCD: not started (use it as a context manager)")
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self) -> FakeArgoCD:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                fake.requests.append(self.path)
                if self.headers.get("Authorization") != f"Bearer {fake.token}":
                    return self.answer(401, {"error": "invalid session", "code": 16})
                path = urllib.parse.urlsplit(self.path).path
                parts = [urllib.parse.unquote(p) for p in path.split("/")[1:]]
                if parts == ["api", "v1", "applications"]:
                    return self.answer(200, {"items": list(fake.apps.values())})
                if parts[:3] == ["api", "v1", "applications"] and len(parts) >= 4:
                    name, rest = parts[3], parts[4:]
                    if name not in fake.apps:
                        return self.answer(404, {"error": f'applications.argoproj.io "{name}" not found', "code": 5})
                    if rest == []:
                        return self.answer(200, fake.apps[name])
                    if rest == ["managed-resources"]:
                        return self.answer(200, {"items": []})
                    if rest == ["manifests"]:
                        return self.answer(200, {"manifests": fake.manifests.get(name, [])})
                    if rest == ["resource-tree"]:
                        return self.answer(200, {"nodes": fake.trees.get(name, [])})
                    if rest == ["resource"]:
                        query = urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query)
                        live = fake.pods.get(query.get("resourceName", [""])[0])
                        if live is None:
                            return self.answer(404, {"error": "not found", "code": 5})
                        return self.answer(200, {"manifest": json.dumps(live)})
                    if len(rest) == 3 and rest[0] == "revisions" and rest[2] == "metadata":
                        return self.answer(200, {"date": ago(fake.committed_ago), "message": "a commit"})
                if parts[:3] == ["api", "v1", "applicationsets"] and len(parts) == 4:
                    if parts[3] not in fake.appsets:
                        return self.answer(404, {"error": f'applicationsets "{parts[3]}" not found', "code": 5})
                    return self.answer(200, fake.appsets[parts[3]])
                return self.answer(404, {"error": "Not Found", "code": 5})

            def answer(self, code: int, body: dict) -> None:
                data = json.dumps(body).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
