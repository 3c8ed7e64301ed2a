"""gitops.files: strict YAML, bounded reads, all-or-nothing writes, the repository lock; and what the
commands read and write through it, refused with one line and nothing changed."""

from __future__ import annotations

import os
import threading
import time

import pytest

from gitops import files
from gitops.errors import GitopsError
from tests.gitops.conftest import DEV, gitops, one_error_line, refused, state


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("a: 1\na: 2\n", "duplicate key 'a'"),
        ("a:\n  b: 1\n  b: 1\n", "duplicate key 'b'"),
        ("yes: 1\ntrue: 2\n", "duplicate key True"),  # YAML 1.1 reads both as the same key
        ("[" * 100 + "]" * 100, "nested deeper than 64 levels"),
        ("a: &a [*a]\n", "recursive alias"),
        (
            'a: &a ["x", "x", "x", "x", "x", "x", "x", "x", "x", "x"]\n'
            + "".join(f"{n}: &{n} [{', '.join([f'*{p}'] * 10)}]\n" for p, n in zip("abcd", "bcde", strict=True)),
            "aliases expand to more than 100000 nodes",
        ),
    ],
)
def test_strict_yaml_refuses(text, problem):
    with pytest.raises(GitopsError, match="invalid YAML") as caught:
        files.parse_yaml(text, "f.yaml")
    assert problem in str(caught.value)
    assert "\n" not in str(caught.value)


def test_strict_yaml_accepts_merge_keys_and_small_aliases():
    doc = files.parse_yaml("base: &b {x: 1, y: 2}\nother:\n  <<: *b\n  y: 3\nlist: [*b, *b]\n", "f.yaml")
    assert doc["other"] == {"x": 1, "y": 3}
    assert doc["list"] == [{"x": 1, "y": 2}] * 2


def test_strict_yaml_is_not_changed_by_other_modules_resolvers():
    import yaml
    import yamllint.rules.quoted_strings  # noqa: F401 - adds a YAML 1.2 octal resolver to PyYAML, globally

    assert yaml.safe_load("0o17") == 15  # what the import did to PyYAML itself
    assert files.parse_yaml("tag: 0o17\nport: 8080\nflag: yes\n", "f.yaml") == {
        "tag": "0o17",
        "port": 8080,
        "flag": True,
    }


def test_reads_are_bounded_and_regular_files_only(tmp_path):
    big = tmp_path / "big.yaml"
    big.write_bytes(b"#" * (files.MAX_BYTES + 1))
    with pytest.raises(GitopsError, match="too large"):
        files.read_text(big)
    os.mkfifo(tmp_path / "fifo")
    with pytest.raises(GitopsError, match="not a regular file"):
        files.read_text(tmp_path / "fifo")
    with pytest.raises(GitopsError, match="not a regular file"):
        files.read_text(tmp_path)
    (tmp_path / "latin1").write_bytes(b"caf\xe9\n")
    with pytest.raises(GitopsError, match=r"not UTF-8 text \(byte 3\)"):
        files.read_text(tmp_path / "latin1")


def test_apply_writes_all_or_nothing(tmp_path):
    first, second = tmp_path / "a.yaml", tmp_path / "b" / "c.yaml"
    first.write_bytes(b"old\n")
    (tmp_path / "b").mkdir()
    second.write_bytes(b"old\n")
    second.chmod(0o444)
    changes = [files.Change(first, b"old\n", b"new\n"), files.Change(second, b"old\n", b"new\n")]
    with pytest.raises(GitopsError, match="read-only"):
        files.apply(changes, tmp_path)
    assert first.read_bytes() == b"old\n"  # checked before anything was written
    second.chmod(0o644)
    files.apply(changes, tmp_path)
    assert first.read_bytes() == second.read_bytes() == b"new\n"
    assert oct(second.stat().st_mode & 0o777) == "0o644"  # the mode survives the atomic replace


def test_apply_refuses_a_file_changed_since_it_was_read(tmp_path):
    path = tmp_path / "a.yaml"
    path.write_bytes(b"changed by someone\n")
    with pytest.raises(GitopsError, match="changed while gitops was running"):
        files.apply([files.Change(path, b"old\n", b"new\n")], tmp_path)
    assert path.read_bytes() == b"changed by someone\n"


def test_lock_is_exclusive_between_threads_and_reentrant_within_one(tmp_path):
    order: list[str] = []

    def other() -> None:
        with files.repo_lock(tmp_path):
            order.append("other")

    with files.repo_lock(tmp_path):
        with files.repo_lock(tmp_path):  # re-entrant: no deadlock
            order.append("inner")
        thread = threading.Thread(target=other)
        thread.start()
        time.sleep(0.2)
        order.append("outer done")
    thread.join(timeout=10)
    assert order == ["inner", "outer done", "other"]


def test_lock_times_out_with_one_line(tmp_path):
    def hold() -> None:
        with files.repo_lock(tmp_path):
            time.sleep(1)

    thread = threading.Thread(target=hold)
    thread.start()
    time.sleep(0.2)
    with (
        pytest.raises(GitopsError, match="another gitops command is still writing here"),
        files.repo_lock(tmp_path, timeout=0.1),
    ):
        pass
    thread.join()


def test_non_utf8_kustomization(repo, capsys):
    (repo / DEV).write_bytes((repo / DEV).read_bytes().replace(b"# The only", b"# The \xff only"))
    refused(repo, capsys, 2, ["set-image", "--env", "dev", "--tag", "v1"], f"{DEV}: cannot read: not UTF-8")
    refused(repo, capsys, 2, ["status"], "not UTF-8")


def test_duplicate_key_in_a_kustomization(repo, capsys):
    (repo / DEV).write_text((repo / DEV).read_text() + "images: []\n")
    refused(repo, capsys, 2, ["set-image", "--env", "dev", "--tag", "v1"], "duplicate key 'images'")


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
