"""`gitops status --live` against a fake Argo CD API: every Application, the ApplicationSet, the exit code."""

from __future__ import annotations

import json

import pytest

from gitops.cli import main
from harness.testing.argocd import TOKEN, FakeArgoCD, application, application_set

IMAGE = "registry.example.com/example-org/flask-app:sha-3b9cb9f"
TYPO = (
    'failed to execute go template {{ .autoSync }}: template: :1:4: executing "" at <.autoSync>: '
    'map has no entry for key "autoSync"'
)


def run(repo, *args) -> int:
    return main(["-C", str(repo), *args])


@pytest.fixture
def argo(monkeypatch):
    monkeypatch.setenv("ARGOCD_AUTH_TOKEN", TOKEN)
    monkeypatch.delenv("ARGOCD_SERVER", raising=False)
    with FakeArgoCD() as fake:
        for cluster in ("dev", "staging"):
            fake.apps[f"flask-app-{cluster}"] = application(f"flask-app-{cluster}", images=(IMAGE,))
        for cluster in ("prod-eu", "prod-us"):  # manual sync, never synced: waiting for a person
            fake.apps[f"flask-app-{cluster}"] = application(f"flask-app-{cluster}", "OutOfSync", "Missing")
        fake.apps["flask-gitops-root"] = application("flask-gitops-root")
        fake.appsets["flask-app"] = application_set("flask-app")
        fake.appsets["addons"] = application_set("addons")  # the cluster add-ons' (argocd/applicationset-addons.yaml)
        yield fake


def test_a_healthy_loop_shows_the_root_application_and_the_applicationset_and_exits_0(repo, argo, capsys):
    assert run(repo, "status", "--live", "--argocd", argo.url) == 0
    captured = capsys.readouterr()
    assert captured.err == ""
    lines = captured.out.splitlines()
    assert any(line.split()[:4] == ["Application", "flask-gitops-root", "Synced", "Healthy"] for line in lines)
    assert any(line.split()[:4] == ["ApplicationSet", "flask-app", "-", "Healthy"] for line in lines)
    assert any(line.split()[:4] == ["ApplicationSet", "addons", "-", "Healthy"] for line in lines)
    assert "not healthy" not in captured.out


def test_a_broken_applicationset_is_shown_with_its_message_and_exits_1(repo, argo, capsys):
    # What a pushed config.yaml typo does: the ApplicationSet cannot render, the root Application
    # that holds it is Degraded, and the Applications it made before still look fine.
    argo.appsets["flask-app"] = application_set("flask-app", error=TYPO)
    argo.apps["flask-gitops-root"] = application(
        "flask-gitops-root", health="Degraded", health_message='map has no entry for key "autoSync"'
    )
    assert run(repo, "status", "--live", "--argocd", argo.url) == 1
    captured = capsys.readouterr()
    assert "ErrorOccurred, ResourcesUpToDate: failed to execute go template {{ .autoSync }}" in captured.out
    assert 'map has no entry for key "autoSync"' in captured.out
    assert any(
        line.split()[:4] == ["ApplicationSet", "flask-app", "-", "Degraded"] for line in captured.out.splitlines()
    )
    assert captured.err == (
        "gitops: error: status --live: not healthy in Argo CD: Application flask-gitops-root (Synced/Degraded), "
        "ApplicationSet flask-app (Degraded)\n"
    )


def test_a_degraded_cluster_and_a_missing_applicationset_exit_1(repo, argo, capsys):
    del argo.appsets["flask-app"]
    argo.apps["flask-app-dev"] = application(
        "flask-app-dev", health="Degraded", conditions=(("SyncError", "one or more objects failed to apply"),)
    )
    assert run(repo, "status", "--live", "--argocd", argo.url, "--output", "json") == 1
    captured = capsys.readouterr()
    document = json.loads(captured.out)
    assert document["healthy"] is False
    assert {o["name"]: o["health"] for o in document["argocd"]} == {
        "flask-gitops-root": "Healthy",
        "flask-app": "Missing",
        "addons": "Healthy",
    }
    dev = next(c for c in document["live"] if c["cluster"] == "dev")
    assert dev["messages"] == ["SyncError: one or more objects failed to apply"]
    assert "ApplicationSet flask-app (not in Argo CD)" in captured.err
    assert "Application flask-app-dev (Synced/Degraded)" in captured.err
    assert captured.err.count("\n") == 1


def test_only_argocd_server_set_without_a_token_names_the_variable_and_keeps_the_scheme(repo, capsys, monkeypatch):
    monkeypatch.delenv("ARGOCD_AUTH_TOKEN", raising=False)
    monkeypatch.setenv("ARGOCD_SERVER", "http://127.0.0.1:9")
    assert run(repo, "status", "--live") == 2
    err = capsys.readouterr().err
    assert err == "gitops: error: ARGOCD_SERVER http://127.0.0.1:9: set ARGOCD_AUTH_TOKEN to an Argo CD API token\n"
    monkeypatch.setenv("ARGOCD_AUTH_TOKEN", TOKEN)
    monkeypatch.setenv("ARGOCD_SERVER", "http://argocd.example.com")
    assert run(repo, "status", "--live") == 2
    err = capsys.readouterr().err
    assert err.startswith("gitops: error: ARGOCD_SERVER http://argocd.example.com: plain http only on this machine")


def test_status_says_when_the_tree_differs_from_what_was_committed_or_pushed(origin, tmp_path, capsys):
    from tests.gitops.conftest import clone, git

    work = clone(origin, tmp_path / "work")
    assert run(work, "set-image", "--env", "dev", "--tag", "v2", "--commit") == 0
    assert run(work, "set-image", "--env", "staging", "--tag", "v3") == 0
    capsys.readouterr()
    assert run(work, "status") == 0
    rows = {line.split()[0]: line for line in capsys.readouterr().out.splitlines()[1:]}
    assert rows["dev"].endswith("(committed, not pushed)")
    assert rows["staging"].endswith("(edited, not committed)")
    assert "not" not in rows["prod"]
    # Pushed to another remote than the branch's upstream (the quick start's `git push local
    # HEAD:main`): pushed all the same.
    git(work, "remote", "add", "local", str(origin))
    git(work, "push", "-q", "local", "HEAD:main")
    assert run(work, "status", "--output", "json") == 0
    states = {r["environment"]: r["state"] for r in json.loads(capsys.readouterr().out)}
    assert states == {"dev": "", "staging": "edited, not committed", "prod": ""}


def test_a_revision_this_checkout_does_not_have_is_explained_where_it_is_shown(repo, argo, capsys):
    argo.apps["flask-app-dev"] = application("flask-app-dev", revision="ab" * 20, images=(IMAGE,))
    assert run(repo, "status", "--live", "--argocd", argo.url) == 0
    out = capsys.readouterr().out
    note = next(line for line in out.splitlines() if line.startswith("(REVISION is the commit Argo CD synced; "))
    assert "abababababab" in note
    assert "is not in this checkout" in note
    assert "deploy/local" in note


def test_a_missing_addons_applicationset_is_named_and_exits_1(repo, argo, capsys):
    del argo.appsets["addons"]
    assert run(repo, "status", "--live", "--argocd", argo.url) == 1
    assert "ApplicationSet addons (not in Argo CD)" in capsys.readouterr().err
