"""Git plumbing for commit and push: checked before anything is written, undone on failure.

``preflight`` checks everything a commit (and push) needs before a file is touched:
git on PATH, a work tree on a branch with a commit, no operation in progress, an
identity, the files to write tracked and unmodified, and for ``--push`` a clean tree
and where to push: the branch's upstream (``branch.<name>.remote`` and ``.merge``, what
``git push`` would use), or the remote named by ``--remote``. ``commit`` commits exactly
the files the command wrote. For a push, ``detach`` first leaves the branch where it is
and the commit is made on a detached HEAD; only once the push landed does ``attach``
move the branch to it. A run killed in between (``kill -9``) leaves the branch
untouched and HEAD detached, which the next run refuses: a commit nobody saw pushed is
never pushed by a later, unrelated run. ``push`` retries only a real race (the remote
moved), and ``rollback`` puts the branch and the index back where ``preflight`` found them.
"""

from __future__ import annotations

import os
import random
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from .errors import FAILED, GitopsError, one_line

# `git push --porcelain` summaries that mean "the remote moved, or another push holds the
# ref right now": worth a fetch, rebase and retry. Anything else (a hook or a permission
# refusing the push) fails at once.
RACED = ("[rejected] (fetch first)", "[rejected] (non-fast-forward)", "(failed to update ref)", "(cannot lock ref")
OPERATIONS = {
    "MERGE_HEAD": "a merge",
    "CHERRY_PICK_HEAD": "a cherry-pick",
    "REVERT_HEAD": "a revert",
    "rebase-merge": "a rebase",
    "rebase-apply": "a rebase or am",
    "BISECT_LOG": "a bisect",
}


def _env() -> dict[str, str]:
    return {
        **os.environ,
        "LC_ALL": "C",  # messages parsed below are the English ones
        "GIT_TERMINAL_PROMPT": "0",  # never wait for a password
        "GIT_OPTIONAL_LOCKS": "0",
    }


