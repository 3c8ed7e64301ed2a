"""The real reconcile loop: Argo CD (pinned, built from source) against one API server per cluster.

The stack is bootstrapped as the README says and every assertion reads Argo CD's own
Application status (through its API) or the live objects on the cluster it synced to.
The tests run in file order on one stack: later ones build on what earlier ones pushed.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml

from gitops.errors import GitopsError
from harness.stack.stack import app_state, cluster_configs
from tests.e2e.conftest import ROOT, TIMINGS

pytestmark = pytest.mark.e2e
CONFIGS = {c["cluster"]["name"]: c for c in cluster_configs(ROOT)}
AUTO = sorted(name for name, c in CONFIGS.items() if c["autoSync"] is True)
MANUAL = sorted(name for name, c in CONFIGS.items() if c["autoSync"] is not True)


def app(name: str) -> str:
    return f"flask-app-{name}"


def synced_healthy(revision: str | None = None):
    def want(application: dict) -> bool:
        sync, health, rev = app_state(application)
        operation = (application.get("status") or {}).get("operationState") or {}
        running = operation.get("phase") == "Running"
        return sync == "Synced" and health == "Healthy" and not running and (revision is None or rev == revision)

    return want


def deployment_image(stack, cluster: str) -> str:
    ns = CONFIGS[cluster]["namespace"]
    deployment = stack.clusters[cluster].get("deployment", "flask-app", "-n", ns)
    return deployment["spec"]["template"]["spec"]["containers"][0]["image"]


def test_one_application_per_cluster_folder_as_the_readme_promises(stack):
    apps = stack.apps()
    addons = {f"metrics-server-{name}" for name in CONFIGS}
    assert set(apps) == {app(name) for name in CONFIGS} | addons | {"flask-gitops-root"}
    assert app_state(apps["flask-gitops-root"])[:2] == ("Synced", "Healthy")
    for name, config in CONFIGS.items():
        application = apps[app(name)]
        spec = application["spec"]
        assert spec["project"] == "flask-app"
        assert spec["destination"] == {"name": name, "namespace": config["namespace"]}
        assert spec["source"]["repoURL"] == stack.repo_url
        assert spec["source"]["path"] == f"clusters/{config['folder']}"
        labels = application["metadata"]["labels"]
        assert labels["flask-gitops/environment"] == config["environment"]
        assert labels["flask-gitops/cluster"] == name
        info = {item["name"]: item["value"] for item in spec["info"]}
        assert info["environment"] == config["environment"]
        assert info["cluster"] == name
        assert info["running version"] == f"{config['url']}/version"
        automated = (spec.get("syncPolicy") or {}).get("automated")
        assert (automated is not None) == config["autoSync"], name
        if automated:
            assert automated.get("prune") is True
            assert automated.get("selfHeal") is True


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_every_cluster_gets_metrics_server_from_argocd_and_the_hpa_reads_it(stack, name):
    """Metrics Server (addons/) is synced by Argo CD to every cluster folder, prod included, as
    its own Application in its own project; the metrics API on each API server is that
    APIService, served by the real Metrics Server (here it scrapes kwok's simulated kubelets),
    not an imitation; and the app's HPA computes from it. On the clusters that sync by
    themselves, the app turned Healthy only once Metrics Server served (the HPA's health
    needs its numbers), and was never Degraded meanwhile (argocd/settings: waiting for
    metrics is Progressing)."""
    addon = stack.api.application(f"metrics-server-{name}")
    spec = addon["spec"]
    assert spec["project"] == "addons"
    assert spec["destination"] == {"name": name, "namespace": "kube-system"}
    assert spec["source"]["path"] == "addons/metrics-server"
    assert app_state(addon)[:2] == ("Synced", "Healthy")
    cluster = stack.clusters[name]
    api = cluster.get("apiservice", "v1beta1.metrics.k8s.io")
    assert api["spec"]["service"]["name"] == "metrics-server"
    assert {c["type"]: c["status"] for c in api["status"]["conditions"]}["Available"] == "True"
    assert cluster.maybe_get("crd", "pods.metrics.k8s.io") is None, "no imitation of the metrics API"
    ns = CONFIGS[name]["namespace"]
    if CONFIGS[name]["autoSync"] is True:
        application = stack.wait_app(app(name), synced_healthy())
        available = next(c for c in api["status"]["conditions"] if c["type"] == "Available")["lastTransitionTime"]
        assert application["status"]["health"]["lastTransitionTime"] >= available
        events = stack.host.get("events", "-n", "argocd", "--field-selector", f"involvedObject.name={app(name)}")
        health = [e["message"] for e in events["items"] if e["message"].startswith("Updated health status")]
        assert health, "Argo CD reports each change of health as an event"
        assert not [m for m in health if "-> Degraded" in m], health
        hpa = cluster.get("hpa", "flask-app", "-n", ns)
        (metric,) = hpa["status"]["currentMetrics"]
        request = cluster.get("deployment", "flask-app", "-n", ns)["spec"]["template"]["spec"]["containers"][0][
            "resources"]["requests"]["cpu"]  # fmt: skip
        # kwok's simulated kubelets report 30m per container (harness/stack/kube.py METRICS).
        expected = 30 / int(request.rstrip("m")) * 100
        assert abs(metric["resource"]["current"]["averageUtilization"] - expected) <= 5, hpa["status"]
    pods = json.loads(cluster.kubectl("get", "--raw", f"/apis/metrics.k8s.io/v1beta1/namespaces/{ns}/pods").stdout)
    assert pods["kind"] == "PodMetricsList"


@pytest.mark.parametrize("name", AUTO)
def test_auto_sync_clusters_are_synced_and_healthy_with_everything_live(stack, name):
    stack.wait_app(app(name), synced_healthy())
    cluster, ns = stack.clusters[name], CONFIGS[name]["namespace"]
    deployment = cluster.get("deployment", "flask-app", "-n", ns)
    conditions = {c["type"]: c["status"] for c in deployment["status"]["conditions"]}
    assert conditions["Available"] == "True"
    assert deployment["status"]["readyReplicas"] >= 1

    # Argo CD calls an HPA that has not computed yet Healthy too: wait for its first computation.
    def scaling_active():
        hpa = cluster.get("hpa", "flask-app", "-n", ns)
        conditions = {c["type"]: c for c in (hpa.get("status") or {}).get("conditions") or []}
        return hpa if conditions.get("ScalingActive", {}).get("status") == "True" else None

    hpa = stack.procs.until(f"{name}: HPA ScalingActive", scaling_active, 60)
    assert hpa["spec"]["metrics"][0]["resource"]["target"]["averageUtilization"] == 50
    assert cluster.get("pdb", "flask-app", "-n", ns)["status"]["expectedPods"] >= 1
    slices = cluster.get("endpointslices", "-n", ns, "-l", "kubernetes.io/service-name=flask-app")["items"]
    assert any(e["conditions"].get("ready") for s in slices for e in s.get("endpoints") or [])
    policies = {p["metadata"]["name"] for p in cluster.get("networkpolicy", "-n", ns)["items"]}
    assert len(policies) == 2, policies
    labels = cluster.get("namespace", ns)["metadata"]["labels"]
    assert labels["pod-security.kubernetes.io/enforce"] == "restricted"


@pytest.mark.parametrize("name", MANUAL)
def test_manual_sync_clusters_wait_for_a_person(stack, name):
    application = stack.api.application(app(name))
    sync, _, _ = app_state(application)
    assert sync == "OutOfSync"
    assert not (application.get("status") or {}).get("operationState")
    ns = CONFIGS[name]["namespace"]
    assert stack.clusters[name].maybe_get("deployment", "flask-app", "-n", ns) is None


CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOTS = ROOT / "build" / "screenshots"


def logged_in_page(browser, stack, errors: list[str] | None = None):
    """A page logged in as admin, on the Applications list; uncaught page errors go to ``errors``."""
    page = browser.new_page(viewport={"width": 1500, "height": 1100})
    page.set_default_timeout(30_000)
    if errors is not None:
        page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(f"{stack.argo.url}/login")
    page.locator("input:not([type=password])").first.fill("admin")
    page.locator("input[type=password]").fill(stack.password)
    page.locator("button[type=submit]").click()
    page.locator(".applications-list__entry").first.wait_for()
    return page


def assert_ui_alive(page, errors: list[str]) -> None:
    """Argo CD's error boundary replaces the whole page with "Something went wrong!" on a render error."""
    assert page.get_by_text("Something went wrong!").count() == 0, page.inner_text("body")[:2000]
    assert not [e for e in errors if "Minified React error" in e], errors


def dev_pods(stack) -> dict[str, str]:
    """The dev pods kubectl shows (kwok plays their kubelet): name -> the ReplicaSet that owns them."""
    ns = CONFIGS["dev"]["namespace"]
    pods = stack.clusters["dev"].get("pods", "-n", ns)["items"]
    owned = {}
    for pod in pods:
        owners = [o for o in pod["metadata"].get("ownerReferences") or [] if o["kind"] == "ReplicaSet"]
        if owners and not pod["metadata"].get("deletionTimestamp"):
            owned[pod["metadata"]["name"]] = owners[0]["name"]
    return owned


def test_the_resource_tree_has_the_deployments_replicasets_and_pods(stack):
    """Argo CD's tree is deploy -> rs -> pods with their health, as kubectl shows them (issue 27 item 2).
    Argo CD leaves out of the tree every kind the AppProject's namespaceResourceWhitelist omits."""
    stack.wait_app(app("dev"), synced_healthy())
    pods = stack.procs.until("dev pods", lambda: dev_pods(stack), 60)

    def tree_has_every_pod():
        tree = stack.api.call("GET", f"/api/v1/applications/{app('dev')}/resource-tree")
        nodes = tree.get("nodes") or []
        in_tree = {n["name"]: n for n in nodes if n["kind"] == "Pod"}
        return (nodes, in_tree) if set(pods) <= set(in_tree) else None

    nodes, in_tree = stack.procs.until("every dev pod in Argo CD's resource tree", tree_has_every_pod, 120)
    replicasets = {n["name"]: n for n in nodes if n["kind"] == "ReplicaSet"}
    for name, rs in pods.items():
        pod = in_tree[name]
        assert [(p["kind"], p["name"]) for p in pod.get("parentRefs") or []] == [("ReplicaSet", rs)], pod
        assert (pod.get("health") or {}).get("status") == "Healthy", pod
        assert [(p["kind"], p["name"]) for p in replicasets[rs].get("parentRefs") or []] == [
            ("Deployment", "flask-app")
        ]


def test_the_argocd_ui_shows_the_dev_pods_in_the_tree(stack):
    from playwright.sync_api import sync_playwright

    pods = stack.procs.until("dev pods", lambda: dev_pods(stack), 60)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_FLAGS)
        try:
            errors: list[str] = []
            page = logged_in_page(browser, stack, errors)
            page.goto(f"{stack.argo.url}/applications/argocd/{app('dev')}?view=tree")
            page.locator(".application-resource-tree__node--replicaset").first.wait_for()
            shown = page.locator(".application-resource-tree__node--pod .application-resource-tree__node-title")
            shown.first.wait_for()
            names = set(shown.all_inner_texts())
            assert set(pods) <= names, (sorted(pods), sorted(names))
            page.screenshot(path=str(SCREENSHOTS / "argocd-dev-tree.png"))
            assert_ui_alive(page, errors)
        finally:
            browser.close()


