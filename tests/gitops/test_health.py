"""health.py through the commands: the reasons of an unhealthy Application (status --live,
the gate), and the gate's wait for stable health (healthyFor, soak, restarts, --wait)."""

from __future__ import annotations

import json
import re

import pytest

from gitops.cli import main
from harness.testing.argocd import TOKEN, FakeArgoCD, application, pod
from tests.gitops.conftest import git, snapshot
from tests.gitops.test_promote import _healthy_dev


def run(repo, *args) -> int:
    return main(["-C", str(repo), *args])


@pytest.fixture
def fake(repo, monkeypatch):
    monkeypatch.setenv("ARGOCD_AUTH_TOKEN", TOKEN)
    run(repo, "set-image", "--env", "staging", "--tag", "v0")
    git(repo, "commit", "-qam", "staging: v0")
    with FakeArgoCD() as server:
        yield server


def crash_looping(fake, reason="CrashLoopBackOff", last="Error", restarts=3):
    fake.apps["flask-app-dev"] = application("flask-app-dev", health="Degraded")
    fake.trees["flask-app-dev"] = [
        {"kind": "Deployment", "group": "apps", "version": "v1", "namespace": "flask-app-dev", "name": "flask-app",
         "health": {"status": "Degraded", "message": "Deployment \"flask-app\" exceeded its progress deadline"}},
        {"kind": "Pod", "version": "v1", "namespace": "flask-app-dev", "name": "flask-app-7d9f-abcde",
         "health": {"status": "Degraded", "message": "back-off 40s restarting failed container"}},
        {"kind": "Pod", "version": "v1", "namespace": "flask-app-dev", "name": "flask-app-5c4b-old01",
         "health": {"status": "Healthy"}},
    ]  # fmt: skip
    fake.pods["flask-app-7d9f-abcde"] = pod("flask-app-7d9f-abcde", reason, restarts, last)


def test_status_live_names_the_crash_looping_pod_and_its_restarts(repo, fake, capsys):
    crash_looping(fake)
    assert run(repo, "status", "--live", "--argocd", fake.url) == 1
    out, err = capsys.readouterr()
    assert "pod flask-app-7d9f-abcde CrashLoopBackOff (last exit: Error, exit code 1), 3 restarts" in out
    assert "deployment flask-app" not in out, "the pod's reason says more than its workload's"
    assert "flask-app-5c4b-old01" not in out, "a healthy pod is no reason"
    assert err.count("\n") == 1
    assert "Application flask-app-dev (Synced/Degraded: pod flask-app-7d9f-abcde CrashLoopBackOff" in err


def test_without_a_pod_to_blame_the_workloads_message_is_the_reason(repo, fake, capsys):
    crash_looping(fake)
    fake.trees["flask-app-dev"] = fake.trees["flask-app-dev"][:1]  # the Deployment alone
    assert run(repo, "status", "--live", "--argocd", fake.url) == 1
    out = capsys.readouterr().out
    assert 'deployment flask-app Degraded: Deployment "flask-app" exceeded its progress deadline' in out


def test_an_oom_killed_container_is_shown_with_its_reason(repo, fake, capsys):
    crash_looping(fake, last="OOMKilled", restarts=1)
    assert run(repo, "status", "--live", "--argocd", fake.url, "--output", "json") == 1
    live = {row["cluster"]: row for row in json.loads(capsys.readouterr().out)["live"]}
    assert (
        "pod flask-app-7d9f-abcde CrashLoopBackOff (last exit: OOMKilled, exit code 137), 1 restart"
        in (live["dev"]["reasons"])
    )


def test_the_gate_refuses_with_the_reason_from_the_resource_tree(repo, fake, capsys):
    _healthy_dev(repo, fake)
    crash_looping(fake)
    before = snapshot(repo)
    assert run(repo, "promote", "dev", "staging", "--argocd", fake.url) == 1
    err = capsys.readouterr().err
    assert "refused by the Argo CD gate: dev: cluster dev is Synced/Degraded" in err
    assert "pod flask-app-7d9f-abcde CrashLoopBackOff (last exit: Error, exit code 1), 3 restarts" in err
    assert snapshot(repo) == before


def healthy_dev(repo, fake, **kwargs) -> None:
    image = _healthy_dev(repo, fake)
    fake.apps["flask-app-dev"] = application("flask-app-dev", images=(image,), **kwargs)


def test_health_held_for_less_than_healthy_for_is_refused_with_the_time_left(repo, fake, capsys):
    healthy_dev(repo, fake, healthy_for=10)
    before = snapshot(repo)
    assert run(repo, "promote", "dev", "staging", "--argocd", fake.url) == 1
    err = capsys.readouterr().err
    assert re.search(r"dev: cluster dev: healthy 1[01]s ago; stable health needs 30s \(\d+s left\)", err)
    assert snapshot(repo) == before
    healthy_dev(repo, fake, healthy_for=31)
    assert run(repo, "promote", "dev", "staging", "--argocd", fake.url) == 0


