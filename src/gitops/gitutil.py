"""Git plumbing for commit and push: safe under races, never rewriting others' work."""

from __future__ import annotations

import random
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from .errors import GitopsError

REJECTED = ("[rejected]", "non-fast-forward", "fetch first", "failed to push some refs")


def git(root: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    result = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, check=False)
    if check and result.returncode != 0:
        detail = (result.stderr or result.stdout).strip().splitlines()
        raise GitopsError(f"git {args[0]} failed: {detail[-1] if detail else result.returncode}", 1)
    return result


def current_branch(root: Path) -> str:
    branch = git(root, "rev-parse", "--abbrev-ref", "HEAD").stdout.strip()
    if branch == "HEAD":
        raise GitopsError("git: HEAD is detached; check out the branch to push to", 1)
    return branch


def commit(root: Path, paths: list[Path], message: str) -> bool:
    """Commit exactly ``paths``; False when there was nothing to commit."""
    rel = [str(p.relative_to(root)) for p in paths]
    git(root, "add", "--", *rel)
    if git(root, "diff", "--cached", "--quiet", "--", *rel, check=False).returncode == 0:
        return False
    git(root, "commit", "--quiet", "-m", message, "--", *rel)
    return True


def push(
    root: Path,
    reapply: Callable[[], bool],
    remote: str = "origin",
    attempts: int = 6,
    base_delay: float = 0.2,
    log: Callable[[str], None] = print,
) -> None:
    """Push HEAD; when the remote moved, fetch, rebase and retry with backoff.

    If the rebase conflicts (the file changed underneath), our commit is dropped
    from the rebase, the edit is re-applied on top of the new tip and committed
    again. Other commits are never dropped: any other conflict aborts the rebase,
    restores the branch and fails.
    """
    branch = current_branch(root)
    for attempt in range(1, attempts + 1):
        result = git(root, "push", "--porcelain", remote, f"HEAD:refs/heads/{branch}", check=False)
        if result.returncode == 0:
            return
        output = result.stdout + result.stderr
        if not any(marker in output for marker in REJECTED):
            raise GitopsError(f"git push failed: {output.strip().splitlines()[-1]}", 1)
        if attempt == attempts:
            break
        delay = base_delay * 2 ** (attempt - 1) * (1 + random.random())  # noqa: S311 - jitter
        log(f"push rejected (remote moved); fetch, rebase, retry {attempt}/{attempts - 1} in {delay:.1f}s")
        time.sleep(delay)
        git(root, "fetch", "--quiet", remote, branch)
        own = git(root, "rev-parse", "HEAD").stdout.strip()
        rebase = git(root, "rebase", "--quiet", f"{remote}/{branch}", check=False)
        if rebase.returncode != 0:
            conflicted_own = git(root, "rev-parse", "REBASE_HEAD", check=False).stdout.strip() == own
            if not conflicted_own:
                git(root, "rebase", "--abort", check=False)
                raise GitopsError("git rebase: a commit other than ours conflicts; resolve by hand", 1)
            # Our own bump conflicts: drop it from the rebase, then redo the edit on top.
            skip = git(root, "rebase", "--skip", check=False)
            if skip.returncode != 0:
                git(root, "rebase", "--abort", check=False)
                raise GitopsError("git rebase --skip failed; branch restored", 1)
            if reapply():
                log("re-applied the edit on top of the new remote tip")
    raise GitopsError(f"git push: still rejected after {attempts} attempts", 1)
