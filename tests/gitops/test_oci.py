"""Property-based tests for the reference parser and the edit it guards."""

from __future__ import annotations

import shutil
import string

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gitops import images, oci
from gitops.cli import main
from gitops.errors import GitopsError
from tests.gitops.conftest import copy_repo, snapshot

TAG_FIRST = string.ascii_letters + string.digits + "_"
TAG_REST = TAG_FIRST + ".-"
valid_tags = st.builds(lambda a, b: a + b, st.sampled_from(TAG_FIRST), st.text(TAG_REST, max_size=127))
valid_digests = st.builds(lambda h: "sha256:" + h, st.text("0123456789abcdef", min_size=64, max_size=64))
component = st.from_regex(r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*", fullmatch=True)
valid_names = st.builds(
    lambda host, parts: "/".join(([host] if host else []) + parts),
    st.one_of(st.none(), st.from_regex(r"[a-z0-9]+(?:\.[a-z0-9]+)*(?::[0-9]{1,5})?", fullmatch=True)),
    st.lists(component, min_size=1, max_size=4),
).filter(lambda n: len(n) <= 255)

DEV = "apps/flask-app/overlays/dev/kustomization.yaml"
SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@pytest.fixture(scope="module")
def pristine(tmp_path_factory):
    return copy_repo(tmp_path_factory.mktemp("pristine") / "repo")


@pytest.fixture
def work(pristine, tmp_path):
    dest = tmp_path / "work"
    if dest.exists():
        shutil.rmtree(dest)
    shutil.copytree(pristine, dest)
    return dest


@SETTINGS
@given(tag=valid_tags, digest=st.one_of(st.none(), valid_digests))
def test_valid_tag_and_digest_round_trip(work, tag, digest):
    args = ["-C", str(work), "set-image", "--env", "dev", "--tag", tag]
    if digest:
        args += ["--digest", digest]
    assert main(args) == 0
    ref = images.read(work / DEV, "flask-app")
    assert (ref.tag, ref.digest) == (tag, digest)


@SETTINGS
@given(name=valid_names)
def test_valid_names_are_accepted_and_round_trip(work, name):
    assert oci.image_name(name) == name
    assert main(["-C", str(work), "set-image", "--env", "dev", "--tag", "v1", "--image", name]) == 0
    assert images.read(work / DEV, "flask-app").name == name


@SETTINGS
@given(value=st.text(max_size=200), field=st.sampled_from(["--tag", "--digest", "--image"]))
def test_arbitrary_strings_never_change_a_manifest_unless_valid(work, capsys, value, field):
    validators = {"--tag": oci.tag, "--digest": oci.digest, "--image": oci.image_name}
    try:
        validators[field](value)
        valid = not (field == "--tag" and value == "latest")  # the grammar allows it, policy GO116 does not
    except GitopsError:
        valid = False
    before = snapshot(work)
    args = ["-C", str(work), "set-image", "--env", "dev", "--tag", "v1", f"{field}={value}"]
    if field == "--tag":
        args = ["-C", str(work), "set-image", "--env", "dev", f"--tag={value}"]
    try:
        code = main(args)
    except SystemExit as exc:  # argparse itself refusing (e.g. a NUL byte): still exit 2
        code = exc.code
    if not valid:
        assert code == 2
        assert snapshot(work) == before
    else:
        assert code == 0
    capsys.readouterr()


@given(value=st.text(max_size=300))
def test_parsers_never_raise_anything_but_gitops_error(value):
    for check in (oci.tag, oci.digest, oci.image_name):
        message = ""
        try:
            assert check(value) == value
        except GitopsError as exc:
            message = str(exc)
        # One line: the (repr-escaped) value never breaks the message.
        assert "\n" not in message