def test_the_argocd_ui_shows_one_tile_per_cluster_with_argocds_own_status(stack):
    """A real browser (Debian's Chromium through Playwright) logs in and reads the Applications page."""
    from playwright.sync_api import sync_playwright

    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_FLAGS)
        try:
            page = logged_in_page(browser, stack)
            tiles = page.locator(".applications-list__entry")
            addons = {f"metrics-server-{name}" for name in CONFIGS}
            expected = {app(name) for name in CONFIGS} | addons | {"flask-gitops-root"}
            page.wait_for_function(f"document.querySelectorAll('.applications-list__entry').length === {len(expected)}")
            api = stack.apps()
            for name in sorted(expected):
                tile = page.locator(f".qe-applications-list-argocd_{name}")
                sync, health, _ = app_state(api[name])
                text = tile.inner_text()
                assert health in text, (name, health, text)
                assert sync in text, (name, sync, text)
            for name in MANUAL:
                assert "OutOfSync" in page.locator(f".qe-applications-list-argocd_{app(name)}").inner_text()
            assert tiles.count() == len(expected)
            assert page.locator(".applications-list__external-links-icon-container").count() == len(expected)
            page.screenshot(path=str(SCREENSHOTS / "argocd-applications.png"))
            page.goto(f"{stack.argo.url}/applications/argocd/{app('dev')}")
            page.get_by_text("Details", exact=True).first.click()
            panel = page.locator(".sliding-panel")
            for text in (
                "INFO",
                "environment",
                "running version",
                f"{CONFIGS['dev']['url']}/version",
                "how to promote",
            ):
                panel.get_by_text(text, exact=False).first.wait_for()
            page.screenshot(path=str(SCREENSHOTS / "argocd-dev-details.png"))
        finally:
            browser.close()


