"""promote: order from configuration, tag and digest copied, PR body with commits and diffs."""

from __future__ import annotations

import json

from gitops.cli import main
from tests.gitops.conftest import git, snapshot

DIGEST = "sha256:" + "cd" * 32
STAGING = "apps/flask-app/overlays/staging/kustomization.yaml"
PROD = "apps/flask-app/overlays/prod/kustomization.yaml"


def run(repo, *args) -> int:
    return main(["-C", str(repo), *args])


def test_promote_copies_tag_and_digest(repo):
    run(repo, "set-image", "--env", "staging", "--tag", "sha-1111111", "--digest", DIGEST)
    assert run(repo, "promote", "staging", "prod") == 0
    text = (repo / PROD).read_text()
    assert "newTag: sha-1111111\n" in text
    assert f"digest: {DIGEST}\n" in text


def test_skipping_a_stage_is_refused_unless_forced(repo, capsys):
    run(repo, "set-image", "--env", "dev", "--tag", "v2", "--digest", DIGEST)
    before = snapshot(repo)
    assert run(repo, "promote", "dev", "prod") == 2
    assert "dev -> prod is not the next stage (order: dev -> staging -> prod)" in capsys.readouterr().err
    assert snapshot(repo) == before
    assert run(repo, "promote", "dev", "prod", "--force") == 0
    assert "newTag: v2" in (repo / PROD).read_text()


def test_order_is_configuration(repo, capsys):
    config = repo / "gitops.yaml"
    config.write_text(config.read_text().replace("  - dev\n  - staging\n", "  - staging\n  - dev\n"))
    assert run(repo, "promote", "staging", "dev") == 0
    assert run(repo, "promote", "dev", "staging") == 2


def test_promote_without_digest_into_prod_is_refused(repo, capsys):
    assert run(repo, "set-image", "--env", "staging", "--tag", "v7") == 0  # a tag alone, no digest
    capsys.readouterr()
    before = snapshot(repo)
    assert run(repo, "promote", "staging", "prod") == 2
    assert "prod must be pinned by digest" in capsys.readouterr().err
    assert snapshot(repo) == before


