"""diff, status, configure and render against real repositories and real kustomize."""

from __future__ import annotations

import json

from gitops.cli import main
from tests.gitops.conftest import git, snapshot


def run(repo, *args) -> int:
    return main(["-C", str(repo), *args])


def test_diff_is_empty_and_exit_0_on_a_clean_tree(repo, capsys):
    assert run(repo, "diff") == 0
    assert capsys.readouterr().out == "No rendered changes against HEAD.\n"


def test_diff_shows_each_changed_cluster_and_exits_1(repo, capsys):
    run(repo, "set-image", "--env", "prod", "--tag", "v5", "--digest", "sha256:" + "ef" * 32)
    capsys.readouterr()
    assert run(repo, "diff", "--base", "HEAD") == 1
    out = capsys.readouterr().out
    assert "### clusters/prod-eu" in out
    assert "### clusters/prod-us" in out
    assert "### clusters/dev" not in out
    assert out.count("+        image: registry.example.com/example-org/flask-app:v5@sha256:") == 2


def test_diff_against_an_older_ref_sees_a_new_cluster(repo, capsys):
    base = git(repo, "rev-parse", "HEAD").strip()
    new = repo / "clusters" / "dev-2"
    new.mkdir()
    (new / "kustomization.yaml").write_text((repo / "clusters/dev/kustomization.yaml").read_text())
    (new / "config.yaml").write_text(
        (repo / "clusters/dev/config.yaml").read_text().replace("name: dev", "name: dev-2")
    )
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "add dev-2")
    assert run(repo, "diff", "--base", base) == 1
    out = capsys.readouterr().out
    assert out.count("### clusters/") == 1
    assert "### clusters/dev-2" in out


def test_diff_bad_ref(repo, capsys):
    assert run(repo, "diff", "--base", "no-such-ref") == 1
    assert capsys.readouterr().err.startswith("gitops: error: git rev-parse failed")


def test_status_table_and_json(repo, capsys):
    run(repo, "set-image", "--env", "dev", "--tag", "sha-abcdef1", "--commit")
    commit = git(repo, "rev-parse", "--short", "HEAD").strip()
    capsys.readouterr()
    assert run(repo, "status") == 0
    table = capsys.readouterr().out.splitlines()
    assert table[0].split() == ["ENVIRONMENT", "CLUSTERS", "IMAGE", "TAG", "DIGEST", "CHANGED"]
    assert table[1].split()[:4] == ["dev", "dev", "registry.example.com/example-org/flask-app", "sha-abcdef1"]
    assert table[1].split()[5] == commit
    assert table[3].split()[1] == "prod-eu,prod-us"
    assert run(repo, "status", "--output", "json") == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["environment"] for r in rows] == ["dev", "staging", "prod"]
    assert rows[2]["digest"].startswith("sha256:")
    assert rows[0]["commit"] == commit


def test_configure_rewrites_url_and_image_everywhere(repo, capsys):
    url = "https://git.example.org/acme/platform.git"
    image = "registry.example.org/acme/flask-app"
    assert run(repo, "configure", "--repo", url, "--image", image) == 0
    out = capsys.readouterr().out
    assert out.strip().splitlines()[-1].startswith("validate: ")
    # The notifications' GitHub API URL has no equivalent on another forge: named, not guessed.
    notifications = "argocd/notifications/argocd-notifications-cm.yaml"
    assert f"configure: note: {notifications} still names the old repository" in out
    texts = {p: p.read_text() for p in repo.rglob("*.yaml") if ".git" not in p.parts}
    joined = "".join(t for p, t in texts.items() if not str(p).endswith(notifications))
    assert "example-org" not in joined
    assert joined.count(url) == 6  # gitops.yaml, two AppProjects, ApplicationSet (x2), root app
    assert "https://git.example.org/acme/platform/tree/main/" in joined
    assert joined.count(f"newName: {image}\n") == 3
    assert run(repo, "configure", "--repo", url, "--image", image) == 0
    assert "already configured" in capsys.readouterr().out


def test_configure_rewrites_the_github_api_url_for_a_github_fork(repo, capsys):
    assert run(repo, "configure", "--repo", "https://github.com/acme/platform.git", "--no-validate") == 0
    assert "note:" not in capsys.readouterr().out
    texts = "".join(p.read_text() for p in repo.rglob("*.yaml") if ".git" not in p.parts)
    assert "example-org/flask-gitops" not in texts
    assert "https://api.github.com/repos/acme/platform/dispatches" in texts


def test_configure_rejects_bad_input_and_touches_nothing(repo, capsys):
    before = snapshot(repo)
    assert run(repo, "configure", "--repo", "ftp://x; rm -rf /") == 2
    assert run(repo, "configure", "--image", "acme/Flask-App") == 2
    assert snapshot(repo) == before


def test_render_writes_every_target(repo, tmp_path, capsys):
    out = tmp_path / "rendered"
    assert run(repo, "render", "--out", str(out)) == 0
    names = sorted(p.name for p in out.iterdir())
    assert names == sorted(
        [
            "argocd.yaml",
            "argocd__destinations.yaml",
            "argocd__notifications.yaml",
            "argocd__projects.yaml",
            "apps__flask-app__overlays__dev.yaml",
            "apps__flask-app__overlays__staging.yaml",
            "apps__flask-app__overlays__prod.yaml",
            "clusters__dev.yaml",
            "clusters__staging.yaml",
            "clusters__prod-eu.yaml",
            "clusters__prod-us.yaml",
        ]
    )
    assert "kind: HorizontalPodAutoscaler" in (out / "clusters__dev.yaml").read_text()
    assert "kind: ValidatingAdmissionPolicy\n" in (out / "clusters__dev.yaml").read_text()
    assert "kind: AppProject" in (out / "argocd__projects.yaml").read_text()
    assert "kind: AppProject" not in (out / "argocd.yaml").read_text()
