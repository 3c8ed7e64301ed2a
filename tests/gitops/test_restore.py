"""rollback to a revision (restore.py): ENV's folders as at an earlier commit, from git or from
Argo CD's history, as a new commit with trailers; and a rollback that sticks."""

from __future__ import annotations

import pytest

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


def two_releases(repo) -> str:
    """dev at v1 (digest 1), then v2 (digest 2, the bad one), then rolled back; returns the rollback commit."""
    d1, d2 = "sha256:" + "1a" * 32, "sha256:" + "2b" * 32
    assert run(repo, "set-image", "--env", "dev", "--tag", "v1", "--digest", d1, "--commit") == 0
    assert run(repo, "set-image", "--env", "dev", "--tag", "v2", "--digest", d2, "--commit") == 0
    assert run(repo, "rollback", "dev", "--commit") == 0
    return head(repo)


def test_rolling_back_again_or_by_image_to_what_was_rolled_back_is_refused(repo, capsys):
    """Review: running rollback twice, or --to/--steps, quietly re-deployed the bad release."""
    rollback = two_releases(repo)
    before = snapshot(repo)
    capsys.readouterr()
    for args in (("rollback", "dev"), ("rollback", "dev", "--to", "v2"), ("rollback", "dev", "--steps", "1")):
        assert run(repo, *args, "--commit") == 1, args
        err = capsys.readouterr().err
        assert f"dev was rolled back from it in {rollback[:12]}" in err, err
        assert snapshot(repo) == before
        assert head(repo) == rollback
    assert run(repo, "rollback", "dev", "--to", "v2", "--force", "--commit") == 0


@pytest.mark.parametrize(
    "args",
    [
        ("--tag", "v2-again", "--digest", "sha256:" + "2b" * 32),  # the same digest under a new tag
        ("--tag", "v2", "--image", "REGISTRY.example.com/example-org/flask-app", "--digest", "sha256:" + "2b" * 32),
        ("--tag", "v2", "--image", "registry.example.com:443/example-org/flask-app", "--digest", "sha256:" + "2b" * 32),
    ],
)
def test_the_rolled_back_image_under_another_spelling_is_refused(repo, capsys, args):
    two_releases(repo)
    before = snapshot(repo)
    assert run(repo, "set-image", "--env", "dev", *args, "--commit") == 1
    assert "dev was rolled back from it" in capsys.readouterr().err
    assert snapshot(repo) == before


def test_any_file_name_is_restored(repo):
    """Review: names git quotes (non-ASCII, tabs) were skipped without a word."""
    assert run(repo, "set-image", "--env", "dev", "--tag", "v0", "--commit") == 0
    (repo / OVERLAY / "café.yaml").write_text("x: 1\n")
    (repo / OVERLAY / "tab\tname.yaml").write_text("y: 1\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "dev: odd names")
    good = head(repo)
    (repo / OVERLAY / "café.yaml").write_text("x: 2\n")
    (repo / OVERLAY / "tab\tname.yaml").unlink()
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "dev: changed")
    assert run(repo, "rollback", "dev", "--commit") == 0
    assert git(repo, "diff", "--stat", good, "HEAD", "--", OVERLAY) == ""


@pytest.mark.parametrize("kind", ["symlink", "executable"])
def test_what_is_not_a_plain_file_is_refused_and_nothing_changes(repo, capsys, kind):
    assert run(repo, "set-image", "--env", "dev", "--tag", "v0", "--commit") == 0
    target = repo / OVERLAY / "odd.yaml"
    if kind == "symlink":
        target.symlink_to("/etc/hostname")
    else:
        target.write_text("a: 1\n")
        target.chmod(0o755)
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", f"dev: a {kind}")
    odd = head(repo)
    target.unlink()
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "dev: gone")
    before, at = snapshot(repo), head(repo)
    assert run(repo, "rollback", "dev", "--revision", odd, "--commit") == 1
    assert "only plain files are restored" in capsys.readouterr().err
    assert snapshot(repo) == before
    assert head(repo) == at


def test_a_cluster_folder_added_since_is_not_removed_by_a_rollback(repo, capsys):
    assert run(repo, "set-image", "--env", "dev", "--tag", "v0", "--commit") == 0
    first = head(repo)
    folder = repo / "clusters" / "dev2"
    folder.mkdir()
    for name in ("config.yaml", "kustomization.yaml"):
        text = (repo / "clusters" / "dev" / name).read_text()
        (folder / name).write_text(text.replace("name: dev", "name: dev2").replace("cluster: dev", "cluster: dev2"))
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "a second dev cluster")
    before, at = snapshot(repo), head(repo)
    assert run(repo, "rollback", "dev", "--revision", first, "--commit") == 1
    assert "cluster folder clusters/dev2 did not exist" in capsys.readouterr().err
    assert snapshot(repo) == before
    assert head(repo) == at


def test_an_ignored_local_file_in_the_way_is_refused_not_overwritten(repo, capsys):
    (repo / OVERLAY / "local.yaml").write_text("keep: 1\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "dev: a file")
    had = head(repo)
    git(repo, "rm", "-q", f"{OVERLAY}/local.yaml")
    (repo / OVERLAY / ".gitignore").write_text("local.yaml\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "dev: the file is local now")
    (repo / OVERLAY / "local.yaml").write_text("LOCAL PRECIOUS DATA\n")
    assert run(repo, "rollback", "dev", "--revision", had, "--commit") == 1
    assert "ignored" in capsys.readouterr().err
    assert (repo / OVERLAY / "local.yaml").read_text() == "LOCAL PRECIOUS DATA\n"
