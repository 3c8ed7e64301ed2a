"""The deploy transaction `set-image`, `promote`, `rollback` and `configure` share.

Pure functions underneath, one transaction on top:

- ``plan_image`` checks the input (grammar, digest rule, the image policies) and
  computes the new kustomization text without writing anything;
- ``deploy`` takes the repository lock, checks git (``--commit``/``--push``) before a
  byte is written, writes, validates the affected clusters (``--push``), commits only
  the file it wrote and pushes; any failure puts the file, the index and the branch
  back as they were.

"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from . import console, files, gitutil, images, oci
from .errors import FAILED, GitopsError
from .repo import Repo

Log = Callable[[str], None]


@dataclass(frozen=True)
class ImageChange:
    """What pointing ``env`` at ``after`` does to its kustomization (nothing written yet)."""

    env: str
    path: Path
    where: str  # the path relative to the repository, for messages
    before: images.ImageRef
    after: images.ImageRef
    old: bytes
    new: bytes

    @property
    def changed(self) -> bool:
        return self.old != self.new

    def file_change(self) -> files.Change:
        return files.Change(self.path, self.old, self.new, self.where)

    # What `deploy` asks of any edit (restore.Restore answers the same).
    def file_changes(self) -> list[files.Change]:
        return [self.file_change()] if self.changed else []

    def files(self) -> list[Path]:
        return [self.path]

    def summary(self) -> str:
        return f"{self.env}: {self.before} -> {self.after}" if self.changed else f"{self.env}: already at {self.after}"

    def subject(self, app: str) -> str:
        return deploy_message(self.env, app, self.after)


def check_image_policies(repo: Repo, env: str, ref: images.ImageRef) -> None:
    """Refuse an image that `gitops validate` would fail: every policy that looks at a container's image runs on it."""
    from . import policy

    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": repo.app},
        "spec": {"containers": [{"name": repo.app, "image": str(ref)}]},
    }
    ctx = policy.Context(root=repo.root, digest_required=frozenset(repo.digest_required))
    result = policy.run([policy.Doc(f"--env {env}", pod, env)], ctx, skip=repo.skip_policies)
    refused = [f for f in result.findings if f.field.endswith(".image")]
    if refused:
        finding = refused[0]
        raise GitopsError(f"{finding.id} {repo.rel(repo.kustomization(env))}: {finding.message}")


def plan_image(
    repo: Repo,
    env: str,
    tag: str,
    digest: str | None = None,
    image: str | None = None,
) -> ImageChange:
    """The change that points ``env`` at an image; every check runs here, nothing is written."""
    oci.tag(tag)
    if digest is not None:
        oci.digest(digest)
    if image is not None:
        oci.image_name(image)
    path = repo.kustomization(env)
    where = repo.rel(path)
    if env in repo.digest_required and digest is None:
        raise GitopsError(f"{where}: images[name={repo.app}].digest: {env} must be pinned by digest (--digest)")
    old = files.read_bytes(path, where)
    text = files.decode(old, where)  # no newline translation: CRLF stays CRLF
    current = images.read_text(text, repo.app, where)
    target = images.ImageRef(image or current.name, tag, digest)
    check_image_policies(repo, env, target)
    if current == target:
        return ImageChange(env, path, where, current, target, old, old)
    want = {"newTag": tag, "digest": digest}
    if image is not None:
        want["newName"] = image
    new = images.edit_text(text, repo.app, want, where).encode("utf-8")
    return ImageChange(env, path, where, current, target, old, new)


def write(repo: Repo, change, log: Log) -> None:
    """Write an edit (an ImageChange or a restore.Restore): every file of it or none."""
    if change.changed:
        files.apply(change.file_changes(), repo.root)
    log(change.summary())


def deploy_message(env: str, app: str, ref: images.ImageRef) -> str:
    return f"deploy({env}): {app} {ref.tag}" + (f" ({ref.digest[:19]})" if ref.digest else "")


def affected_targets(repo: Repo, env: str) -> list[Path]:
    """What ``env`` renders: its cluster folders, or its overlay when no cluster uses it."""
    return [c.path for c in repo.clusters() if c.environment == env] or [repo.overlay(env)]


def validate_targets(repo: Repo, targets: list[Path], log: Log) -> None:
    """`gitops validate` over ``targets``; any finding stops the deploy (the findings go to stdout)."""
    from .validation import validate

    report = validate(repo, targets)
    if report.errors:
        for line in report.errors:
            log(line)
        names = ", ".join(repo.rel(t) for t in targets)
        raise GitopsError(f"validate {names}: {len(report.errors)} failure(s); nothing committed or pushed", FAILED)