def commit_and_push(work: Path, message: str) -> str:
    subprocess.run(["git", "add", "-A"], cwd=work, check=True)
    subprocess.run(
        ["git", "-c", "user.name=e2e", "-c", "user.email=e2e@flask-gitops.invalid", "commit", "-qm", message],
        cwd=work,
        check=True,
    )
    subprocess.run(["git", "push", "-q", "origin", "HEAD:main"], cwd=work, check=True, capture_output=True)
    return subprocess.run(["git", "rev-parse", "HEAD"], cwd=work, check=True, capture_output=True, text=True).stdout


def deploy_revision(stack) -> str:
    out = subprocess.run(
        ["git", "rev-parse", "refs/heads/deploy/local"], cwd=stack.bare, check=True, capture_output=True, text=True
    )
    return out.stdout.strip()


def test_git_push_deploys_dev(stack, work):
    tag = f"e2e-{int(time.time())}"
    started = time.monotonic()
    result = gitops(work, stack, "set-image", "--env", "dev", "--tag", tag, "--commit", "--push")
    assert result.returncode == 0, result.stderr
    revision = deploy_revision(stack)
    stack.wait_app(app("dev"), synced_healthy(revision), timeout=120)
    TIMINGS["git push -> dev Synced + Healthy at the new revision (s)"] = time.monotonic() - started
    assert deployment_image(stack, "dev").endswith(f":{tag}")
    for name in CONFIGS:
        if name != "dev":
            assert not deployment_image_or_none(stack, name, tag)


