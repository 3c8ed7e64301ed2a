"""`gitops diff`: the rendered diff per cluster between a git ref and the working tree, against real kustomize."""

from __future__ import annotations

from tests.gitops.conftest import git, run


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
