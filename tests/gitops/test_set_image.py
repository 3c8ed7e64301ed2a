"""set-image edits exactly the intended bytes, atomically and idempotently, and refuses
what a policy refuses (its commit and push: test_deploy.py, test_deploy_push.py)."""

from __future__ import annotations

import pytest
from ruamel.yaml import YAML

from tests.gitops.conftest import DEV, DIGEST, PROD, refused, run, snapshot

PLACEHOLDER = "sha256:9f2c6a1e4b7d8c0f3a5e6b1d2c4f7a8e9b0c1d2e3f4a5b6c7d8e9f0a1b2c3d4e"


def drop_digest(repo) -> None:
    path = repo / DEV
    path.write_text("".join(line for line in path.read_text().splitlines(keepends=True) if "digest:" not in line))


def test_changes_only_the_tag_line(repo, capsys):
    before = snapshot(repo)
    assert run(repo, "set-image", "--env", "dev", "--tag", "sha-1a2b3c4", "--digest", PLACEHOLDER) == 0
    after = snapshot(repo)
    assert {k for k in before if before[k] != after[k]} == {DEV}
    assert after[DEV] == before[DEV].replace(b"newTag: sha-3b9cb9f", b"newTag: sha-1a2b3c4")
    assert f"dev: registry.example.com/example-org/flask-app:sha-3b9cb9f@{PLACEHOLDER} -> " in capsys.readouterr().out


def test_second_call_changes_nothing(repo, capsys):
    assert run(repo, "set-image", "--env", "dev", "--tag", "sha-1a2b3c4") == 0
    before = snapshot(repo)
    mtime = (repo / DEV).stat().st_mtime_ns
    assert run(repo, "set-image", "--env", "dev", "--tag", "sha-1a2b3c4") == 0
    assert snapshot(repo) == before
    assert (repo / DEV).stat().st_mtime_ns == mtime
    assert "dev: already at registry.example.com/example-org/flask-app:sha-1a2b3c4" in capsys.readouterr().out


def test_digest_is_inserted_with_the_entry_indentation(repo):
    drop_digest(repo)
    assert run(repo, "set-image", "--env", "dev", "--tag", "v1.2.3", "--digest", DIGEST) == 0
    text = (repo / DEV).read_text()
    assert text.endswith(
        "  - name: flask-app\n"
        "    newName: registry.example.com/example-org/flask-app\n"
        "    newTag: v1.2.3\n"
        f"    digest: {DIGEST}\n"
    )


def test_digest_is_removed_when_a_tag_alone_is_set(repo):
    run(repo, "set-image", "--env", "dev", "--tag", "v1", "--digest", DIGEST)
    original = (repo / DEV).read_text()
    assert run(repo, "set-image", "--env", "dev", "--tag", "v2") == 0
    assert (repo / DEV).read_text() == original.replace("newTag: v1", "newTag: v2").replace(
        f"    digest: {DIGEST}\n", ""
    )


def test_comments_quotes_order_and_indentation_survive(repo):
    odd = (
        "# header comment\n"
        "apiVersion: kustomize.config.k8s.io/v1beta1\n"
        "kind: Kustomization\n"
        "namespace: flask-app-dev  # trailing comment\n"
        "resources:\n"
        "- ../../base\n"
        "images:\n"
        "-   newTag: 'sha-0000001'   # keep me\n"
        '    name: "flask-app"\n'
        "    newName: registry.example.com/example-org/flask-app\n"
        "- name: other\n"
        '  newTag: "9"\n'
        "# footer\n"
    )
    (repo / DEV).write_text(odd)
    assert run(repo, "set-image", "--env", "dev", "--tag", "sha-feed123") == 0
    assert (repo / DEV).read_text() == odd.replace("'sha-0000001'", "'sha-feed123'")


def test_crlf_files_keep_their_line_endings(repo):
    drop_digest(repo)
    text = (repo / DEV).read_text().replace("\n", "\r\n")
    (repo / DEV).write_bytes(text.encode())
    assert run(repo, "set-image", "--env", "dev", "--tag", "t1", "--digest", DIGEST) == 0
    data = (repo / DEV).read_bytes()
    assert b"\n" not in data.replace(b"\r\n", b"")
    assert data.endswith(f"    newTag: t1\r\n    digest: {DIGEST}\r\n".encode())