def deployment_image_or_none(stack, cluster: str, tag: str) -> bool:
    ns = CONFIGS[cluster]["namespace"]
    deployment = stack.clusters[cluster].maybe_get("deployment", "flask-app", "-n", ns)
    if deployment is None:
        return False
    return deployment["spec"]["template"]["spec"]["containers"][0]["image"].endswith(f":{tag}")


def test_the_hpa_owns_replicas(stack):
    ns = CONFIGS["dev"]["namespace"]
    cluster = stack.clusters["dev"]
    before = cluster.get("deployment", "flask-app", "-n", ns)["spec"]["replicas"]
    cluster.kubectl("scale", "deployment/flask-app", "-n", ns, f"--replicas={before + 1}")
    stack.api.application(app("dev"), refresh="normal")
    time.sleep(3)  # a refresh is asynchronous: give it a moment, then it must still be Synced
    application = stack.wait_app(app("dev"), lambda a: app_state(a)[0] != "Unknown")
    assert app_state(application)[0] == "Synced"
    assert not [r for r in application["status"]["resources"] if r.get("status") == "OutOfSync"]


def test_self_heal_reverts_a_hand_edit(stack):
    ns = CONFIGS["dev"]["namespace"]
    cluster = stack.clusters["dev"]
    image = deployment_image(stack, "dev")
    repository = yaml.safe_load((ROOT / "gitops.yaml").read_text())["image"]
    cluster.kubectl("set", "image", "deployment/flask-app", "-n", ns, f"flask-app={repository}:hand-edit")
    assert deployment_image(stack, "dev") == f"{repository}:hand-edit"
    stack.procs.until("self-heal", lambda: deployment_image(stack, "dev") == image, 60)
    stack.wait_app(app("dev"), synced_healthy())


def test_a_resource_removed_from_git_is_pruned(stack, work):
    ns = CONFIGS["dev"]["namespace"]
    cluster = stack.clusters["dev"]
    kustomization = work / "apps" / "flask-app" / "base" / "kustomization.yaml"
    original = kustomization.read_text()
    kustomization.write_text(original.replace("  - pdb.yaml\n", ""))
    assert kustomization.read_text() != original
    commit_and_push(work, "e2e: drop the PDB")
    stack.wait_app(app("dev"), synced_healthy(deploy_revision(stack)))
    stack.procs.until("PDB pruned", lambda: cluster.maybe_get("pdb", "flask-app", "-n", ns) is None, 60)
    kustomization.write_text(original)
    commit_and_push(work, "e2e: restore the PDB")
    stack.wait_app(app("dev"), synced_healthy(deploy_revision(stack)))
    assert cluster.maybe_get("pdb", "flask-app", "-n", ns) is not None


def _working_hours(now: datetime) -> bool:
    return now.weekday() < 5 and 8 <= now.hour < 18


@pytest.mark.parametrize("name", MANUAL)
def test_prod_sync_windows_match_working_hours(stack, name):
    windows = stack.api.call("GET", f"/api/v1/applications/{app(name)}/syncwindows")
    now = datetime.now(UTC)
    # Read at (nearly) the same moment as Argo CD: skip the minute around a boundary.
    assert windows["canSync"] is _working_hours(now), (now.isoformat(), windows)


def test_a_deny_window_blocks_automated_sync_and_lifting_it_syncs(stack, work):
    project = work / "argocd" / "projects" / "appproject.yaml"
    original = project.read_text()
    doc = yaml.safe_load(original)
    deny = {"kind": "deny", "schedule": "* * * * *", "duration": "1h", "clusters": ["staging"], "timeZone": "UTC"}
    doc["spec"]["syncWindows"] = [*doc["spec"].get("syncWindows", []), deny]
    project.write_text(yaml.safe_dump(doc, sort_keys=False))
    commit_and_push(work, "e2e: freeze staging")
    stack.apply_projects()  # reviewed and merged; an admin applies the projects
    stack.procs.until(
        "staging frozen",
        lambda: stack.api.call("GET", f"/api/v1/applications/{app('staging')}/syncwindows")["canSync"] is False,
        60,
    )
    tag = f"frozen-{int(time.time())}"
    result = gitops(work, stack, "set-image", "--env", "staging", "--tag", tag, "--commit", "--push")
    assert result.returncode == 0, result.stderr
    frozen = deploy_revision(stack)
    # Argo CD has compared staging with the new revision, found it OutOfSync, and not synced.
    stack.wait_app(app("staging"), lambda a: app_state(a)[0] == "OutOfSync" and app_state(a)[2] == frozen)
    time.sleep(5)
    assert not deployment_image(stack, "staging").endswith(f":{tag}"), "the deny window let an automated sync through"
    project.write_text(original)
    commit_and_push(work, "e2e: thaw staging")
    stack.apply_projects()
    # The push refreshed staging while the window was still there (the admin applied the
    # AppProject a moment later); a refresh now, like pressing Refresh, retries the sync.
    stack.api.application(app("staging"), refresh="normal")
    stack.wait_app(app("staging"), synced_healthy(deploy_revision(stack)), timeout=240)
    assert deployment_image(stack, "staging").endswith(f":{tag}")


