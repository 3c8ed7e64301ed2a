"""rollback: only an image the environment ran before (its overlay's Git history), byte-preserving."""

from __future__ import annotations

from gitops.cli import main
from tests.gitops.conftest import git, snapshot

DEV = "apps/flask-app/overlays/dev/kustomization.yaml"
PROD = "apps/flask-app/overlays/prod/kustomization.yaml"
DIGEST = {n: "sha256:" + f"{n:02x}" * 32 for n in range(1, 5)}


def run(repo, *args) -> int:
    return main(["-C", str(repo), *args])


def deploy(repo, env: str, tag: str, digest: str | None = None) -> None:
    extra = ["--digest", digest] if digest else []
    assert run(repo, "set-image", "--env", env, "--tag", tag, *extra, "--commit") == 0


def test_steps_back_through_the_overlay_history(repo):
    for tag in ("v1", "v2", "v3"):
        deploy(repo, "dev", tag)
    assert run(repo, "rollback", "dev") == 0
    assert "newTag: v2\n" in (repo / DEV).read_text()
    git(repo, "checkout", "--quiet", "--", DEV)
    assert run(repo, "rollback", "dev", "--steps", "2") == 0
    assert "newTag: v1\n" in (repo / DEV).read_text()


def test_to_a_tag_it_ran_commits_with_a_rollback_message(repo):
    for tag in ("v1", "v2", "v3"):
        deploy(repo, "dev", tag)
    before = (repo / DEV).read_bytes()
    assert run(repo, "rollback", "dev", "--to", "v1", "--commit") == 0
    after = (repo / DEV).read_bytes()
    # The same byte-preserving edit as set-image: only the tag's line changed.
    changed = [(a, b) for a, b in zip(before.splitlines(), after.splitlines(), strict=True) if a != b]
    assert [b for _, b in changed] == [b"    newTag: v1"]
    assert git(repo, "log", "-1", "--format=%s").strip() == "rollback(dev): flask-app v1"
    assert git(repo, "status", "--porcelain") == ""


def test_an_image_the_environment_never_ran_is_refused_and_nothing_changes(repo, capsys):
    deploy(repo, "dev", "v1")
    deploy(repo, "dev", "v2")
    before = snapshot(repo)
    head = git(repo, "rev-parse", "HEAD")
    assert run(repo, "rollback", "dev", "--to", "v9") == 1
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1
    assert "dev never ran flask-app:v9" in err
    assert snapshot(repo) == before
    assert git(repo, "rev-parse", "HEAD") == head


def test_not_more_steps_than_history(repo, capsys):
    deploy(repo, "dev", "v1")
    before = snapshot(repo)
    assert run(repo, "rollback", "dev", "--steps", "50") == 1
    assert "--steps 50" in capsys.readouterr().err
    assert snapshot(repo) == before


def test_prod_keeps_the_digest_rule(repo, capsys):
    deploy(repo, "prod", "v1", DIGEST[1])
    deploy(repo, "prod", "v2", DIGEST[2])
    assert run(repo, "rollback", "prod", "--to", "v1") == 0
    text = (repo / PROD).read_text()
    assert "newTag: v1\n" in text
    assert f"digest: {DIGEST[1]}\n" in text


def test_pr_body_names_both_images_and_the_commit(repo, capsys):
    deploy(repo, "dev", "v1")
    set_v1 = git(repo, "rev-parse", "HEAD").strip()
    deploy(repo, "dev", "v2")
    capsys.readouterr()
    assert run(repo, "rollback", "dev", "--steps", "1", "--pr-body") == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0] == "rollback(dev): flask-app v1 (was v2)"
    assert set_v1[:12] in out


def test_to_and_steps_together_is_a_usage_error(repo):
    deploy(repo, "dev", "v1")
    deploy(repo, "dev", "v2")
    assert run(repo, "rollback", "dev", "--to", "v1", "--steps", "1") == 2


def test_the_refusal_lists_each_tag_once_with_the_one_running_now(repo, capsys):
    for tag in ("v1", "v2", "v1", "v3"):  # v1 ran twice
        deploy(repo, "dev", tag)
    capsys.readouterr()
    assert run(repo, "rollback", "dev", "--to", "v9") == 1
    err = capsys.readouterr().err
    assert f"({DEV} history on this branch: v3 (now), v1, v2, sha-3b9cb9f);" in err


PINNED = "sha256:" + "9f" * 32


def test_the_tag_running_now_is_no_rollback_even_without_its_digest(repo, capsys):
    """Issue 27 (newcomer): `--to` the running tag said "never ran", and an older entry of the
    same tag without its digest was taken as a rollback; `--steps` counted entries the list hid."""
    deploy(repo, "dev", "v1")
    deploy(repo, "dev", "v2")
    deploy(repo, "dev", "v2", PINNED)  # the same tag, now pinned
    before = snapshot(repo)
    capsys.readouterr()
    assert run(repo, "rollback", "dev", "--to", "v2") == 1
    err = capsys.readouterr().err
    assert "dev runs flask-app:v2 now: nothing to roll back" in err
    assert snapshot(repo) == before
    # One step back is v1 (v2 without its digest is no rollback); the list shows what --steps counts.
    assert run(repo, "rollback", "dev", "--steps", "99") == 1
    assert "earlier image(s) (v2 (now), v1, " in capsys.readouterr().err
    assert run(repo, "rollback", "dev", "--steps", "1") == 0
    assert "newTag: v1\n" in (repo / DEV).read_text()