def test_prod_requires_a_digest(repo, capsys):
    before = snapshot(repo)
    assert run(repo, "set-image", "--env", "prod", "--tag", "sha-1a2b3c4") == 2
    err = capsys.readouterr().err.strip()
    assert err == (f"gitops: error: {PROD}: images[name=flask-app].digest: prod must be pinned by digest (--digest)")
    assert snapshot(repo) == before


def test_prod_digest_update_changes_two_lines(repo):
    before = (repo / PROD).read_text()
    assert run(repo, "set-image", "--env", "prod", "--tag", "sha-1a2b3c4", "--digest", DIGEST) == 0
    after = (repo / PROD).read_text()
    changed = [(a, b) for a, b in zip(before.splitlines(), after.splitlines(), strict=True) if a != b]
    assert [b.strip() for _, b in changed] == ["newTag: sha-1a2b3c4", f"digest: {DIGEST}"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--env", "qa", "--tag", "v1"], "unknown environment 'qa'"),
        (["--env", "dev", "--tag=-v1"], "--tag '-v1': not a valid tag"),
        (["--env", "dev", "--tag", "v1\nnewName: evil"], "not a valid tag"),
        (["--env", "dev", "--tag", "a" * 129], "not a valid tag"),
        (["--env", "dev", "--tag", "v1", "--digest", "sha256:abc"], "--digest 'sha256:abc': not a valid digest"),
        (["--env", "dev", "--tag", "v1", "--digest", "SHA256:" + "a" * 64], "not a valid digest"),
        (["--env", "dev", "--tag", "v1", "--image", "Evil/Name"], "--image 'Evil/Name': not a valid image name"),
        (["--env", "dev", "--tag", "v1", "--image", "x/y:tag"], "not a valid image name"),
    ],
)
def test_rejected_input_is_one_line_exit_2_and_touches_nothing(repo, capsys, args, message):
    before = snapshot(repo)
    assert run(repo, "set-image", *args) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.startswith("gitops: error: ")
    assert message in err
    assert snapshot(repo) == before


def test_missing_images_entry_names_file_and_field(repo, capsys):
    path = repo / DEV
    path.write_text(path.read_text().split("images:")[0])
    before = snapshot(repo)
    assert run(repo, "set-image", "--env", "dev", "--tag", "v1") == 2
    assert capsys.readouterr().err.strip() == (
        f"gitops: error: {DEV}: Kustomization: images: missing (expected a list with name: flask-app)"
    )
    assert snapshot(repo) == before


def test_invalid_yaml_is_a_clear_error(repo, capsys):
    (repo / DEV).write_text("images: [\n")
    assert run(repo, "set-image", "--env", "dev", "--tag", "v1") == 2
    err = capsys.readouterr().err
    assert err.startswith(f"gitops: error: {DEV}:2: invalid YAML")
    assert err.count("\n") == 1


def test_new_image_name(repo):
    assert run(repo, "set-image", "--env", "dev", "--tag", "v1", "--image", "registry.example.net:5000/team/app") == 0
    assert "newName: registry.example.net:5000/team/app\n" in (repo / DEV).read_text()


def test_no_temporary_files_left(repo):
    run(repo, "set-image", "--env", "dev", "--tag", "v9")
    leftovers = [p.name for p in (repo / DEV).parent.iterdir() if p.name.startswith(".")]
    assert leftovers == []


def test_commit_writes_a_conventional_message(repo):
    from tests.gitops.conftest import git

    assert run(repo, "set-image", "--env", "dev", "--tag", "sha-1a2b3c4", "--commit") == 0
    assert git(repo, "log", "-1", "--format=%s").strip() == "deploy(dev): flask-app sha-1a2b3c4"
    assert git(repo, "status", "--porcelain") == ""


def test_numeric_looking_tags_are_quoted_to_stay_strings(repo):
    import yaml

    assert run(repo, "set-image", "--env", "dev", "--tag", "1.10") == 0
    text = (repo / DEV).read_text()
    assert 'newTag: "1.10"\n' in text
    assert yaml.safe_load(text)["images"][0]["newTag"] == "1.10"


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