def test_a_refused_prod_sync_in_the_ui_shows_argocds_error_and_the_page_keeps_working(stack, work):
    """SYNC then SYNCHRONIZE on prod outside its window: the API answers 403 and the UI shows
    Argo CD's error notification (a react-toastify toast), not "Something went wrong!"
    (issue 27 item 1: React error #130 from argo-ui's toast container)."""
    from playwright.sync_api import sync_playwright

    name = MANUAL[0]
    project = work / "argocd" / "projects" / "appproject.yaml"
    original = project.read_text()
    doc = yaml.safe_load(original)
    # Outside the window whatever the hour: a deny window beats every allow window.
    deny = {"kind": "deny", "schedule": "* * * * *", "duration": "1h", "clusters": [name], "timeZone": "UTC"}
    doc["spec"]["syncWindows"] = [*doc["spec"].get("syncWindows", []), deny]
    project.write_text(yaml.safe_dump(doc, sort_keys=False))
    commit_and_push(work, f"e2e: freeze {name}")
    stack.apply_projects()
    try:
        stack.procs.until(
            f"{name} outside its window",
            lambda: stack.api.call("GET", f"/api/v1/applications/{app(name)}/syncwindows")["canSync"] is False,
            60,
        )
        with pytest.raises(GitopsError, match="HTTP 403"):
            stack.api.sync(app(name))
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_FLAGS)
            try:
                errors: list[str] = []
                page = logged_in_page(browser, stack, errors)
                page.goto(f"{stack.argo.url}/applications/argocd/{app(name)}")
                # The top bar's SYNC (argo-ui's action menu: an icon and the label "Sync").
                sync = page.locator(".top-bar__action-menu button").filter(has_text=re.compile(r"^\s*Sync\s*$"))
                try:
                    sync.first.click()
                except Exception:
                    (SCREENSHOTS / "argocd-refused-sync.html").write_text(page.content())
                    page.screenshot(path=str(SCREENSHOTS / "argocd-refused-sync-failed.png"))
                    raise
                page.locator("[qe-id=application-sync-panel-button-synchronize]").click()
                toast = page.locator(".Toastify__toast--error")
                toast.first.wait_for()
                text = toast.first.inner_text()
                assert "Unable to sync" in text, text
                assert "blocked by sync window" in text, text
                page.screenshot(path=str(SCREENSHOTS / "argocd-refused-sync.png"))
                assert_ui_alive(page, errors)
                # The page keeps working: the panel closes and the app's details still open.
                page.locator("[qe-id=application-sync-panel-button-cancel]").click()
                page.get_by_text("Details", exact=True).first.click()
                page.locator(".sliding-panel").get_by_text("environment").first.wait_for()
                assert_ui_alive(page, errors)
            finally:
                browser.close()
        assert app_state(stack.api.application(app(name)))[0] == "OutOfSync"
        assert not (stack.api.application(app(name)).get("status") or {}).get("operationState")
    finally:
        project.write_text(original)
        commit_and_push(work, f"e2e: thaw {name}")
        stack.apply_projects()


@pytest.mark.parametrize("name", MANUAL)
def test_prod_syncs_when_a_person_syncs_inside_an_allowed_window(stack, work, name):
    project = work / "argocd" / "projects" / "appproject.yaml"
    doc = yaml.safe_load(project.read_text())
    names = {w.get("kind") for w in doc["spec"]["syncWindows"]}
    if not any(w.get("schedule") == "* * * * *" for w in doc["spec"]["syncWindows"]):
        # An emergency change window, through Git like any change: allow now, for an hour.
        emergency = {"kind": "allow", "schedule": "* * * * *", "duration": "1h", "clusters": MANUAL, "timeZone": "UTC"}
        doc["spec"]["syncWindows"].append(emergency)
        project.write_text(yaml.safe_dump(doc, sort_keys=False))
        commit_and_push(work, "e2e: emergency window for prod")
        stack.apply_projects()
    assert names
    stack.procs.until(
        "prod window open",
        lambda: stack.api.call("GET", f"/api/v1/applications/{app(name)}/syncwindows")["canSync"] is True,
        60,
    )
    stack.api.sync(app(name))
    stack.wait_app(app(name), synced_healthy(), timeout=240)
    ns = CONFIGS[name]["namespace"]
    deployment = stack.clusters[name].get("deployment", "flask-app", "-n", ns)
    assert re.search(r"@sha256:[0-9a-f]{64}$", deployment["spec"]["template"]["spec"]["containers"][0]["image"])


