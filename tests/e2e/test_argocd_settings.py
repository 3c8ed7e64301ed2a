"""argocd/settings/argocd-cm.yaml, judged by the pinned Argo CD's own code (``argocd admin settings
resource-overrides health``, offline): the HPA health check it customizes."""

from __future__ import annotations

import subprocess

import pytest
import yaml

from gitops.toolchain import build_cache, pins
from harness.stack import argocd_procs
from tests.e2e.conftest import ROOT

pytestmark = pytest.mark.e2e
SETTINGS = ROOT / "argocd" / "settings" / "argocd-cm.yaml"
PREFIX = "the HPA was unable to compute the replica count: failed to get cpu utilization: "
ABLE = {"type": "AbleToScale", "status": "True", "reason": "SucceededGetScale", "message": "got the scale"}


def failed(message: str) -> list[dict]:
    return [ABLE, {"type": "ScalingActive", "status": "False", "reason": "FailedGetResourceMetric",
                   "message": PREFIX + message}]  # fmt: skip


# (conditions, what the repository's check says, what Argo CD's built-in check says)
CASES = {
    "new pods, no valid sample yet": (
        failed("did not receive metrics for targeted pods (pods might be unready)"), "Progressing", "Degraded"),
    "the first pods, not scraped twice yet": (
        failed("no metrics returned from resource metrics API"), "Progressing", "Degraded"),
    "no Metrics Server": (
        failed("unable to fetch metrics from resource metrics API: the server could not find the requested "
               "resource (get pods.metrics.k8s.io)"), "Degraded", "Degraded"),
    "Metrics Server registered, not serving yet": (
        failed("unable to fetch metrics from resource metrics API: the server is currently unable to handle the "
               "request (get pods.metrics.k8s.io)"), "Progressing", "Degraded"),
    "a container without a CPU request": (
        failed('missing request for cpu in container "web" of Pod "web-1"'), "Degraded", "Degraded"),
    "scale target gone": (
        [{"type": "AbleToScale", "status": "False", "reason": "FailedGetScale", "message": "not found"}],
        "Degraded", "Degraded"),
    "computing": (
        [ABLE, {"type": "ScalingActive", "status": "True", "reason": "ValidMetricFound", "message": "ok"}],
        "Healthy", "Healthy"),
    "no status yet": (None, "Progressing", "Progressing"),
}  # fmt: skip


def health(tmp_path, conditions, settings: dict) -> str:
    hpa = {"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
           "metadata": {"name": "flask-app", "namespace": "flask-app-dev"},
           "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "flask-app"},
                    "maxReplicas": 3}}  # fmt: skip
    if conditions is not None:
        hpa["status"] = {"conditions": conditions}
    (tmp_path / "hpa.yaml").write_text(yaml.safe_dump(hpa))
    (tmp_path / "argocd-cm.yaml").write_text(yaml.safe_dump(settings))
    binary = argocd_procs.binary(build_cache(), pins()["ARGOCD_VERSION"]) / "argocd"
    result = subprocess.run(
        [str(binary), "admin", "settings", "resource-overrides", "health", str(tmp_path / "hpa.yaml"),
         "--argocd-cm-path", str(tmp_path / "argocd-cm.yaml")],
        capture_output=True, text=True, timeout=120, cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-800:]
    return next(line.split(":", 1)[1].strip() for line in result.stdout.splitlines() if line.startswith("STATUS:"))


@pytest.mark.parametrize("case", sorted(CASES))
def test_an_hpa_waiting_for_metrics_on_their_way_is_progressing_and_every_failure_stays_degraded(tmp_path, case):
    conditions, ours, builtin = CASES[case]
    settings = yaml.safe_load(SETTINGS.read_text())
    assert health(tmp_path, conditions, settings) == ours
    without = {**settings, "data": {k: v for k, v in settings["data"].items() if "HorizontalPodAutoscaler" not in k}}
    assert health(tmp_path, conditions, without) == builtin
