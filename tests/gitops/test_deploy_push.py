"""--commit --push against a real bare origin, with real races between clones."""

from __future__ import annotations

import subprocess
import sys
import threading

import pytest

from tests.gitops.conftest import clone, git

pytestmark = pytest.mark.slow
DEV = "apps/flask-app/overlays/dev/kustomization.yaml"
STAGING = "apps/flask-app/overlays/staging/kustomization.yaml"


def gitops(cwd, *args) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "gitops", "-C", str(cwd), *args],
        capture_output=True,
        text=True,
        check=False,
    )


def subjects(origin) -> list[str]:
    return git(origin, "log", "--format=%s", "main").splitlines()


def test_push_lands_on_origin(origin, tmp_path):
    work = clone(origin, tmp_path / "a")
    result = gitops(work, "set-image", "--env", "dev", "--tag", "sha-aaaaaaa", "--push")
    assert result.returncode == 0, result.stderr
    assert subjects(origin)[0] == "deploy(dev): flask-app sha-aaaaaaa"
    assert "newTag: sha-aaaaaaa" in git(origin, "show", f"main:{DEV}")


@pytest.mark.parametrize("round_", range(6))
def test_concurrent_bumps_both_land(origin, tmp_path, round_):
    a, b, c = (clone(origin, tmp_path / name) for name in "abc")
    # Someone else's unrelated commit lands first; nobody may lose it.
    (c / "NOTES.md").write_text("unrelated\n")
    git(c, "add", "NOTES.md")
    git(c, "commit", "-qm", "docs: unrelated change")
    git(c, "push", "-q", "origin", "main")

    same_env = round_ % 2 == 0  # alternate: both bump dev, or dev and staging
    jobs = [(a, "dev", f"sha-a{round_:06d}"), (b, "dev" if same_env else "staging", f"sha-b{round_:06d}")]
    results = {}

    def bump(work, env, tag):
        results[tag] = gitops(work, "set-image", "--env", env, "--tag", tag, "--push")

    threads = [threading.Thread(target=bump, args=job) for job in jobs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    for tag, result in results.items():
        assert result.returncode == 0, (tag, result.stdout, result.stderr)

    log = subjects(origin)
    assert "docs: unrelated change" in log
    assert f"deploy(dev): flask-app sha-a{round_:06d}" in log
    assert (f"deploy({'dev' if same_env else 'staging'}): flask-app sha-b{round_:06d}") in log
    assert git(origin, "show", "main:NOTES.md") == "unrelated\n"
    if not same_env:
        assert f"newTag: sha-a{round_:06d}" in git(origin, "show", f"main:{DEV}")
        assert f"newTag: sha-b{round_:06d}" in git(origin, "show", f"main:{STAGING}")
    else:
        # Last writer wins the file; the history keeps both deploys, in order.
        newest = log.index(next(s for s in log if s.startswith("deploy(dev)")))
        winner = log[newest].split()[-1]
        assert f"newTag: {winner}" in git(origin, "show", f"main:{DEV}")


def test_local_unpushed_commit_is_kept(origin, tmp_path):
    a, b = clone(origin, tmp_path / "a"), clone(origin, tmp_path / "b")
    assert gitops(b, "set-image", "--env", "dev", "--tag", "sha-bbbbbbb", "--push").returncode == 0
    (a / "LOCAL.md").write_text("mine\n")
    git(a, "add", "LOCAL.md")
    git(a, "commit", "-qm", "local: my own commit")
    result = gitops(a, "set-image", "--env", "dev", "--tag", "sha-aaaaaaa", "--push")
    assert result.returncode == 0, result.stderr
    assert "re-applied the edit" in result.stdout
    log = subjects(origin)
    assert log[:3] == [
        "deploy(dev): flask-app sha-aaaaaaa",
        "local: my own commit",
        "deploy(dev): flask-app sha-bbbbbbb",
    ]


def test_push_failure_that_is_not_a_race_is_reported(origin, tmp_path):
    work = clone(origin, tmp_path / "a")
    git(work, "remote", "set-url", "origin", str(tmp_path / "missing.git"))
    head = git(work, "rev-parse", "HEAD")
    result = gitops(work, "set-image", "--env", "dev", "--tag", "sha-ccccccc", "--push")
    assert result.returncode == 1
    assert result.stderr.startswith("gitops: error: git: cannot reach remote 'origin': fatal: ")
    assert result.stderr.count("\n") == 1
    assert git(work, "rev-parse", "HEAD") == head  # checked before anything was written or committed
    assert git(work, "status", "--porcelain") == ""


def reject_pushes(bare, reason="protected branch"):
    hook = bare / "hooks" / "pre-receive"
    hook.write_text(f"#!/bin/sh\necho '{reason}' >&2\nexit 1\n")
    hook.chmod(0o755)


def second_remote(work, tmp_path, name="local"):
    """A second bare remote ``name`` holding what origin holds, fetched into ``work``."""
    bare = tmp_path / f"{name}.git"
    git(tmp_path, "clone", "--quiet", "--bare", str(work), str(bare))
    git(work, "remote", "add", name, str(bare))
    git(work, "fetch", "--quiet", name)
    return bare


def test_push_goes_to_the_branch_upstream_not_origin(origin, tmp_path):
    work = clone(origin, tmp_path / "a")
    local = second_remote(work, tmp_path)
    git(work, "branch", "--quiet", "--set-upstream-to", "local/main")
    reject_pushes(origin)  # origin is not where main goes: it must never be asked
    result = gitops(work, "set-image", "--env", "dev", "--tag", "sha-aaaaaaa", "--push")
    assert result.returncode == 0, result.stderr
    assert subjects(local)[0] == "deploy(dev): flask-app sha-aaaaaaa"
    assert subjects(origin) == ["initial"]
    pushed = git(work, "rev-parse", "HEAD").strip()
    assert f"pushed {pushed[:12]} to local (main)" in result.stdout
    assert git(work, "symbolic-ref", "--short", "HEAD").strip() == "main"
    assert git(work, "status", "--porcelain") == ""


def test_push_to_an_explicit_remote(origin, tmp_path):
    work = clone(origin, tmp_path / "a")
    local = second_remote(work, tmp_path)
    reject_pushes(origin)
    result = gitops(work, "set-image", "--env", "dev", "--tag", "sha-aaaaaaa", "--push", "--remote", "local")
    assert result.returncode == 0, result.stderr
    assert subjects(local)[0] == "deploy(dev): flask-app sha-aaaaaaa"
    assert subjects(origin) == ["initial"]


def test_a_branch_without_upstream_is_refused_before_anything_is_written(origin, tmp_path):
    work = clone(origin, tmp_path / "a")
    git(work, "branch", "--quiet", "--unset-upstream")
    before = git(work, "rev-parse", "HEAD")
    result = gitops(work, "set-image", "--env", "dev", "--tag", "sha-aaaaaaa", "--push")
    assert result.returncode == 1
    assert result.stderr == (
        "gitops: error: git: branch main has no upstream to push to; give --remote NAME "
        "or set one (git branch --set-upstream-to REMOTE/main)\n"
    )
    assert git(work, "rev-parse", "HEAD") == before
    assert git(work, "status", "--porcelain") == ""


def test_a_refused_push_says_what_was_undone(origin, tmp_path):
    work = clone(origin, tmp_path / "a")
    reject_pushes(origin)
    head = git(work, "rev-parse", "HEAD").strip()
    result = gitops(work, "set-image", "--env", "dev", "--tag", "sha-aaaaaaa", "--push")
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1, result.stderr
    committed = next(line for line in result.stdout.splitlines() if line.startswith("committed "))
    sha = committed.split()[1]
    assert result.stderr.startswith("gitops: error: git push to origin (main) refused: [remote rejected]")
    assert result.stderr.endswith(
        f"; undone: commit {sha} and the edit of {DEV} (main is back at {head[:12]}, nothing was pushed)\n"
    )
    assert git(work, "rev-parse", "HEAD").strip() == head
    assert git(work, "symbolic-ref", "--short", "HEAD").strip() == "main"
    assert git(work, "status", "--porcelain") == ""
    assert subjects(origin) == ["initial"]


KILL_GITOPS = """#!/bin/sh
# pre-push: kill -9 the gitops process that runs this push (an ancestor), then refuse the push.
pid=$PPID
while [ "$pid" -gt 1 ]; do
  if tr '\\0' ' ' </proc/$pid/cmdline | grep -q -- '-m gitops'; then
    kill -9 "$pid"
    exit 1
  fi
  pid=$(awk '{print $4}' /proc/$pid/stat)
done
exit 1
"""


def test_a_run_killed_before_its_push_leaves_no_commit_a_later_run_pushes(origin, tmp_path):
    work = clone(origin, tmp_path / "a")
    head = git(work, "rev-parse", "HEAD").strip()
    hook = work / ".git" / "hooks" / "pre-push"
    hook.write_text(KILL_GITOPS)
    hook.chmod(0o755)
    killed = gitops(work, "set-image", "--env", "dev", "--tag", "sha-aaaaaaa", "--push")
    assert killed.returncode == -9, killed.stderr  # killed after its commit, before the push
    assert "committed" in killed.stdout
    hook.unlink()

    # The branch never got the commit: a plain `git push` cannot send it either.
    assert git(work, "rev-parse", "refs/heads/main").strip() == head
    # A later, unrelated run refuses (HEAD is detached) instead of pushing the dev commit along.
    later = gitops(work, "set-image", "--env", "staging", "--tag", "sha-bbbbbbb", "--push")
    assert later.returncode == 1
    assert "HEAD is detached" in later.stderr
    assert later.stderr.count("\n") == 1
    assert subjects(origin) == ["initial"]
    # What the message says to do works: back on the branch, the next push carries its own commit only.
    git(work, "checkout", "--quiet", "main")
    again = gitops(work, "set-image", "--env", "staging", "--tag", "sha-bbbbbbb", "--push")
    assert again.returncode == 0, again.stderr
    assert subjects(origin) == ["deploy(staging): flask-app sha-bbbbbbb", "initial"]