def appset_conditions(stack) -> dict[str, dict]:
    appset = stack.host.get("applicationset", "flask-app", "-n", "argocd")
    return {c["type"]: c for c in (appset.get("status") or {}).get("conditions") or []}


def test_a_removed_cluster_folder_deletes_the_application_but_not_the_workloads(stack, work):
    ns = CONFIGS["staging"]["namespace"]
    folder = work / "clusters" / "staging"
    saved = {p.name: p.read_bytes() for p in folder.iterdir()}
    shutil.rmtree(folder)
    commit_and_push(work, "e2e: remove the staging cluster folder")
    stack.procs.until("flask-app-staging deleted", lambda: app("staging") not in stack.apps(), 120)
    time.sleep(5)
    # preserveResourcesOnDeletion and no resources finalizer: the workloads keep running.
    assert stack.clusters["staging"].maybe_get("deployment", "flask-app", "-n", ns) is not None
    assert stack.clusters["staging"].maybe_get("service", "flask-app", "-n", ns) is not None
    folder.mkdir()
    for name, data in saved.items():
        (folder / name).write_bytes(data)
    commit_and_push(work, "e2e: restore the staging cluster folder")
    stack.wait_app(app("staging"), synced_healthy(deploy_revision(stack)), timeout=240)


def add_probe_cluster(stack, work, config_text: str, folder: str = "probe") -> Path:
    """A cluster folder like dev's, for a cluster 'probe' that Argo CD knows (the spare API server)."""
    stack.register_cluster("probe", on="spare")
    target = work / "clusters" / folder
    shutil.copytree(work / "clusters" / "dev", target)
    (target / "config.yaml").write_text(config_text)
    kustomization = target / "kustomization.yaml"
    kustomization.write_text(kustomization.read_text().replace("cluster: dev", "cluster: probe"))
    return target


def gitops_validate(work: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "gitops", "validate"], cwd=work, capture_output=True, text=True, check=False
    )


def test_broken_cluster_configs_what_the_controller_does_and_what_validate_says(stack, work):
    dev_config = (work / "clusters" / "dev" / "config.yaml").read_text()
    project = work / "argocd" / "projects" / "appproject.yaml"
    original_project = project.read_text()
    doc = yaml.safe_load(original_project)
    doc["spec"]["destinations"].append({"name": "probe", "namespace": CONFIGS["dev"]["namespace"]})
    project.write_text(yaml.safe_dump(doc, sort_keys=False))
    commit_and_push(work, "e2e: a destination for cluster probe")
    stack.apply_projects()

    # 1. autoSync: "false" (a string): Go templates call a non-empty string true, so the
    #    controller makes the Application automated. validate must refuse it.
    config = dev_config.replace("name: dev", "name: probe").replace("autoSync: true", 'autoSync: "false"')
    folder = add_probe_cluster(stack, work, config)
    assert gitops_validate(work).returncode != 0
    commit_and_push(work, "e2e: a cluster whose autoSync is the string 'false'")
    probe = stack.wait_app(app("probe"), lambda a: True, timeout=120)
    assert (probe["spec"].get("syncPolicy") or {}).get("automated") is not None

    # 2. A misspelt key (autosync): missingkey=error fails the whole template, and the
    #    ApplicationSet stops updating every Application of the set, not only this one.
    (folder / "config.yaml").write_text(config.replace('autoSync: "false"', "autosync: false"))
    dev_path = work / "clusters" / "dev" / "config.yaml"
    dev_path.write_text(dev_config.replace("https://flask-app.dev.example.com", "https://changed.dev.example.com"))
    assert gitops_validate(work).returncode != 0
    commit_and_push(work, "e2e: a misspelt autoSync key, and a change to dev's url")
    stack.procs.until(
        "ApplicationSet error condition",
        lambda: appset_conditions(stack).get("ErrorOccurred", {}).get("status") == "True",
        120,
    )
    assert "autoSync" in appset_conditions(stack)["ErrorOccurred"]["message"]
    time.sleep(5)
    info = {i["name"]: i["value"] for i in stack.api.application(app("dev"))["spec"]["info"]}
    assert info["running version"] == f"{CONFIGS['dev']['url']}/version", "dev's Application was not updated"

    # 3. Two folders with one cluster name: two Applications of the same name.
    (folder / "config.yaml").write_text(dev_config)
    dev_path.write_text(dev_config)
    assert gitops_validate(work).returncode != 0
    commit_and_push(work, "e2e: a second folder for cluster dev")
    stack.procs.until(
        "ApplicationSet duplicate-name error",
        lambda: "duplicate" in appset_conditions(stack).get("ErrorOccurred", {}).get("message", "").lower(),
        120,
    )

    # Clean up: the folder and the destination go, the ApplicationSet recovers.
    shutil.rmtree(folder)
    project.write_text(original_project)
    commit_and_push(work, "e2e: remove the probe cluster")
    stack.apply_projects()
    stack.procs.until(
        "ApplicationSet healthy again",
        lambda: appset_conditions(stack).get("ErrorOccurred", {}).get("status") != "True",
        120,
    )
    assert gitops_validate(work).returncode == 0


