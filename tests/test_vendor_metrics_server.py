"""addons/metrics-server/upstream/ is what tools/vendor-metrics-server.py makes of the pinned module.

Offline: `make tools` leaves the module's manifests/base (and its sum) in
.tools/metrics-server-manifests/; a hand edit of upstream/ fails here.
"""

from __future__ import annotations

import importlib.util
import shutil

import pytest

from gitops.toolchain import pins, repo_root, tools_dir

ROOT = repo_root()
UPSTREAM = ROOT / "addons" / "metrics-server" / "upstream"


@pytest.fixture(scope="module")
def vendor():
    spec = importlib.util.spec_from_file_location("vendor_metrics_server", ROOT / "tools" / "vendor-metrics-server.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def cache():
    folder = tools_dir() / "metrics-server-manifests"
    if not (folder / "module.json").is_file():
        pytest.fail(f"{folder}: missing; run `make tools` (tools/install.sh caches the pinned module there)")
    return folder


def test_upstream_is_the_pinned_module_byte_for_byte_but_the_image(vendor, cache, capsys):
    assert vendor.main(["--from", str(cache), "--check"]) == 0, capsys.readouterr().err
    version = pins()["METRICS_SERVER_VERSION"]
    for name in vendor.FILES:
        vendored = (UPSTREAM / name).read_bytes()
        original = (cache / name).read_bytes()
        assert f"sigs.k8s.io/metrics-server@{version} manifests/base/{name}".encode() in vendored
        body = vendored.split(b"do not edit.\n", 1)[1]
        if name == "deployment.yaml":
            changed = [(a, b) for a, b in zip(original.splitlines(), body.splitlines(), strict=True) if a != b]
            assert [b for _, b in changed] == [b"        image: metrics-server"]
        else:
            assert body == original
    assert sorted(p.name for p in UPSTREAM.iterdir()) == sorted(vendor.FILES)


@pytest.mark.parametrize(
    ("edit", "named"),
    [
        (lambda d: (d / "rbac.yaml").write_text((d / "rbac.yaml").read_text().replace("- get\n", "- '*'\n")), "rbac"),
        (lambda d: (d / "extra.yaml").write_text("kind: Secret\n"), "extra.yaml"),
        (lambda d: (d / "service.yaml").unlink(), "service.yaml"),
    ],
    ids=["hand-edited", "extra-file", "missing-file"],
)
def test_check_names_the_file_that_differs(vendor, cache, tmp_path, capsys, edit, named):
    out = tmp_path / "upstream"
    shutil.copytree(UPSTREAM, out)
    edit(out)
    assert vendor.main(["--from", str(cache), "--out", str(out), "--check"]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    assert named in err


def test_the_tool_writes_what_check_accepts(vendor, cache, tmp_path):
    out = tmp_path / "upstream"
    out.mkdir()
    (out / "stale.yaml").write_text("{}\n")
    assert vendor.main(["--from", str(cache), "--out", str(out)]) == 0
    assert sorted(p.name for p in out.iterdir()) == sorted(vendor.FILES)
    assert vendor.main(["--from", str(cache), "--out", str(out), "--check"]) == 0


def test_the_image_line_is_rewritten_whatever_registry_upstream_names(vendor, tmp_path):
    folder = tmp_path / "base"
    folder.mkdir()
    for name in vendor.FILES:
        (folder / name).write_text("kind: X\n")
    (folder / "deployment.yaml").write_text("spec:\n  containers:\n  - name: m\n    image: some.host/x/y:master\n")
    info = {"Path": vendor.MODULE, "Version": "v0.0.1", "Sum": "h1:abc="}
    out = vendor.vendored(folder, info, "v0.0.1")
    assert out["deployment.yaml"].endswith(b"  - name: m\n    image: metrics-server\n")
    (folder / "service.yaml").write_text("image: another\n")
    with pytest.raises(vendor.VendorError, match=r"service\.yaml"):
        vendor.vendored(folder, info, "v0.0.1")
