"""Each hostile invocation of issue 15 (and the set-image items of issue 14), reproduced.

Real git repositories in temporary folders, a bare origin, real subprocesses where
the failure was about the process (tracebacks, time-outs, broken pipes, races).
After every non-zero exit nothing may have changed: no byte, no commit.
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from ruamel.yaml import YAML

from gitops.cli import main
from tests.gitops.conftest import clone, git

DEV = "apps/flask-app/overlays/dev/kustomization.yaml"
PROD = "apps/flask-app/overlays/prod/kustomization.yaml"
DIGEST = "sha256:" + "ab" * 32
GIT = shutil.which("git") or "git"  # state() still works when a test takes git off PATH
BOMB = (
    'a: &a ["x", "x", "x", "x", "x", "x", "x", "x", "x"]\n'
    + "".join(f"{n}: &{n} [{', '.join([f'*{p}'] * 9)}]\n" for p, n in zip("abcdefgh", "bcdefghi", strict=True))
    + "cluster: {name: *i}\nenvironment: dev\nnamespace: flask-app-dev\n"
)


def run(repo: Path, *args: str) -> int:
    return main(["-C", str(repo), *args])


def gitops(
    cwd: Path, *args: str, timeout: float = 60, env: dict | None = None, **kwargs
) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "gitops", "-C", str(cwd), *args],
        capture_output="stdout" not in kwargs,
        text=True,
        check=False,
        timeout=timeout,
        env=env,
        **kwargs,
    )


def state(repo: Path) -> tuple:
    """Every file's bytes and mode, symbolic links, HEAD and the index: what must not change after an error."""
    files = {}
    for path in sorted(repo.rglob("*")):
        rel = path.relative_to(repo)
        if ".git" in rel.parts:
            continue
        if path.is_symlink():
            files[str(rel)] = ("link", os.readlink(path))
        elif path.is_file():
            files[str(rel)] = (stat.S_IMODE(path.stat().st_mode), path.read_bytes())
    if not (repo / ".git").exists():
        return files, None, None
    head = subprocess.run([GIT, "rev-parse", "HEAD"], cwd=repo, capture_output=True, text=True, check=False).stdout
    index = subprocess.run([GIT, "ls-files", "-s"], cwd=repo, capture_output=True, text=True, check=False).stdout
    return files, head, index


def one_error_line(err: str, *fragments: str) -> None:
    assert err.count("\n") == 1, err
    assert err.startswith("gitops: error: "), err
    assert "Traceback" not in err
    for fragment in fragments:
        assert fragment in err, err


def refused(repo: Path, capsys, code: int, args: list[str], *fragments: str) -> None:
    """``args`` exits ``code`` with one error line holding ``fragments``, and nothing changed."""
    before = state(repo)
    capsys.readouterr()
    assert run(repo, *args) == code
    one_error_line(capsys.readouterr().err, *fragments)
    assert state(repo) == before


# --- tracebacks: every failure is one line, exit 1 or 2 ------------------------------
def test_non_utf8_kustomization(repo, capsys):
    (repo / DEV).write_bytes((repo / DEV).read_bytes().replace(b"# The only", b"# The \xff only"))
    refused(repo, capsys, 2, ["set-image", "--env", "dev", "--tag", "v1"], f"{DEV}: cannot read: not UTF-8")
    refused(repo, capsys, 2, ["status"], "not UTF-8")


def test_non_utf8_file_that_configure_rewrites(repo, capsys):
    (repo / "README.md").write_bytes(b"registry.example.com/example-org/flask-app \xff\n")
    refused(repo, capsys, 2, ["configure", "--image", "registry.example.net/acme/app"], "README.md: cannot read")