def git(root: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    """Run git in ``root``; with ``check``, a failure is a one-line GitopsError (exit 1)."""
    try:
        result = subprocess.run(
            ["git", *args],
            cwd=root,
            capture_output=True,
            text=True,
            encoding="utf-8",
            errors="replace",
            check=False,
            env=_env(),
        )
    except FileNotFoundError:
        raise GitopsError("git: not found on PATH", FAILED) from None
    except (OSError, ValueError) as exc:
        raise GitopsError(f"git: cannot run: {getattr(exc, 'strerror', None) or exc}", FAILED) from None
    if check and result.returncode != 0:
        raise GitopsError(f"git {args[0]} failed: {last_line(result)}", FAILED)
    return result


def git_bytes(root: Path, *args: str) -> bytes:
    """Run git and return its raw stdout (``git archive``)."""
    git(root, "--version")  # a one-line error when git is missing
    result = subprocess.run(["git", *args], cwd=root, capture_output=True, check=False, env=_env())
    if result.returncode != 0:
        detail = result.stderr.decode("utf-8", "replace").strip().splitlines()
        raise GitopsError(f"git {args[0]} failed: {one_line(detail[-1] if detail else str(result.returncode))}", FAILED)
    return result.stdout


def last_line(result: subprocess.CompletedProcess) -> str:
    """The line that says why git failed: its first ``fatal:`` or ``error:`` line, else its last line."""
    lines = [line.strip() for line in (result.stderr or result.stdout or "").splitlines() if line.strip()]
    reasons = [line for line in lines if line.startswith(("fatal:", "error:"))]
    return one_line((reasons or lines or [f"exit {result.returncode}"])[0 if reasons else -1])


@dataclass(frozen=True)
class Checkout:
    """Where the branch was before a command wrote anything: what ``rollback`` returns to."""

    root: Path
    branch: str
    head: str
    remote: str | None = None  # where --push goes: a remote's name (or URL), None without --push
    target: str | None = None  # the branch on ``remote`` it updates

    @property
    def destination(self) -> str:
        return f"{self.remote} ({self.target})"


def push_target(root: Path, branch: str, remote: str | None) -> tuple[str, str]:
    """(remote, branch on it) a push of ``branch`` goes to: its upstream, or ``remote`` when given."""
    upstream = git(root, "config", "--get", f"branch.{branch}.remote", check=False).stdout.strip()
    merge = git(root, "config", "--get", f"branch.{branch}.merge", check=False).stdout.strip()
    merged = merge.removeprefix("refs/heads/") if merge.startswith("refs/heads/") else None
    if remote is not None:
        if not remote or remote.startswith("-") or any(c.isspace() or not c.isprintable() for c in remote):
            raise GitopsError(f"--remote {remote!r}: not a git remote name", 2)
        if git(root, "remote", "get-url", remote, check=False).returncode != 0:
            names = ", ".join(git(root, "remote").stdout.split()) or "none"
            raise GitopsError(f"git: no remote {remote!r} to push to (remotes: {names})", FAILED)
        return remote, merged if upstream == remote and merged else branch
    if not upstream or not merged:
        raise GitopsError(
            f"git: branch {branch} has no upstream to push to; give --remote NAME "
            f"or set one (git branch --set-upstream-to REMOTE/{branch})",
            FAILED,
        )
    if upstream == ".":
        raise GitopsError(f"git: branch {branch} tracks the local branch {merged}, not a remote; give --remote NAME")
    return upstream, merged


def preflight(root: Path, paths: list[Path], push: bool, remote: str | None = None) -> Checkout:
    """Everything ``commit`` (and ``push``) will need, checked before any file is written."""
    inside = git(root, "rev-parse", "--is-inside-work-tree", check=False)
    if inside.returncode != 0 or inside.stdout.strip() != "true":
        raise GitopsError(f"{root}: not a git work tree (--commit and --push need one)", FAILED)
    git_dir = Path(git(root, "rev-parse", "--absolute-git-dir").stdout.strip())
    for name, what in OPERATIONS.items():
        if (git_dir / name).exists():
            raise GitopsError(f"git: {what} is in progress; finish or abort it first", FAILED)
    if (git_dir / "index.lock").exists():
        raise GitopsError(f"git: {git_dir / 'index.lock'} exists (another git command is running)", FAILED)
    branch = git(root, "symbolic-ref", "--quiet", "--short", "HEAD", check=False)
    if branch.returncode != 0:
        raise GitopsError(
            "git: HEAD is detached; check out the branch to commit to "
            "(a gitops --push that was killed leaves HEAD so, its commit not on the branch and not pushed)",
            FAILED,
        )
    head = git(root, "rev-parse", "--verify", "--quiet", "HEAD^{commit}", check=False)
    if head.returncode != 0:
        raise GitopsError(f"git: branch {branch.stdout.strip()} has no commit yet", FAILED)
    for var in ("GIT_AUTHOR_IDENT", "GIT_COMMITTER_IDENT"):
        if git(root, "var", var, check=False).returncode != 0:
            raise GitopsError("git: no identity to commit with (set user.name and user.email)", FAILED)
    rel = [os.path.relpath(p, root) for p in paths]
    untracked = git(root, "ls-files", "--error-unmatch", "--", *rel, check=False)
    if untracked.returncode != 0:
        raise GitopsError(f"git: {' '.join(rel)}: not tracked (gitops commits only files git knows)", FAILED)
    dirty = git(root, "status", "--porcelain", "--untracked-files=no", "--", *rel).stdout.strip()
    if dirty:
        raise GitopsError(
            f"{' '.join(rel)}: has uncommitted changes; commit or stash them first (gitops commits only its own edit)",
            FAILED,
        )
    if not push:
        return Checkout(root, branch.stdout.strip(), head.stdout.strip())
    remote, target = push_target(root, branch.stdout.strip(), remote)
    reach = git(root, "ls-remote", "--quiet", "--", remote, f"refs/heads/{target}", check=False)
    if reach.returncode != 0:
        raise GitopsError(f"git: cannot reach remote {remote!r}: {last_line(reach)}", FAILED)
    if git(root, "status", "--porcelain", "--untracked-files=no").stdout.strip():
        raise GitopsError("git: the work tree has uncommitted changes (--push may rebase); commit or stash", FAILED)
    return Checkout(root, branch.stdout.strip(), head.stdout.strip(), remote, target)


def detach(checkout: Checkout) -> None:
    """HEAD detached at the branch's commit: what is committed now stays off the branch until ``attach``."""
    git(checkout.root, "update-ref", "--no-deref", "-m", "gitops: commit to push", "HEAD", checkout.head)


def attach(checkout: Checkout) -> str:
    """After the push: the branch moves to the pushed commit (only from where it was) and HEAD is on it again."""
    root = checkout.root
    pushed = git(root, "rev-parse", "HEAD").stdout.strip()
    ref = f"refs/heads/{checkout.branch}"
    moved = git(root, "update-ref", "-m", f"gitops: pushed to {checkout.destination}", ref, pushed, checkout.head,
                check=False)  # fmt: skip
    if moved.returncode != 0:
        raise GitopsError(
            f"git: pushed {pushed[:12]} to {checkout.destination}, but branch {checkout.branch} moved meanwhile; "
            f"HEAD is left detached at {pushed[:12]}",
            FAILED,
        )
    git(root, "symbolic-ref", "-m", "gitops: pushed", "HEAD", ref)
    return pushed


def commit(root: Path, paths: list[Path], message: str) -> bool:
    """Commit exactly ``paths``; False when there was nothing to commit."""
    rel = [os.path.relpath(p, root) for p in paths]
    git(root, "add", "--", *rel)
    if git(root, "diff", "--cached", "--quiet", "--", *rel, check=False).returncode == 0:
        return False
    git(root, "commit", "--quiet", "-m", message, "--only", "--", *rel)
    return True


def rollback(checkout: Checkout, paths: list[Path]) -> None:
    """Undo a half-done commit and push: the branch back at its old commit, ``paths`` unstaged.

    Best effort, and it raises nothing: the caller is already reporting the error.
    """
    root = checkout.root
    try:
        git_dir = Path(git(root, "rev-parse", "--absolute-git-dir").stdout.strip())
        if (git_dir / "rebase-merge").exists() or (git_dir / "rebase-apply").exists():
            git(root, "rebase", "--abort", check=False)
        branch = git(root, "symbolic-ref", "--quiet", "--short", "HEAD", check=False).stdout.strip()
        if branch != checkout.branch:
            git(root, "checkout", "--quiet", checkout.branch, check=False)
        if git(root, "rev-parse", "HEAD", check=False).stdout.strip() != checkout.head:
            # --keep: files that differ between the two commits go back; local edits elsewhere stay.
            git(root, "reset", "--quiet", "--keep", checkout.head, check=False)
        rel = [os.path.relpath(p, root) for p in paths]
        git(root, "reset", "--quiet", "--", *rel, check=False)
    except GitopsError:
        pass


def _push_outcome(result: subprocess.CompletedProcess) -> tuple[bool, str]:
    """(the remote moved, reason) from ``git push --porcelain``."""
    for line in result.stdout.splitlines():
        fields = line.split("\t")
        if len(fields) >= 3 and fields[0] == "!":
            summary = fields[2]
            return any(marker in summary for marker in RACED), one_line(summary)
    return False, last_line(result)


def push(
    checkout: Checkout,
    reapply: Callable[[], bool],
    attempts: int = 6,
    base_delay: float = 0.2,
    log: Callable[[str], None] = print,
) -> None:
    """Push the branch; when the remote moved (and only then), fetch, rebase and retry with backoff.

    If the rebase conflicts on our own commit (the file changed underneath), that commit
    is dropped, ``reapply`` redoes the edit on top of the new tip and commits it again.
    Other commits are never dropped: any other conflict aborts the rebase and fails.
    """
    root, remote, branch = checkout.root, checkout.remote, checkout.target
    if remote is None or branch is None:
        raise GitopsError("git push: no remote to push to (preflight without push)", FAILED)
    for attempt in range(1, attempts + 1):
        result = git(root, "push", "--porcelain", "--", remote, f"HEAD:refs/heads/{branch}", check=False)
        if result.returncode == 0:
            return
        raced, reason = _push_outcome(result)
        if not raced:
            raise GitopsError(f"git push to {checkout.destination} refused: {reason}", FAILED)
        if attempt == attempts:
            break
        delay = base_delay * 2 ** (attempt - 1) * (1 + random.random())  # noqa: S311 - jitter
        log(f"push rejected (remote moved); fetch, rebase, retry {attempt}/{attempts - 1} in {delay:.1f}s")
        time.sleep(delay)
        git(root, "fetch", "--quiet", "--", remote, f"refs/heads/{branch}")
        own = git(root, "rev-parse", "HEAD").stdout.strip()
        rebase = git(root, "rebase", "--quiet", "FETCH_HEAD", check=False)
        if rebase.returncode != 0:
            conflicted_own = git(root, "rev-parse", "REBASE_HEAD", check=False).stdout.strip() == own
            if not conflicted_own:
                git(root, "rebase", "--abort", check=False)
                raise GitopsError("git rebase: a commit other than ours conflicts; resolve by hand", FAILED)
            # Our own bump conflicts: drop it from the rebase, then redo the edit on top.
            skip = git(root, "rebase", "--skip", check=False)
            if skip.returncode != 0:
                git(root, "rebase", "--abort", check=False)
                raise GitopsError("git rebase --skip failed; branch restored", FAILED)
            if reapply():
                log("re-applied the edit on top of the new remote tip")
    raise GitopsError(f"git push: still rejected after {attempts} attempts", FAILED)


def last_change(root: Path, path: Path) -> tuple[str | None, str | None]:
    """(short commit, date) of the last commit that touched ``path``; (None, None) without git or history."""
    try:
        result = git(root, "log", "-1", "--format=%h %cs", "--", os.path.relpath(path, root), check=False)
    except GitopsError:
        return None, None
    commit, _, date = result.stdout.strip().partition(" ")
    return commit or None, date or None