def test_pr_body_lists_versions_commits_and_rendered_diff(repo, capsys):
    src = repo / "src"
    src.mkdir()
    (src / "app.py").write_text("v1\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "feat: first version")
    old = git(repo, "rev-parse", "--short=7", "HEAD").strip()
    (src / "app.py").write_text("v2\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "fix: second version")
    new = git(repo, "rev-parse", "--short=7", "HEAD").strip()
    (repo / "NOTES.md").write_text("not the service\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "docs: not in the service log")
    run(repo, "set-image", "--env", "staging", "--tag", f"sha-{old}", "--commit")
    run(repo, "set-image", "--env", "dev", "--tag", f"sha-{new}", "--commit")
    capsys.readouterr()

    assert run(repo, "promote", "dev", "staging", "--pr-body") == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0] == f"promote(staging): flask-app sha-{new} from dev"
    assert f"| staging now | `registry.example.com/example-org/flask-app:sha-{old}` |" in out
    assert f"| staging after merge | `registry.example.com/example-org/flask-app:sha-{new}` |" in out
    assert "fix: second version" in out
    assert "feat: first version" not in out
    assert "docs: not in the service log" not in out
    assert "<summary>staging</summary>" in out
    assert "<summary>prod-eu</summary>" not in out
    assert f"-        image: registry.example.com/example-org/flask-app:sha-{old}" in out
    assert f"+        image: registry.example.com/example-org/flask-app:sha-{new}" in out


def test_promote_commit_message(repo):
    run(repo, "set-image", "--env", "dev", "--tag", "sha-2222222", "--commit")
    assert run(repo, "promote", "dev", "staging", "--commit") == 0
    assert git(repo, "log", "-1", "--format=%s").strip() == "deploy(staging): flask-app sha-2222222"


def test_promote_unknown_environment(repo, capsys):
    assert run(repo, "promote", "dev", "qa") == 2
    assert "unknown environment 'qa'" in capsys.readouterr().err


def test_without_argocd_the_gate_is_said_to_be_unchecked(repo, capsys, monkeypatch):
    monkeypatch.delenv("ARGOCD_SERVER", raising=False)
    run(repo, "set-image", "--env", "dev", "--tag", "v5")
    capsys.readouterr()
    assert run(repo, "promote", "dev", "staging", "--pr-body") == 0
    captured = capsys.readouterr()
    assert "Argo CD gate: **not checked**" in captured.out
    assert captured.err == ""
    assert run(repo, "promote", "dev", "staging") == 0
    assert "promote: the Argo CD gate was not checked" in capsys.readouterr().out


def test_an_argocd_server_without_a_token_is_bad_input_and_changes_nothing(repo, capsys, monkeypatch):
    monkeypatch.delenv("ARGOCD_AUTH_TOKEN", raising=False)
    before = snapshot(repo)
    assert run(repo, "promote", "dev", "staging", "--argocd", "http://127.0.0.1:9") == 2
    assert "ARGOCD_AUTH_TOKEN" in capsys.readouterr().err
    assert snapshot(repo) == before


def test_an_unreachable_argocd_refuses_the_promotion_in_one_line(repo, capsys, monkeypatch):
    monkeypatch.setenv("ARGOCD_AUTH_TOKEN", "t")
    before = snapshot(repo)
    # Port 9 (discard) on loopback: nothing listens, the connection is refused at once.
    assert run(repo, "promote", "dev", "staging", "--argocd", "http://127.0.0.1:9") == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "argocd: GET 127.0.0.1:9/api/v1/applications/flask-app-dev: [Errno 111] Connection refused" in err
    assert snapshot(repo) == before


def test_the_token_and_url_credentials_never_reach_an_error_message(repo, capsys, monkeypatch):
    monkeypatch.setenv("ARGOCD_AUTH_TOKEN", "secret-token\nsecond-line")
    assert run(repo, "promote", "dev", "staging", "--argocd", "http://127.0.0.1:9") == 2
    monkeypatch.setenv("ARGOCD_AUTH_TOKEN", "secret-token")
    assert run(repo, "promote", "dev", "staging", "--argocd", "https://admin:hunter2@argocd.example.com") == 2
    assert run(repo, "promote", "dev", "staging", "--argocd", "http://argocd.example.com") == 2  # http off-machine
    assert run(repo, "promote", "dev", "staging", "--argocd", "http://[::1") == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 4
    assert "secret-token" not in err
    assert "hunter2" not in err


def test_a_backwards_promotion_is_refused_without_suggesting_force(repo, capsys):
    before = snapshot(repo)
    for extra in ([], ["--force"]):
        assert run(repo, "promote", "prod", "dev", *extra) == 2
        err = capsys.readouterr().err
        assert err == (
            "gitops: error: promote: prod -> dev goes backwards (order: dev -> staging -> prod); "
            "to give dev an image it ran before, use 'gitops rollback dev'\n"
        )
    assert snapshot(repo) == before


def _healthy_dev(repo, fake) -> str:
    """dev Synced + Healthy in the fake Argo CD, running what its overlay names; returns that image."""
    from gitops import gate, images
    from harness.testing.argocd import application

    ref = images.read(repo / "apps/flask-app/overlays/dev/kustomization.yaml", "flask-app", "dev")
    image = gate.rendered(ref.name or "registry.example.com/example-org/flask-app", ref)
    fake.apps["flask-app-dev"] = application("flask-app-dev", images=(image,))
    deployment = {"kind": "Deployment", "spec": {"template": {"spec": {"containers": [{"image": image}]}}}}
    fake.manifests["flask-app-dev"] = [json.dumps(deployment)]
    fake.apps["flask-app-staging"] = application("flask-app-staging", images=(image,))
    return image


def test_a_passing_gate_says_so_and_the_body_keeps_the_digest(repo, capsys, monkeypatch):
    from harness.testing.argocd import TOKEN, FakeArgoCD

    monkeypatch.setenv("ARGOCD_AUTH_TOKEN", TOKEN)
    run(repo, "set-image", "--env", "staging", "--tag", "v0")
    git(repo, "commit", "-qam", "staging: v0")
    with FakeArgoCD() as fake:
        image = _healthy_dev(repo, fake)
        assert "@sha256:" in image
        capsys.readouterr()
        assert run(repo, "promote", "dev", "staging", "--argocd", fake.url, "--pr-body") == 0
        body = capsys.readouterr().out
        assert f"| dev | Synced | Healthy | `000000000000` | `{image}` |" in body
        assert run(repo, "promote", "dev", "staging", "--argocd", fake.url) == 0
    out = capsys.readouterr().out.splitlines()
    assert "promote: the Argo CD gate passed: every dev cluster is Synced + Healthy and runs this image." in out


def test_pr_body_only_prints_and_leaves_the_working_tree_alone(repo, capsys):
    run(repo, "set-image", "--env", "dev", "--tag", "v7", "--commit")
    before, head = snapshot(repo), git(repo, "rev-parse", "HEAD")
    capsys.readouterr()
    assert run(repo, "promote", "dev", "staging", "--pr-body") == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0] == "promote(staging): flask-app v7 from dev"
    assert "+        image: registry.example.com/example-org/flask-app:v7" in out
    assert snapshot(repo) == before
    assert git(repo, "rev-parse", "HEAD") == head
    assert git(repo, "status", "--porcelain") == ""