def deploy(
    repo: Repo,
    env: str,
    plan: Callable[[], ImageChange],
    commit: bool = False,
    push: bool = False,
    log: Log = console.say,
    after_write: Callable[[ImageChange], None] | None = None,
    message: str | None = None,
    remote: str | None = None,
    guard: list[Path] | None = None,
) -> ImageChange:
    """Plan, write, (validate,) commit and push one environment's edit as one transaction.

    ``plan`` is called under the lock (and again after a push race that conflicts on
    the file) and returns an ImageChange, or any edit with the same methods (restore.py).
    ``guard``: what git must hold clean before anything is written (default: the
    environment's kustomization). ``after_write`` runs once the files are written, inside
    the transaction: if it fails, the write is undone too. Nothing is left changed when
    this raises.
    """
    commit = commit or push
    with files.repo_lock(repo.root):
        guard = guard or [repo.kustomization(env)]
        checkout = gitutil.preflight(repo.root, guard, push, remote) if commit else None
        change = plan()
        paths = change.files()
        written: list[files.Change] = []
        committed: list[str] = []
        try:
            write(repo, change, log)
            written.extend(change.file_changes())
            if push and change.changed:
                validate_targets(repo, affected_targets(repo, env), log)
            if after_write is not None:
                after_write(change)
            if checkout is not None:
                if push:
                    gitutil.detach(checkout)  # the commit stays off the branch until the push landed
                subject = message or change.subject(repo.app)
                if gitutil.commit(repo.root, paths, subject):
                    committed.append(gitutil.git(repo.root, "rev-parse", "--short=12", "HEAD").stdout.strip())
                    log(f"committed {committed[-1]}{' (not pushed yet)' if push else ''}: {subject.splitlines()[0]}")
            if push and checkout is not None:

                def reapply() -> bool:
                    again = plan()
                    write(repo, again, log)
                    if again.changed:
                        validate_targets(repo, affected_targets(repo, env), log)
                    return gitutil.commit(repo.root, again.files(), message or again.subject(repo.app))

                gitutil.push(checkout, reapply, log=log)
        except BaseException as exc:
            if checkout is not None:
                gitutil.rollback(checkout, paths)
            files.revert(written)
            if isinstance(exc, GitopsError) and (written or committed):
                raise GitopsError(f"{exc}; {undone(repo, checkout, written, committed)}", exc.code) from None
            raise
        if push and checkout is not None:
            pushed = gitutil.attach(checkout)
            log(f"pushed {pushed[:12]} to {checkout.destination}")
    return change


def undone(repo: Repo, checkout: gitutil.Checkout | None, written: list[files.Change], committed: list[str]) -> str:
    """What a failed deploy put back, in words: the edit, the commit, where the branch is."""
    parts = [f"commit {committed[0]}"] if committed else []
    parts += [f"the edit of {c.label}" for c in written]
    text = "undone: " + " and ".join(parts)
    if checkout is not None:
        text += f" ({checkout.branch} is back at {checkout.head[:12]}"
        text += ", nothing was pushed)" if checkout.remote else ")"
    return text


def deploy_or_body(
    repo: Repo,
    env: str,
    plan: Callable[[], ImageChange],
    args: argparse.Namespace,
    body_of: Callable[[ImageChange, dict[str, str]], str],
    message: str | None = None,
    guard: list[Path] | None = None,
) -> int:
    """`deploy` for promote and rollback: with --pr-body, stdout is the body alone (title first),
    built from the change and the rendered diff of ``env``'s clusters, and progress is quiet.

    --pr-body alone only prints: the change is rendered in a temporary copy of HEAD, and the
    working tree is not touched. With --commit or --push the change is also made, as without it.
    """
    from .rendered_diff import rendered_diffs

    body: list[str] = []
    affected = [c.path.name for c in repo.clusters() if c.environment == env]
    if args.pr_body and not (args.commit or args.push):
        change = plan()
        proposed = {c.path: c.new for c in change.file_changes()}
        console.say(body_of(change, rendered_diffs(repo, "HEAD", affected, proposed)), end="")
        return 0

    def make_body(change: ImageChange) -> None:
        body.append(body_of(change, rendered_diffs(repo, "HEAD", affected)))

    deploy(
        repo,
        env,
        plan,
        commit=args.commit,
        push=args.push,
        log=console.quiet if args.pr_body else console.say,
        after_write=make_body if args.pr_body else None,
        message=message,
        remote=args.remote,
        guard=guard,
    )
    if body:
        console.say(body[0], end="")
    return 0
