"""The deploy transaction (gitops.deploy) behind set-image's --commit and --push: git checked
before a byte is written, only the written file committed, nothing half-done after a failure."""

from __future__ import annotations

import subprocess
import threading
import time

from tests.gitops.conftest import DEV, PROD, clone, git, gitops, one_error_line, refused, run, state


def test_detached_head(origin, tmp_path, capsys):
    work = clone(origin, tmp_path / "work")
    git(work, "checkout", "--quiet", "--detach")
    refused(work, capsys, 1, ["set-image", "--env", "dev", "--tag", "v1", "--push"], "HEAD is detached")
    refused(work, capsys, 1, ["set-image", "--env", "dev", "--tag", "v1", "--commit"], "HEAD is detached")


def test_missing_remote(origin, tmp_path, capsys):
    work = clone(origin, tmp_path / "work")
    git(work, "remote", "remove", "origin")  # and with it main's upstream
    refused(work, capsys, 1, ["set-image", "--env", "dev", "--tag", "v1", "--push"], "main has no upstream", "--remote")
    refused(work, capsys, 1, ["set-image", "--env", "dev", "--tag", "v1", "--push", "--remote", "origin"],
            "no remote 'origin' to push to (remotes: none)")  # fmt: skip
    refused(work, capsys, 2, ["set-image", "--env", "dev", "--tag", "v1", "--push", "--remote=-x"], "not a git remote")
    refused(work, capsys, 2, ["set-image", "--env", "dev", "--tag", "v1", "--remote", "origin"], "needs --push")


def test_rejected_push_is_not_retried_and_leaves_no_commit(origin, tmp_path, capsys):
    work = clone(origin, tmp_path / "work")
    hook = origin / "hooks" / "pre-receive"
    hook.write_text("#!/bin/sh\necho 'protected branch' >&2\nexit 1\n")
    hook.chmod(0o755)
    started = time.monotonic()
    refused(work, capsys, 1, ["set-image", "--env", "dev", "--tag", "v1", "--push"], "refused: [remote rejected]")
    assert time.monotonic() - started < 30  # no backoff: a refusal is not a race
    assert git(origin, "log", "--format=%s", "main").splitlines() == ["initial"]


def test_no_git_repository(repo, capsys):
    subprocess.run(["rm", "-rf", str(repo / ".git")], check=True)
    refused(repo, capsys, 1, ["set-image", "--env", "dev", "--tag", "v1", "--commit"], "not a git work tree")


def test_no_git_on_path(repo, capsys, monkeypatch, tmp_path):
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    refused(repo, capsys, 1, ["set-image", "--env", "dev", "--tag", "v1", "--commit"], "git: not found on PATH")
    # Reading needs no git: status says 'uncommitted' instead of a commit.
    assert run(repo, "status") == 0
    assert "uncommitted" in capsys.readouterr().out


def test_no_identity(repo, capsys, monkeypatch):
    for key in ("GIT_AUTHOR_NAME", "GIT_AUTHOR_EMAIL", "GIT_COMMITTER_NAME", "GIT_COMMITTER_EMAIL"):
        monkeypatch.delenv(key)
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", "/dev/null")
    monkeypatch.setenv("EMAIL", "")
    git(repo, "config", "user.useConfigOnly", "true")
    refused(repo, capsys, 1, ["set-image", "--env", "dev", "--tag", "v1", "--commit"], "no identity")


def test_hand_edit_in_the_same_file_is_never_committed(repo, capsys):
    path = repo / DEV
    path.write_text(path.read_text().replace("do not edit by hand", "EDITED by hand"))
    refused(repo, capsys, 1, ["set-image", "--env", "dev", "--tag", "v1", "--commit"], "has uncommitted changes")
    assert "EDITED by hand" in path.read_text()


def test_only_the_written_file_is_committed(repo):
    (repo / "clusters/dev/config.yaml").write_text(
        "# staged hand edit\n" + (repo / "clusters/dev/config.yaml").read_text()
    )
    git(repo, "add", "clusters/dev/config.yaml")
    (repo / PROD).write_text("# unstaged hand edit\n" + (repo / PROD).read_text())
    assert run(repo, "set-image", "--env", "dev", "--tag", "v1", "--commit") == 0
    assert git(repo, "show", "--name-only", "--format=%s", "HEAD").split() == ["deploy(dev):", "flask-app", "v1", DEV]
    assert sorted(git(repo, "status", "--porcelain").splitlines()) == [" M " + PROD, "M  clusters/dev/config.yaml"]


def test_two_commit_runs_in_one_clone_serialize(repo):
    """Two `--commit` runs at once: both land, and every commit's message matches its file."""
    results: dict[str, subprocess.CompletedProcess] = {}

    def bump(tag: str) -> None:
        results[tag] = gitops(repo, "set-image", "--env", "dev", "--tag", tag, "--commit")

    for trial in range(8):
        tags = [f"sha-{trial:03d}aaaa", f"sha-{trial:03d}bbbb"]
        results.clear()
        threads = [threading.Thread(target=bump, args=(tag,)) for tag in tags]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        for tag, result in results.items():
            assert result.returncode == 0, (trial, tag, result.stderr)
        assert git(repo, "status", "--porcelain") == ""
        for rev in ("HEAD", "HEAD~1"):
            subject = git(repo, "log", "-1", "--format=%s", rev).strip()
            tag = subject.split()[-1]
            assert tag in tags, subject
            assert f"newTag: {tag}\n" in git(repo, "show", f"{rev}:{DEV}")
        assert {git(repo, "log", "-1", "--format=%s", rev).split()[-1] for rev in ("HEAD", "HEAD~1")} == set(tags)


def test_push_validates_the_affected_clusters_first(origin, tmp_path, capsys):
    work = clone(origin, tmp_path / "work")
    bounds = work / "apps/flask-app/overlays/dev/hpa-bounds.yaml"
    bounds.write_text(bounds.read_text().replace("minReplicas: 1", 'minReplicas: "one"'))
    git(work, "commit", "--quiet", "-am", "break dev by hand")
    capsys.readouterr()
    before = state(work)
    assert run(work, "set-image", "--env", "dev", "--tag", "sha-1a2b3c4", "--push") == 1
    captured = capsys.readouterr()
    one_error_line(captured.err, "validate clusters/dev: ", "nothing committed or pushed")
    assert "minReplicas" in captured.out
    assert state(work) == before
    assert git(origin, "log", "--format=%s", "main").splitlines() == ["initial"]
