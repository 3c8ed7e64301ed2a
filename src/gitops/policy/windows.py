"""Sync windows: every cluster that must not change at any hour is inside an allow window.

A cluster whose environment is pinned by digest (gitops.yaml digestRequired) or that syncs
by hand (`autoSync: false`) changes only when its AppProject's allow window is open. A new
such cluster that no window covers would sync at any hour: the window must match it by
what makes it what it is (its namespace, or a glob of its cluster or Application name).
"""

from __future__ import annotations

from collections.abc import Iterator
from fnmatch import fnmatchcase

from .registry import Doc, Outcome, Scope, check


def _matches(patterns: object, value: str) -> bool:
    return isinstance(patterns, list) and any(isinstance(p, str) and fnmatchcase(value, p) for p in patterns)


def covered(project: dict, application: str, cluster: str, namespace: str) -> bool:
    """Whether an allow window of ``project`` applies to this Application (Argo CD's matching:
    by application, cluster or namespace glob)."""
    for window in project.get("syncWindows") or []:
        if not isinstance(window, dict) or window.get("kind") != "allow":
            continue
        if (_matches(window.get("applications"), application) or _matches(window.get("clusters"), cluster)
                or _matches(window.get("namespaces"), namespace)):  # fmt: skip
            return True
    return False


def _destined(project: dict, cluster: str, namespace: str) -> bool:
    return any(
        isinstance(d, dict)
        and fnmatchcase(cluster, str(d.get("name", "")))
        and fnmatchcase(namespace, str(d.get("namespace", "")))
        for d in project.get("destinations") or []
    )


@check("GO159", "sync-window-cover")
def sync_window_cover(doc: Doc, scope: Scope) -> Iterator[Outcome]:
    """A prod cluster (pinned by digest) or one that syncs by hand changes only inside an
    allow sync window. One no window covers would sync at any hour, manual syncs included."""
    if doc.kind != "AppProject" or not isinstance(doc.body.get("spec"), dict):
        return
    project = doc.body["spec"]
    for folder, config in sorted(scope.context.cluster_configs.items()):
        content = config.content if config.readable and isinstance(config.content, dict) else None
        if content is None:
            continue  # GO127 reports it
        env, auto = content.get("environment"), content.get("autoSync")
        cluster = str((content.get("cluster") or {}).get("name", ""))
        namespace = str(content.get("namespace", ""))
        if env not in scope.context.digest_required and auto is not False:
            continue
        if not _destined(project, cluster, namespace):
            continue
        if covered(project, f"{scope.context.app}-{cluster}", cluster, namespace):
            yield Outcome("syncWindows")
            continue
        why = "pinned by digest" if env in scope.context.digest_required else "synced by hand (autoSync: false)"
        yield Outcome(
            "syncWindows",
            f"cluster {cluster!r} (clusters/{folder}/config.yaml: {env}, {why}) is outside every allow window: "
            f"it would sync at any hour; match it (namespaces: [{namespace}] covers every cluster of it)",
        )