def test_wrongly_typed_gitops_yaml(repo, capsys):
    config = repo / "gitops.yaml"
    text = config.read_text()
    config.write_text(text.replace("  - dev\n", "  - [dev]\n"))
    refused(repo, capsys, 2, ["status"], "gitops.yaml: environments[0]: expected string, found a list")
    config.write_text(text.replace("digestRequired:\n  - prod", "digestRequired: prod"))
    refused(
        repo, capsys, 2, ["set-image", "--env", "prod", "--tag", "v1"], "gitops.yaml: digestRequired: expected array"
    )
    config.write_text(text.replace("  - prod\n", "  - ../../tmp\n", 1))
    refused(repo, capsys, 2, ["status"], "gitops.yaml: environments[2]: '../../tmp' is not an environment name")
    config.write_text(text + "digestRequierd: [prod]\n")
    refused(repo, capsys, 2, ["status"], "gitops.yaml: (top level): unknown field(s) 'digestRequierd'")


def test_duplicate_key_cannot_switch_off_the_digest_rule(repo, capsys):
    config = repo / "gitops.yaml"
    config.write_text(config.read_text() + "digestRequired: []\n")
    refused(
        repo, capsys, 2, ["set-image", "--env", "prod", "--tag", "v1"], "invalid YAML: duplicate key 'digestRequired'"
    )


def test_duplicate_key_in_a_kustomization(repo, capsys):
    (repo / DEV).write_text((repo / DEV).read_text() + "images: []\n")
    refused(repo, capsys, 2, ["set-image", "--env", "dev", "--tag", "v1"], "duplicate key 'images'")


def test_missing_clusters_folder(repo, capsys):
    subprocess.run(["rm", "-r", str(repo / "clusters")], check=True)
    refused(repo, capsys, 2, ["status"], "clusters: cannot list the cluster folders")


def test_clusters_is_a_file(repo, capsys):
    subprocess.run(["rm", "-r", str(repo / "clusters")], check=True)
    (repo / "clusters").write_text("not a folder\n")
    refused(repo, capsys, 2, ["status"], "clusters: cannot list the cluster folders: Not a directory")


def test_deep_nesting(repo, capsys):
    (repo / "clusters/dev/config.yaml").write_text("[" * 5000)
    refused(repo, capsys, 2, ["status"], "nested deeper than 64 levels")


def test_root_that_is_not_a_folder(repo, capsys):
    before = state(repo)
    assert main(["-C", str(repo / "gitops.yaml"), "status"]) == 2
    one_error_line(capsys.readouterr().err, "not a folder")
    assert main(["-C", "a\0b", "status"]) == 2
    one_error_line(capsys.readouterr().err, "not a path")
    assert state(repo) == before


def test_argparse_errors_are_one_line(repo, capsys):
    refused(repo, capsys, 2, ["set-image", "--env", "dev"], "the following arguments are required: --tag")
    refused(repo, capsys, 2, ["status", "--output", "xml"], "invalid choice: 'xml'")
    refused(repo, capsys, 2, ["no-such-command"], "invalid choice")


def test_status_into_a_closed_pipe(repo):
    read, write = os.pipe()
    os.close(read)
    try:
        result = gitops(repo, "status", "--output", "json", stdout=write, stderr=subprocess.PIPE)
    finally:
        os.close(write)
    assert result.stderr == ""
    assert result.returncode == 0


def test_alias_bomb_in_a_cluster_config_fails_fast(repo):
    (repo / "clusters/dev/config.yaml").write_text(BOMB)
    started = time.monotonic()
    result = gitops(repo, "status", timeout=30)
    assert time.monotonic() - started < 10
    assert result.returncode == 2
    one_error_line(result.stderr, "clusters/dev/config.yaml", "aliases expand to more than")


@pytest.mark.parametrize(
    ("name", "command"),
    [
        (DEV, ["set-image", "--env", "dev", "--tag", "v1"]),
        ("clusters/dev/config.yaml", ["status"]),
        ("gitops.yaml", ["status"]),
        ("README.md", ["configure", "--image", "registry.example.net/acme/app"]),
    ],
)
def test_a_50_mb_file_fails_fast(repo, name, command):
    path = repo / name
    with path.open("a") as handle:
        handle.write(("# " + "x" * 1000 + "\n") * 50_000)
    before = state(repo)
    started = time.monotonic()
    result = gitops(repo, *command, timeout=30)
    assert time.monotonic() - started < 10
    assert result.returncode == 2
    one_error_line(result.stderr, "too large")
    assert state(repo) == before


