"""What Argo CD's resource tree says is wrong, and whether an Application's health is stable.

``reasons`` turns an unhealthy Application into lines a person acts on (``pod flask-app-…
CrashLoopBackOff (last exit: OOMKilled), 3 restarts``), not only "Progressing": the pods
and workloads of the tree that are not Healthy, each read from its live object.

``unstable`` is the promotion gate's wait: besides Synced + Healthy at the promoted
revision, Argo CD's own record must show the sync finished after that commit was made,
health unchanged for the required time (``healthyFor``, and the environment's soak), and no
pod of the Application restarted within it. Health reported a moment after a sync can be
stale (the "momentarily healthy" problem): a minimum time of stable health rules it out.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass

from .argocd_api import ArgoAPI, _dict, _list, _text
from .errors import GitopsError

MAX_PODS = 20  # pods read for one Application: more than a rollout of this app ever holds
WORKLOADS = {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job", "HorizontalPodAutoscaler"}


def parse_time(text: str) -> dt.datetime | None:
    """An RFC 3339 time from Argo CD or Kubernetes, or None."""
    if not text:
        return None
    try:
        return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None


def _pod(api: ArgoAPI, app: str, node: dict) -> dict | None:
    """The live object of a pod of the tree, or None when Argo CD would not give it."""
    try:
        answer = api.resource(app, node)
        return _dict(json.loads(_text(answer.get("manifest")) or "{}"))
    except (GitopsError, ValueError):
        return None


def pod_reason(name: str, pod: dict, info: dict[str, str]) -> str:
    """One line for a pod that is not healthy: why, from its container statuses."""
    statuses = [_dict(s) for s in _list(_dict(pod.get("status")).get("containerStatuses"))]
    restarts = sum(int(s.get("restartCount") or 0) for s in statuses) if statuses else info.get("Restart Count", "0")
    why, last = "", ""
    for status in statuses:
        state, previous = _dict(status.get("state")), _dict(status.get("lastState"))
        waiting, terminated = _dict(state.get("waiting")), _dict(previous.get("terminated"))
        if waiting.get("reason") and not why:
            why = _text(waiting.get("reason"))
        if _dict(state.get("terminated")).get("reason") and not why:
            why = _text(_dict(state.get("terminated")).get("reason"))
        if terminated.get("reason") and not last:
            last = f"{_text(terminated.get('reason'))}, exit code {terminated.get('exitCode')}"
        if not why and state.get("running") and not status.get("ready"):
            why = "running, not ready"
    why = why or info.get("Status Reason") or _text(_dict(pod.get("status")).get("phase"), "not healthy")
    text = f"pod {name} {why}"
    if last:
        text += f" (last exit: {last})"
    return f"{text}, {restarts} restart{'s' if str(restarts) != '1' else ''}"


def reasons(api: ArgoAPI, app: str) -> tuple[str, ...]:
    """Why Application ``app`` is not Healthy, one line per resource of its tree that is not."""
    try:
        tree = api.resource_tree(app)
    except GitopsError:
        return ()
    found: list[str] = []
    workloads: list[str] = []
    pods = 0
    for node in (_dict(n) for n in _list(tree.get("nodes"))):
        health = _dict(node.get("health"))
        status, kind, name = _text(health.get("status")), _text(node.get("kind")), _text(node.get("name"), "?")
        if status in ("", "Healthy"):
            continue
        if kind == "Pod" and pods < MAX_PODS:
            pods += 1
            info = {_text(_dict(i).get("name")): _text(_dict(i).get("value")) for i in _list(node.get("info"))}
            found.append(pod_reason(name, _pod(api, app, node) or {}, info))
        elif kind in WORKLOADS:
            message = _text(health.get("message"))
            workloads.append(f"{kind.lower()} {name} {status}" + (f": {message}" if message else ""))
    # A pod's reason says more than its workload's "waiting for rollout": workloads only without one.
    return tuple(found or workloads)


@dataclass(frozen=True)
class Stability:
    """Argo CD's record of one Application's last sync and health."""

    finished: dt.datetime | None  # the last sync operation finished (Succeeded)
    healthy_since: dt.datetime | None  # health.lastTransitionTime
    restarted: tuple[tuple[str, dt.datetime], ...]  # (pod, when its container last started after a restart)
    unreadable: tuple[str, ...] = ()  # pods Argo CD would not show: whether they restarted is unknown


def stability(api: ArgoAPI, app: dict) -> Stability:
    status = _dict(app.get("status"))
    operation = _dict(status.get("operationState"))
    finished = parse_time(_text(operation.get("finishedAt"))) if operation.get("phase") == "Succeeded" else None
    name = _text(_dict(app.get("metadata")).get("name"))
    restarted = []
    try:
        nodes = [_dict(n) for n in _list(api.resource_tree(name).get("nodes"))]
    except GitopsError:
        nodes = []
    unreadable = []
    for node in [n for n in nodes if n.get("kind") == "Pod"][:MAX_PODS]:
        pod = _pod(api, name, node)
        if pod is None:
            unreadable.append(_text(node.get("name"), "?"))
            continue
        for container in _list(_dict(pod.get("status")).get("containerStatuses")):
            container = _dict(container)
            started = parse_time(_text(_dict(_dict(container.get("state")).get("running")).get("startedAt")))
            if int(container.get("restartCount") or 0) > 0 and started:
                restarted.append((_text(node.get("name")), started))
    return Stability(finished, parse_time(_text(_dict(status.get("health")).get("lastTransitionTime"))),
                     tuple(restarted), tuple(unreadable))  # fmt: skip


def unstable(state: Stability, committed: dt.datetime | None, required: float, now: dt.datetime) -> str | None:
    """What is missing for health to count as stable (``required`` seconds), or None."""
    if state.finished is None:
        return "Argo CD records no finished sync"
    if state.unreadable:
        return f"Argo CD would not show pod {state.unreadable[0]}: whether it restarted is unknown"
    if committed is not None and state.finished < committed:
        return f"its last sync finished at {state.finished:%H:%M:%S}, before the commit was made"
    since = max([t for t in (state.healthy_since, state.finished) if t is not None] + [t for _, t in state.restarted])
    held = (now - since).total_seconds()
    if held < required:
        restarted = [pod for pod, started in state.restarted if started == since]
        what = f"pod {restarted[0]} restarted" if restarted else "healthy"
        return f"{what} {held:.0f}s ago; stable health needs {required:.0f}s ({required - held:.0f}s left)"
    return None
