#!/usr/bin/env python3
"""Vendor Metrics Server's manifests into addons/metrics-server/upstream/, from its pinned Go module.

    tools/vendor-metrics-server.py            # go mod download sigs.k8s.io/metrics-server@PINNED, write upstream/
    tools/vendor-metrics-server.py --check    # exit 1, naming the first file that differs
    tools/vendor-metrics-server.py --from .tools/metrics-server-manifests --check   # offline (tools/install.sh)

The version is METRICS_SERVER_VERSION of tools/versions.mk. Each of the module's
manifests/base/{apiservice,deployment,rbac,service}.yaml is copied byte for byte under a
header naming the module, its version and its h1 sum, except the one `image:` line:
upstream names its own staging image, which becomes the bare name `metrics-server` (our
kustomization.yaml maps it to the mirror in our registry). Upstream's kustomization.yaml
(`commonLabels`) is not copied: addons/metrics-server/kustomization.yaml is ours.

``--from DIR`` reads a folder holding those files and the module's `module.json` (Path,
Version, Sum: what `go mod download -json` printed), as tools/install.sh leaves it in
.tools/metrics-server-manifests/. Standard library only.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MODULE = "sigs.k8s.io/metrics-server"
FILES = ("apiservice.yaml", "deployment.yaml", "rbac.yaml", "service.yaml")
IMAGE_FILE = "deployment.yaml"
PLACEHOLDER = "metrics-server"  # the image name our kustomization.yaml maps (images: name)
OUT = Path("addons") / "metrics-server" / "upstream"
MODULE_JSON = "module.json"
# The one image line of upstream's Deployment, whatever image it names.
IMAGE_LINE = re.compile(rb"^(?P<indent>[ \t]*(?:- )?)image:[ \t]*\S+[ \t]*(?P<eol>\r?\n|$)", re.M)


class VendorError(Exception):
    pass


def pinned_version(root: Path = ROOT) -> str:
    for line in (root / "tools" / "versions.mk").read_text().splitlines():
        key, sep, value = line.partition(":=")
        if sep and key.strip() == "METRICS_SERVER_VERSION":
            return value.strip()
    raise VendorError("tools/versions.mk: METRICS_SERVER_VERSION is not set")


def download(version: str) -> tuple[Path, dict]:
    """The module's base manifests folder and its `go mod download -json` facts (Path, Version, Sum)."""
    try:
        result = subprocess.run(
            ["go", "mod", "download", "-json", f"{MODULE}@{version}"],
            capture_output=True,
            text=True,
            check=False,
            timeout=600,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise VendorError(f"go mod download {MODULE}@{version}: {exc}") from None
    try:
        info = json.loads(result.stdout or "{}")
    except json.JSONDecodeError:
        info = {}
    if result.returncode != 0 or not info.get("Dir"):
        reason = info.get("Error") or result.stderr.strip().splitlines()[-1:] or ["no Dir"]
        raise VendorError(f"go mod download {MODULE}@{version}: {reason if isinstance(reason, str) else reason[0]}")
    return Path(info["Dir"]) / "manifests" / "base", info


def read_module(folder: Path) -> dict:
    """The module facts tools/install.sh saved beside the manifests (--from)."""
    try:
        return json.loads((folder / MODULE_JSON).read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise VendorError(f"{folder / MODULE_JSON}: cannot read the module facts: {exc}") from None


def vendored(folder: Path, info: dict, version: str) -> dict[str, bytes]:
    """File name -> the bytes upstream/ must hold, from the module's manifests/base ``folder``."""
    if info.get("Path", MODULE) != MODULE or info.get("Version") != version:
        raise VendorError(f"{folder}: holds {info.get('Path')}@{info.get('Version')}, not {MODULE}@{version}")
    if not str(info.get("Sum", "")).startswith("h1:"):
        raise VendorError(f"{folder}: no h1 sum for {MODULE}@{version}")
    out: dict[str, bytes] = {}
    for name in FILES:
        try:
            data = (folder / name).read_bytes()
        except OSError as exc:
            raise VendorError(f"{folder / name}: {exc.strerror}") from None
        lines = IMAGE_LINE.findall(data)
        if name == IMAGE_FILE:
            if len(lines) != 1:
                raise VendorError(f"{folder / name}: {len(lines)} image lines, expected exactly 1")
            data = IMAGE_LINE.sub(lambda m: m["indent"] + b"image: " + PLACEHOLDER.encode() + m["eol"], data)
        elif lines:
            raise VendorError(f"{folder / name}: an image line where none was expected")
        header = (
            f"# {MODULE}@{version} manifests/base/{name}\n"
            f"# {info['Sum']}\n"
            "# Vendored by tools/vendor-metrics-server.py, byte for byte but the image line: do not edit.\n"
        )
        out[name] = header.encode() + data
    return out


def check(out: Path, wanted: dict[str, bytes], version: str) -> str | None:
    """The one-line difference between ``out`` and ``wanted``, or None."""
    rel = out.relative_to(ROOT) if out.is_relative_to(ROOT) else out
    present = sorted(p.name for p in out.iterdir()) if out.is_dir() else []
    for name in present:
        if name not in wanted:
            return f"{rel / name}: not a file of {MODULE}@{version} (remove it)"
    for name, data in wanted.items():
        path = out / name
        if not path.is_file():
            return f"{rel / name}: missing (run tools/vendor-metrics-server.py)"
        if path.read_bytes() != data:
            return f"{rel / name}: differs from {MODULE}@{version} (edited by hand? run tools/vendor-metrics-server.py)"
    return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="vendor-metrics-server.py", description=__doc__.splitlines()[0])
    parser.add_argument("--version", help="the module version (default: tools/versions.mk METRICS_SERVER_VERSION)")
    parser.add_argument("--from", dest="source", type=Path, help="a folder of the module's manifests/base files")
    parser.add_argument("--out", type=Path, default=ROOT / OUT, help=f"where to write (default: {OUT})")
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 when --out differs")
    args = parser.parse_args(argv)
    try:
        version = args.version or pinned_version()
        if args.source is not None:
            folder, info = args.source, read_module(args.source)
        else:
            folder, info = download(version)
        wanted = vendored(folder, info, version)
        if args.check:
            problem = check(args.out, wanted, version)
            if problem:
                print(f"vendor-metrics-server: {problem}", file=sys.stderr)
                return 1
            print(f"vendor-metrics-server: {args.out.name}/ is {MODULE}@{version}")
            return 0
        args.out.mkdir(parents=True, exist_ok=True)
        for path in args.out.iterdir():
            if path.name not in wanted:
                path.unlink()
        for name, data in wanted.items():
            (args.out / name).write_bytes(data)
        print(f"vendor-metrics-server: wrote {len(wanted)} files of {MODULE}@{version} to {args.out}")
        return 0
    except VendorError as exc:
        print(f"vendor-metrics-server: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