def test_a_folder_where_a_file_belongs(repo, capsys):
    (repo / "clusters/dev/config.yaml").unlink()
    (repo / "clusters/dev/config.yaml").mkdir()
    refused(repo, capsys, 2, ["status"], "clusters/dev/config.yaml: cannot read: not a regular file")


def test_a_fifo_is_not_read(repo, capsys):
    os.mkfifo(repo / "clusters/dev/fifo")
    (repo / "clusters/dev/config.yaml").unlink()
    os.symlink("fifo", repo / "clusters/dev/config.yaml")
    refused(repo, capsys, 2, ["status"], "clusters/dev/config.yaml: cannot read: not a regular file")


# --- nothing half-written after a git failure -----------------------------------------
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


# --- what gitops writes, and where -----------------------------------------------------
def test_read_only_file_is_not_rewritten(repo, capsys):
    (repo / DEV).chmod(0o444)
    refused(repo, capsys, 2, ["set-image", "--env", "dev", "--tag", "v1"], f"{DEV}: is read-only")


def test_read_only_folder_is_not_written(repo, capsys):
    folder = (repo / DEV).parent
    folder.chmod(0o555)
    try:
        refused(repo, capsys, 2, ["set-image", "--env", "dev", "--tag", "v1"], "the folder is read-only")
    finally:
        folder.chmod(0o755)


def test_symlink_is_not_replaced(repo, capsys):
    real = repo / "apps/flask-app/overlays/dev/real.yaml"
    (repo / DEV).rename(real)
    os.symlink("real.yaml", repo / DEV)
    refused(repo, capsys, 2, ["set-image", "--env", "dev", "--tag", "v1"], f"{DEV}: is a symbolic link")
    assert (repo / DEV).is_symlink()


def test_symlinked_overlay_folder_is_not_written_through(repo, capsys, tmp_path):
    outside = tmp_path / "outside-dev"
    (repo / DEV).parent.rename(outside)
    os.symlink(outside, (repo / DEV).parent)
    refused(repo, capsys, 2, ["set-image", "--env", "dev", "--tag", "v1"], "is under a symbolic link")


def test_configure_refuses_a_symlink_and_writes_nothing(repo, capsys):
    target = repo / "argocd" / "applicationset.yaml"
    real = repo / "argocd" / "applicationset-real.yaml"
    target.rename(real)
    os.symlink(real.name, target)
    refused(repo, capsys, 2, ["configure", "--repo", "https://git.example.org/acme/x.git"], "is a symbolic link")


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


# --- issue 14: set-image refuses what a policy refuses; --push validates first ---------
def test_latest_is_refused(repo, capsys):
    refused(repo, capsys, 2, ["set-image", "--env", "dev", "--tag", "latest"], "GO116", "uses :latest")


@pytest.mark.parametrize("tag", ["1e3", "0o17", "0x1F", "20240101", "1.10", "on", "No"])
def test_tags_yaml_reads_as_non_strings_are_quoted(repo, tag):
    assert run(repo, "set-image", "--env", "dev", "--tag", tag) == 0
    text = (repo / DEV).read_text()
    assert f'newTag: "{tag}"\n' in text
    for reader in (YAML(typ="safe", pure=True), YAML(typ="rt")):  # YAML 1.2, as kustomize reads it
        doc = reader.load(text)
        assert doc["images"][0]["newTag"] == tag


def test_plain_tags_stay_plain(repo):
    assert run(repo, "set-image", "--env", "dev", "--tag", "sha-1a2b3c4") == 0
    assert "    newTag: sha-1a2b3c4\n" in (repo / DEV).read_text()


def test_an_unquoted_numeric_tag_in_the_file_is_refused(repo, capsys):
    (repo / DEV).write_text((repo / DEV).read_text().replace("newTag: sha-3b9cb9f", "newTag: 1e3"))
    refused(repo, capsys, 2, ["status"], "newTag: YAML reads this as a number, not text; quote it")


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