def test_a_healthy_dev_deploy_sends_the_promotion_dispatch_through_argocd_notifications(stack, work):
    """The sample notifications config, run by Argo CD's own notifications controller: on-deployed
    fires once dev is Synced + Healthy at the pushed revision, with what the promotion needs."""
    import http.server
    import json
    import threading

    received: list[tuple[float, dict, dict]] = []

    class Receiver(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            received.append((time.monotonic(), dict(self.headers), json.loads(body)))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/repos/example-org/flask-gitops/dispatches"
        stack.argo.start_notifications(ROOT / "argocd" / "notifications" / "argocd-notifications-cm.yaml", url)
        time.sleep(10)  # the controller's first pass: earlier deploys may notify once each
        received.clear()
        tag = f"notify-{int(time.time())}"
        result = gitops(work, stack, "set-image", "--env", "dev", "--tag", tag, "--commit", "--push")
        assert result.returncode == 0, result.stderr
        revision = deploy_revision(stack)
        stack.wait_app(app("dev"), synced_healthy(revision))
        healthy_at = time.monotonic()

        def dispatched():
            # on-deployed's event (the kwok HPA can be Degraded for a moment after a rollout:
            # on-health-degraded then sends its own, flask-gitops-degraded).
            return [r for r in received if r[2]["client_payload"]["revision"] == revision
                    and r[2]["event_type"] == "flask-gitops-deployed"]  # fmt: skip

        stack.procs.until("the on-deployed dispatch for dev", dispatched, 90)
        when, headers, payload = dispatched()[0]
        assert payload["event_type"] == "flask-gitops-deployed"
        assert payload["client_payload"]["environment"] == "dev"
        assert payload["client_payload"]["cluster"] == "dev"
        assert payload["client_payload"]["health"] == "Healthy"
        assert headers["Authorization"] == "Bearer local-stack-token"
        assert when >= healthy_at - 5, "sent only once Argo CD saw the deploy healthy"
        time.sleep(5)
        assert len(dispatched()) == 1, "oncePer the synced revision"
    finally:
        server.shutdown()


def gitops(work: Path, stack, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "ARGOCD_SERVER": stack.argo.url, "ARGOCD_AUTH_TOKEN": stack.api.token}
    return subprocess.run(
        [sys.executable, "-m", "gitops", *args], cwd=work, capture_output=True, text=True, check=False, env=env
    )


def test_status_live_shows_what_argocd_reports_for_every_cluster(stack, work):
    for name in AUTO:  # after the last push: its new pods' first metrics take 15-30 s
        stack.wait_app(app(name), synced_healthy())
    result = gitops(work, stack, "status", "--live", "--output", "json")
    assert result.returncode == 0, result.stderr
    live = {row["cluster"]: row for row in json.loads(result.stdout)["live"]}
    assert set(live) == set(CONFIGS)
    for name, row in live.items():
        sync, health, revision = app_state(stack.api.application(app(name)))
        assert (row["sync"], row["health"], row["revision"]) == (sync, health, revision)
    assert deployment_image(stack, "dev") in live["dev"]["images"]
    table = gitops(work, stack, "status", "--live").stdout
    assert "RUNNING IMAGE" in table
    assert deployment_image(stack, "dev") in table


def test_promotion_is_gated_on_what_argocd_reports_live(stack, work):
    """Refused while dev is Progressing (its new pods cannot be scheduled), accepted once Healthy."""
    patch = work / "apps" / "flask-app" / "overlays" / "dev" / "kustomization.yaml"
    original = patch.read_text()
    unschedulable = (
        "patches:\n"
        "  - target: {kind: Deployment, name: flask-app}\n"
        "    patch: |\n"
        "      - op: add\n"
        "        path: /spec/template/spec/nodeSelector\n"
        '        value: {"flask-gitops/e2e": "no-such-node"}\n'
    )
    assert original.count("patches:\n") == 1
    patch.write_text(original.replace("patches:\n", unschedulable))
    commit_and_push(work, "e2e: dev pods that cannot be scheduled")
    revision = deploy_revision(stack)
    stack.wait_app(app("dev"), lambda a: app_state(a) == ("Synced", "Progressing", revision), timeout=120)
    refused = gitops(work, stack, "promote", "dev", "staging", "--pr-body")
    assert refused.returncode == 1, refused.stdout + refused.stderr
    assert refused.stderr.count("\n") == 1
    assert "cluster dev is Synced/Progressing" in refused.stderr
    assert subprocess.run(["git", "status", "--porcelain"], cwd=work, capture_output=True, text=True).stdout == ""

    patch.write_text(original)
    commit_and_push(work, "e2e: dev schedulable again")
    stack.wait_app(app("dev"), synced_healthy(deploy_revision(stack)), timeout=180)
    # The gate waits for stable health (30 s): --wait re-checks until then.
    accepted = gitops(work, stack, "promote", "dev", "staging", "--pr-body", "--wait", "3m")
    assert accepted.returncode == 0, accepted.stderr
    assert "Argo CD gate: every `dev` cluster is Synced + Healthy and runs this image." in accepted.stdout
    assert "| dev | Synced | Healthy |" in accepted.stdout
    subprocess.run(["git", "checkout", "--quiet", "--", "."], cwd=work, check=True)


def test_a_rollback_is_synced_by_argocd_and_an_image_never_run_is_refused(stack, work):
    before = deployment_image(stack, "dev")
    tag = f"rollback-me-{int(time.time())}"
    assert gitops(work, stack, "set-image", "--env", "dev", "--tag", tag, "--commit", "--push").returncode == 0
    stack.wait_app(app("dev"), synced_healthy(deploy_revision(stack)))
    assert deployment_image(stack, "dev").endswith(f":{tag}")

    never = gitops(work, stack, "rollback", "dev", "--to", "never-ran-here")
    assert never.returncode == 1
    assert "dev never ran flask-app:never-ran-here" in never.stderr

    back = gitops(work, stack, "rollback", "dev", "--steps", "1", "--commit", "--push")
    assert back.returncode == 0, back.stderr
    stack.wait_app(app("dev"), synced_healthy(deploy_revision(stack)))
    assert deployment_image(stack, "dev") == before


WIDE_PROJECT = """apiVersion: argoproj.io/v1alpha1
kind: AppProject
metadata:
  name: everything
spec:
  sourceRepos: ["*"]
  destinations: [{server: "*", namespace: "*"}]
  clusterResourceWhitelist: [{group: "*", kind: "*"}]
"""
SYSTEM_APP = """apiVersion: argoproj.io/v1alpha1
kind: Application
metadata:
  name: {name}
spec:
  project: {project}
  source: {{repoURL: {repo}, targetRevision: HEAD, path: clusters/dev}}
  destination: {{name: in-cluster, namespace: kube-system}}
  syncPolicy: {{automated: {{}}}}
"""


def test_a_merged_escalation_is_refused_by_argocd_itself(stack, work):
    """A pull request adding an AppProject with `*` everywhere and an Application into kube-system
    through it gains nothing; nor does an Application through Argo CD's default project."""
    folder = work / "argocd"
    kustomization = folder / "kustomization.yaml"
    original = kustomization.read_text()

    def merge(files: dict[str, str], message: str) -> str:
        for name, text in files.items():
            (folder / name).write_text(text)
        kustomization.write_text(original.rstrip("\n") + "\n" + "".join(f"  - {n}\n" for n in files))
        commit_and_push(work, message)
        return deploy_revision(stack)

    def revert(files: dict[str, str], message: str) -> None:
        for name in files:
            (folder / name).unlink()
        kustomization.write_text(original)
        commit_and_push(work, message)
        # The refused sync keeps retrying the merged revision (retry with backoff): stop it,
        # as a person would press Terminate, and the next automated sync takes the revert.
        with contextlib.suppress(GitopsError):
            stack.api.call("DELETE", "/api/v1/applications/flask-gitops-root/operation")
        stack.api.application("flask-gitops-root", refresh="normal")
        stack.wait_app("flask-gitops-root", synced_healthy(deploy_revision(stack)), timeout=180)

    wide = {
        "appproject-everything.yaml": WIDE_PROJECT,
        "application-system-everything.yaml": SYSTEM_APP.format(
            name="system-everything", project="everything", repo=stack.repo_url
        ),
    }
    revision = merge(wide, "e2e: an AppProject with * everywhere, merged")
    root = stack.wait_app(
        "flask-gitops-root",
        lambda a: app_state(a)[2] == revision and "not permitted" in json.dumps(a.get("status")),
        120,
    )
    assert "AppProject" in json.dumps(root["status"])
    assert stack.host.maybe_get("appproject", "everything", "-n", "argocd") is None
    assert "system-everything" not in stack.apps()
    revert(wide, "e2e: revert the AppProject")

    default = {
        "application-system-default.yaml": SYSTEM_APP.format(
            name="system-default", project="default", repo=stack.repo_url
        )
    }
    merge(default, "e2e: an Application through the default project, merged")
    stack.procs.until("system-default created", lambda: "system-default" in stack.apps(), 120)
    system = stack.wait_app("system-default", lambda a: "not permitted" in json.dumps(a.get("status")), 120)
    assert app_state(system)[0] != "Synced"
    assert stack.host.maybe_get("deployment", "flask-app", "-n", "kube-system") is None
    revert(default, "e2e: revert the default-project Application")
    stack.procs.until("system-default pruned", lambda: "system-default" not in stack.apps(), 120)
