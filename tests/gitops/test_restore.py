"""rollback to a revision (restore.py): ENV's folders as at an earlier commit, from git or from
Argo CD's history, as a new commit with trailers; and a rollback that sticks."""

from __future__ import annotations

from gitops.cli import main
from harness.testing.argocd import TOKEN, FakeArgoCD, application
from tests.gitops.conftest import git, snapshot

OVERLAY = "apps/flask-app/overlays/dev"
DEV = f"{OVERLAY}/kustomization.yaml"
STAGING = "apps/flask-app/overlays/staging/kustomization.yaml"


def run(repo, *args) -> int:
    return main(["-C", str(repo), *args])


def head(repo) -> str:
    return git(repo, "rev-parse", "HEAD").strip()


def bad_release(repo) -> tuple[str, str]:
    """A good dev deploy, then a bad one: a log level the app cannot start with, and a new patch file.
    Returns (good, bad) commits."""
    assert run(repo, "set-image", "--env", "dev", "--tag", "v1", "--commit") == 0
    good = head(repo)
    text = (repo / DEV).read_text()
    assert "LOG_LEVEL=DEBUG" in text
    (repo / DEV).write_text(text.replace("LOG_LEVEL=DEBUG", "LOG_LEVEL=NOPE"))
    (repo / OVERLAY / "memory.yaml").write_text("# a patch this release added\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "dev: a bad release")
    return good, head(repo)


def test_rollback_restores_the_folders_byte_for_byte_as_a_new_commit(repo, capsys):
    good, bad = bad_release(repo)
    assert run(repo, "rollback", "dev", "--commit") == 0
    assert git(repo, "show", f"{good}:{DEV}") == (repo / DEV).read_text()
    assert not (repo / OVERLAY / "memory.yaml").exists(), "a file the bad release added is deleted"
    assert git(repo, "rev-parse", "HEAD~1").strip() == bad, "history is not rewritten"
    message = git(repo, "log", "-1", "--format=%B")
    assert message.startswith(f"rollback(dev): flask-app as at {good[:12]} (from {bad[:12]})")
    assert f"Rolled-back-from: {bad}" in message
    assert git(repo, "status", "--porcelain") == ""
    assert git(repo, "diff", "--stat", good, "HEAD", "--", OVERLAY) == ""


def test_rollback_to_a_revision_given_by_hand(repo):
    assert run(repo, "set-image", "--env", "dev", "--tag", "v0", "--commit") == 0
    first = head(repo)
    bad_release(repo)
    assert run(repo, "rollback", "dev", "--revision", first[:10], "--commit") == 0
    assert "newTag: v0\n" in (repo / DEV).read_text()


def test_a_revision_that_does_not_exist_is_one_line_exit_2_and_nothing_written(repo, capsys):
    bad_release(repo)
    before, at = snapshot(repo), head(repo)
    for revision in ("0123456789abcdef", "-all", "HEAD~99", "HEAD:gitops.yaml"):
        assert run(repo, "rollback", "dev", f"--revision={revision}", "--commit") == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1
        assert f"rollback: --revision {revision}" in err or f"rollback: --revision '{revision}'" in err
    assert snapshot(repo) == before
    assert head(repo) == at


def test_a_revision_that_never_touched_the_environment_is_exit_2(repo, capsys):
    bad_release(repo)
    assert run(repo, "set-image", "--env", "staging", "--tag", "s1", "--commit") == 0
    staging_only = head(repo)
    before = snapshot(repo)
    assert run(repo, "rollback", "dev", "--revision", staging_only, "--commit") == 2
    err = capsys.readouterr().err
    assert f"{staging_only[:12]} never changed dev" in err
    assert snapshot(repo) == before
    assert head(repo) == staging_only


def test_without_argocd_the_previous_revision_is_the_commit_before_the_last_change(repo):
    good, _ = bad_release(repo)
    assert run(repo, "rollback", "dev") == 0
    assert (repo / DEV).read_text() == git(repo, "show", f"{good}:{DEV}")


def test_with_argocd_the_previous_revision_is_what_argocd_deployed_before(repo, monkeypatch):
    assert run(repo, "set-image", "--env", "dev", "--tag", "v0", "--commit") == 0
    deployed_before = head(repo)
    _good, bad = bad_release(repo)  # Argo CD never deployed `good` (say, pushed together with bad)
    monkeypatch.setenv("ARGOCD_AUTH_TOKEN", TOKEN)
    with FakeArgoCD() as fake:
        fake.apps["flask-app-dev"] = application("flask-app-dev", revision=bad, history=(deployed_before, bad))
        assert run(repo, "rollback", "dev", "--argocd", fake.url) == 0
    assert (repo / DEV).read_text() == git(repo, "show", f"{deployed_before}:{DEV}")


def test_a_rollback_sticks_until_something_newer_is_deployed(repo, capsys):
    assert run(repo, "set-image", "--env", "dev", "--tag", "v1", "--commit") == 0
    assert run(repo, "set-image", "--env", "dev", "--tag", "v2", "--commit") == 0
    bad = head(repo)
    assert run(repo, "rollback", "dev", "--commit") == 0
    rollback = head(repo)
    capsys.readouterr()
    before = snapshot(repo)
    assert run(repo, "set-image", "--env", "dev", "--tag", "v2", "--commit") == 1
    err = capsys.readouterr().err
    assert f"dev was rolled back from it in {rollback[:12]}" in err
    assert snapshot(repo) == before
    assert run(repo, "rollback", "dev", "--revision", bad, "--commit") == 1
    assert "revision" in capsys.readouterr().err
    assert head(repo) == rollback
    assert run(repo, "set-image", "--env", "dev", "--tag", "v3", "--commit") == 0, "something newer"
    assert run(repo, "set-image", "--env", "dev", "--tag", "v2", "--commit") == 0, "the rollback no longer sticks"


def test_force_deploys_a_rolled_back_image_again(repo):
    assert run(repo, "set-image", "--env", "dev", "--tag", "v1", "--commit") == 0
    assert run(repo, "set-image", "--env", "dev", "--tag", "v2", "--commit") == 0
    assert run(repo, "rollback", "dev", "--steps", "1", "--commit") == 0
    assert "Rolled-back-image: registry.example.com/example-org/flask-app:v2" in git(repo, "log", "-1", "--format=%B")
    assert run(repo, "set-image", "--env", "dev", "--tag", "v2", "--force", "--commit") == 0
    assert "newTag: v2\n" in (repo / DEV).read_text()


def test_promoting_a_rolled_back_image_into_that_environment_is_refused(repo, capsys):
    assert run(repo, "set-image", "--env", "staging", "--tag", "v1", "--commit") == 0
    assert run(repo, "set-image", "--env", "dev", "--tag", "v2", "--commit") == 0
    assert run(repo, "promote", "dev", "staging", "--commit") == 0
    assert run(repo, "rollback", "staging", "--commit") == 0
    capsys.readouterr()
    assert run(repo, "promote", "dev", "staging", "--commit") == 1
    assert "staging was rolled back from it" in capsys.readouterr().err
    assert "newTag: v1\n" in (repo / STAGING).read_text()
