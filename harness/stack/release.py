"""The sandbox's release: what CI's image push gives the bump, a tag and a digest.

In CI, release.yml builds the image, pushes it and hands `gitops set-image` its digest. The
local stack has no registry and kwok runs no containers, so `make up` writes the service
of this checkout as an OCI image layout (build/stack/oci: one layer with the service's
files, a config naming the image's user and command, a manifest, an index) and prints its
tag and manifest digest. The digest is a real content address of those bytes, the same
for the same checkout, so the quick start can deploy dev -> staging -> prod by digest
exactly as CI does. It is not the Dockerfile's image (no base layer): a stand-in for it.
"""

from __future__ import annotations

import hashlib
import io
import json
import subprocess
import tarfile
from pathlib import Path

TAG = "1.2.4"
# What the image holds of the repository (the Dockerfile's COPY lines), from the committed tree.
SERVICE_PATHS = ("src/flask_app", "gunicorn.conf.py", "requirements/runtime.txt")
MEDIA = "application/vnd.oci.image"


def _layer(root: Path) -> bytes:
    """A deterministic tar of the service's committed files (git's order, mtime 0, root-owned)."""
    listing = subprocess.run(
        ["git", "ls-files", "-z", "--", *SERVICE_PATHS], cwd=root, capture_output=True, check=True
    ).stdout
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name in sorted(p for p in listing.decode().split("\0") if p):
            data = subprocess.run(["git", "show", f"HEAD:{name}"], cwd=root, capture_output=True, check=True).stdout
            info = tarfile.TarInfo(f"app/{name}")
            info.size, info.mode, info.mtime = len(data), 0o644, 0
            tar.addfile(info, io.BytesIO(data))
    return out.getvalue()


def _blob(folder: Path, data: bytes) -> dict:
    digest = hashlib.sha256(data).hexdigest()
    (folder / "blobs" / "sha256" / digest).write_bytes(data)
    return {"digest": f"sha256:{digest}", "size": len(data)}


def build(root: Path, out: Path, tag: str = TAG) -> str:
    """Write the OCI image layout of ``root``'s service to ``out``; the manifest's digest."""
    (out / "blobs" / "sha256").mkdir(parents=True, exist_ok=True)
    layer = _layer(root)
    config = {
        "architecture": "amd64",
        "os": "linux",
        "config": {
            "User": "10001",
            "WorkingDir": "/app",
            "Cmd": ["gunicorn", "--config", "gunicorn.conf.py", "flask_app.wsgi:app"],
            "Labels": {"org.opencontainers.image.version": tag},
        },
        "rootfs": {"type": "layers", "diff_ids": [f"sha256:{hashlib.sha256(layer).hexdigest()}"]},
    }
    manifest = {
        "schemaVersion": 2,
        "mediaType": f"{MEDIA}.manifest.v1+json",
        "config": {"mediaType": f"{MEDIA}.config.v1+json", **_blob(out, json.dumps(config, sort_keys=True).encode())},
        "layers": [{"mediaType": f"{MEDIA}.layer.v1.tar", **_blob(out, layer)}],
    }
    described = _blob(out, json.dumps(manifest, sort_keys=True).encode())
    index = {
        "schemaVersion": 2,
        "manifests": [
            {
                "mediaType": manifest["mediaType"],
                **described,
                "annotations": {"org.opencontainers.image.ref.name": tag},
            }
        ],
    }
    (out / "index.json").write_text(json.dumps(index, sort_keys=True))
    (out / "oci-layout").write_text('{"imageLayoutVersion": "1.0.0"}')
    return described["digest"]
