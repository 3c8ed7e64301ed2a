"""Sync windows: every cluster that must not change at any hour is inside an allow window.

A cluster whose environment is pinned by digest (gitops.yaml digestRequired) or that syncs
by hand (`autoSync: false`) changes only when its AppProject's allow window is open. A new
such cluster that no window covers would sync at any hour: the window must match it by
what makes it what it is (its namespace, or a glob of its cluster or Application name).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from fnmatch import fnmatchcase

from .registry import Doc, Outcome, Scope, check

CRON_FIELD = re.compile(r"^[0-9A-Za-z*/,-]+$")
GO_DURATION = re.compile(r"^([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$")


def _expand(pattern: str) -> list[str]:
    """A glob's ``{a,b}`` alternatives (Argo CD matches windows with gobwas/glob), for fnmatch."""
    match = re.search(r"\{([^{}]*)\}", pattern)
    if not match:
        return [pattern]
    return [
        e for alt in match.group(1).split(",") for e in _expand(pattern[: match.start()] + alt + pattern[match.end() :])
    ]


def _matches(patterns: object, value: str) -> bool:
    return isinstance(patterns, list) and any(
        isinstance(p, str) and any(fnmatchcase(value, e) for e in _expand(p)) for p in patterns
    )


def _parses(window: dict) -> bool:
    """Argo CD skips a window whose schedule or duration does not parse (and no schema stops it)."""
    fields = str(window.get("schedule", "")).split()
    return (
        len(fields) == 5
        and all(CRON_FIELD.match(f) for f in fields)
        and bool(GO_DURATION.match(str(window.get("duration", ""))))
    )


def covered(project: dict, application: str, cluster: str, namespace: str) -> bool:
    """Whether an allow window of ``project`` applies to this Application as Argo CD matches it:
    by application, cluster or namespace glob (all of the given lists with andOperator), a
    schedule and duration that parse, and no manualSync (which lets manual syncs through at any
    hour, and these clusters sync by hand)."""
    for window in project.get("syncWindows") or []:
        if not isinstance(window, dict) or window.get("kind") != "allow" or window.get("manualSync"):
            continue
        if not _parses(window):
            continue
        lists = [(window.get(key), value) for key, value in
                 (("applications", application), ("clusters", cluster), ("namespaces", namespace))]  # fmt: skip
        given = [(patterns, value) for patterns, value in lists if patterns]
        hits = [_matches(patterns, value) for patterns, value in given]
        if given and (all(hits) if window.get("andOperator") else any(hits)):
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
        named = content.get("cluster")
        cluster = str(named.get("name", "")) if isinstance(named, dict) else ""  # else GO127 reports it
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