def test_a_sync_that_finished_a_moment_ago_counts_even_if_health_did_not_change(repo, fake, capsys):
    """Health unchanged since before the sync (the stale "momentarily healthy" read): the wait
    counts from the sync's end."""
    healthy_dev(repo, fake, healthy_for=3600, synced_ago=4)
    fake.committed_ago = 60
    assert run(repo, "promote", "dev", "staging", "--argocd", fake.url) == 1
    assert re.search(r"healthy [45]s ago; stable health needs 30s \(2[56]s left\)", capsys.readouterr().err)


def test_a_sync_that_finished_before_the_commit_was_made_is_refused(repo, fake, capsys):
    healthy_dev(repo, fake, healthy_for=600)
    fake.committed_ago = 60
    assert run(repo, "promote", "dev", "staging", "--argocd", fake.url) == 1
    assert "its last sync finished at" in capsys.readouterr().err


def test_a_pod_that_restarted_within_the_window_is_refused(repo, fake, capsys):
    healthy_dev(repo, fake)
    fake.trees["flask-app-dev"] = [{"kind": "Pod", "version": "v1", "namespace": "flask-app-dev",
                                    "name": "flask-app-7d9f-abcde", "health": {"status": "Healthy"}}]  # fmt: skip
    fake.pods["flask-app-7d9f-abcde"] = pod("flask-app-7d9f-abcde", restarts=2, started_ago=12)
    assert run(repo, "promote", "dev", "staging", "--argocd", fake.url) == 1
    err = capsys.readouterr().err
    assert re.search(r"pod flask-app-7d9f-abcde restarted 1[23]s ago; stable health needs 30s \(1[78]s left\)", err)


def test_an_environments_soak_is_the_wait_before_it_is_promoted_from(repo, fake, capsys):
    config = repo / "gitops.yaml"
    config.write_text(config.read_text().replace("soak: {}\n", "soak:\n  dev: 10m\n"))
    git(repo, "commit", "-qam", "soak dev for 10 minutes")
    healthy_dev(repo, fake, healthy_for=120)
    assert run(repo, "promote", "dev", "staging", "--argocd", fake.url) == 1
    assert re.search(r"stable health needs 600s \(4[78]\ds left\)", capsys.readouterr().err)
    healthy_dev(repo, fake, healthy_for=601)
    assert run(repo, "promote", "dev", "staging", "--argocd", fake.url) == 0


@pytest.mark.parametrize("soak", ["10 minutes", "-5m", "1d", "''", "[10m]"])
def test_a_soak_that_does_not_parse_is_one_line_exit_2_and_nothing_written(repo, fake, capsys, soak):
    config = repo / "gitops.yaml"
    config.write_text(config.read_text().replace("soak: {}\n", f"soak:\n  dev: {soak}\n"))
    healthy_dev(repo, fake, healthy_for=3600)
    before = snapshot(repo)
    assert run(repo, "promote", "dev", "staging", "--argocd", fake.url) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "gitops.yaml" in err
    assert "soak" in err
    assert snapshot(repo) == before


def test_wait_rechecks_until_health_has_been_stable_long_enough(repo, fake, capsys):
    healthy_dev(repo, fake, healthy_for=27)
    assert run(repo, "promote", "dev", "staging", "--argocd", fake.url, "--wait", "1m") == 0
    out = capsys.readouterr().out
    assert "promote: waiting (" in out
    assert "stable health needs 30s" in out
    assert "promote: the Argo CD gate passed" in out


def test_wait_gives_up_with_what_is_still_missing(repo, fake, capsys):
    crash_looping(fake)
    before = snapshot(repo)
    assert run(repo, "promote", "dev", "staging", "--argocd", fake.url, "--wait", "1s") == 1
    assert "CrashLoopBackOff" in capsys.readouterr().err
    assert snapshot(repo) == before


def test_a_pod_argocd_will_not_show_is_refused_not_assumed_stable(repo, fake, capsys):
    """Deny by default: with impersonation, Argo CD reads pods as the sync's account; when it
    may not, whether a pod restarted is unknown, and the gate says so."""
    healthy_dev(repo, fake)
    fake.trees["flask-app-dev"] = [{"kind": "Pod", "version": "v1", "namespace": "flask-app-dev",
                                    "name": "flask-app-hidden", "health": {"status": "Healthy"}}]  # fmt: skip
    assert run(repo, "promote", "dev", "staging", "--argocd", fake.url) == 1
    assert "Argo CD would not show pod flask-app-hidden" in capsys.readouterr().err


@pytest.mark.parametrize("text", ["healthyFor: 0s", "soak:\n  1: 1m", "soak:\n  dev: 0m"])
def test_a_wait_that_is_zero_or_keyed_by_a_number_is_exit_2(repo, fake, capsys, text):
    config = repo / "gitops.yaml"
    body = config.read_text().replace("healthyFor: 30s\n", "").replace("soak: {}\n", "")
    config.write_text(body + text + "\n")
    before = snapshot(repo)
    assert run(repo, "promote", "dev", "staging", "--argocd", fake.url) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "internal error" not in err
    assert snapshot(repo) == before
