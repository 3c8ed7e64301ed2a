"""The service's image for the real node, built from the repository's own Dockerfile.

No registry is reachable here and there is no Docker engine, so:

- the base: the Dockerfile's ``BASE`` build argument names a Python 3.11 base. The stack
  makes one from Debian's packages (mmdebstrap: bookworm's python3, which is 3.11, with
  venv) and commits it with buildah, once per package list (cached in the build cache);
- the Python packages: ``pip download`` on the host (its own index settings) fetches the
  exact pins of requirements/runtime.txt as wheels; the Dockerfile's ``pip install`` reads
  them through a pip.conf mounted for the build only (``no-index``), so the build itself
  reaches no network and nothing of it stays in the image;
- the image: ``buildah build`` of the committed tree (``git archive``, not the working
  tree), with ``--timestamp 0`` so that the same commit gives the same bytes, pushed to
  an OCI archive that containerd imports. The digest is the archive's manifest digest:
  the same content address a registry would report.

How versions map to images: ``service(root, tag)`` builds the commit ``root`` is at and
names it ``IMAGE:tag``; the manifests pin ``IMAGE:tag@digest`` (``gitops set-image``), and
the kubelet finds exactly those bytes in containerd (``imagePullPolicy: IfNotPresent``; a
digest the node does not hold cannot be pulled, so such a release never starts).
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import tarfile
import tempfile
from pathlib import Path

IMAGE = "registry.example.com/example-org/flask-app"  # the overlays' `images:` name
BASE_PACKAGES = ("python3", "python3-venv", "python-is-python3", "ca-certificates")
BASE_SUITE = "bookworm"
PAUSE = "localhost/flask-gitops/pause:1"


def _buildah(cache: Path) -> list[str]:
    store = cache / "images" / "buildah"
    return ["buildah", "--root", str(store / "root"), "--runroot", str(store / "run"), "--storage-driver", "vfs"]


def _run(argv: list[str], **kwargs) -> str:
    result = subprocess.run(argv, capture_output=True, text=True, **kwargs)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(argv[:4])}...: exit {result.returncode}: {result.stderr.strip()[-600:]}")
    return result.stdout.strip()


def _exists(cache: Path, name: str) -> bool:
    result = subprocess.run([*_buildah(cache), "inspect", "--type", "image", name], capture_output=True)
    return result.returncode == 0


def base(cache: Path) -> str:
    """The Python base image (built once per package list); its name."""
    key = hashlib.sha256(json.dumps([BASE_SUITE, *BASE_PACKAGES]).encode()).hexdigest()[:12]
    name = f"localhost/flask-gitops/python-base:{BASE_SUITE}-{key}"
    if _exists(cache, name):
        return name
    with tempfile.TemporaryDirectory(prefix="flask-gitops-base-") as tmp:
        rootfs = Path(tmp) / "rootfs.tar"
        env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "SOURCE_DATE_EPOCH": "0"}
        _run(["mmdebstrap", "--quiet", "--variant=minbase", f"--include={','.join(BASE_PACKAGES)}", "--mode=root",
              BASE_SUITE, str(rootfs)], env=env)  # fmt: skip
        container = _run([*_buildah(cache), "from", "scratch"])
        try:
            _run([*_buildah(cache), "add", container, str(rootfs), "/"])
            _run([*_buildah(cache), "config", "--env", "PATH=/usr/local/bin:/usr/bin:/bin", container])
            _run([*_buildah(cache), "commit", "--quiet", "--timestamp", "0", container, name])
        finally:
            subprocess.run([*_buildah(cache), "rm", container], capture_output=True)
    return name


def pause(cache: Path, out: Path) -> Path:
    """The pod sandbox image (what the pause image does: sleep until killed), as an OCI archive."""
    out.mkdir(parents=True, exist_ok=True)
    archive = out / "pause.tar"
    if not _exists(cache, PAUSE):
        container = _run([*_buildah(cache), "from", base(cache)])
        try:
            entrypoint = '["python3", "-c", "import signal; signal.pause()"]'
            _run([*_buildah(cache), "config", "--cmd", "", "--entrypoint", entrypoint, "--user", "65535:65535",
                  container])  # fmt: skip
            _run([*_buildah(cache), "commit", "--quiet", "--timestamp", "0", container, PAUSE])
        finally:
            subprocess.run([*_buildah(cache), "rm", container], capture_output=True)
    _run([*_buildah(cache), "push", "--quiet", PAUSE, f"oci-archive:{archive}:{PAUSE}"])
    return archive


def _wheels(root: Path, cache: Path) -> Path:
    requirements = root / "requirements" / "runtime.txt"
    key = hashlib.sha256(requirements.read_bytes()).hexdigest()[:12]
    folder = cache / "images" / f"wheels-{key}"
    if not (folder / ".complete").exists():
        _run(["python3", "-m", "pip", "download", "--quiet", "--only-binary=:all:", "--python-version", "3.11",
              "--implementation", "cp", "--platform", "manylinux2014_x86_64", "-r", str(requirements),
              "-d", str(folder)])  # fmt: skip
        (folder / ".complete").write_text("")
    return folder


def reference_of(archive: Path) -> tuple[str, str]:
    """The name and manifest digest an OCI archive holds (the digest a registry would report)."""
    with tarfile.open(archive) as tar:
        index = json.load(tar.extractfile("index.json"))
    manifest = index["manifests"][0]
    return manifest["annotations"]["org.opencontainers.image.ref.name"], manifest["digest"]


def service(root: Path, cache: Path, out: Path, tag: str, revision: str = "HEAD") -> tuple[Path, str]:
    """Build ``revision`` of ``root`` with its Dockerfile as ``IMAGE:tag``; the OCI archive and digest."""
    out.mkdir(parents=True, exist_ok=True)
    wheels = _wheels(root, cache)
    with tempfile.TemporaryDirectory(prefix="flask-gitops-image-") as tmp:
        context = Path(tmp) / "context"
        context.mkdir()
        archive = subprocess.run(["git", "archive", revision], cwd=root, capture_output=True, check=True).stdout
        subprocess.run(["tar", "-x", "-C", str(context)], input=archive, check=True, capture_output=True)
        pip_conf = Path(tmp) / "pip.conf"
        pip_conf.write_text("[global]\nno-index = true\nfind-links = /wheels\n")
        name = f"{IMAGE}:{tag}"
        _run([*_buildah(cache), "build", "--quiet", "--format", "docker", "--isolation", "chroot", "--timestamp", "0",
              "--volume", f"{wheels}:/wheels:ro", "--volume", f"{pip_conf}:/etc/pip.conf:ro",
              "--build-arg", f"BASE={base(cache)}", "--build-arg", f"VERSION={tag}", "--build-arg", f"IMAGE_TAG={tag}",
              "--tag", name, str(context)])  # fmt: skip
    target = out / f"flask-app-{tag}.tar"
    target.unlink(missing_ok=True)
    _run([*_buildah(cache), "push", "--quiet", name, f"oci-archive:{target}:{name}"])
    return target, reference_of(target)[1]


def binary_image(cache: Path, out: Path, binary: Path, name: str) -> Path:
    """A from-scratch image holding one static ``binary`` as its entrypoint, named ``name`` (the
    name the manifests ask for, with ``imagePullPolicy: IfNotPresent``), as an OCI archive.
    The upstream release image of Metrics Server is such an image; this one is built here from
    the binary tools/build-metrics-server.sh built from the pinned module."""
    out.mkdir(parents=True, exist_ok=True)
    archive = out / f"{binary.name}.tar"
    container = _run([*_buildah(cache), "from", "scratch"])
    try:
        _run([*_buildah(cache), "copy", "--chmod", "0755", container, str(binary), f"/{binary.name}"])
        _run([*_buildah(cache), "config", "--entrypoint", json.dumps([f"/{binary.name}"]), "--user", "65534:65534",
              container])  # fmt: skip
        _run([*_buildah(cache), "commit", "--quiet", "--timestamp", "0", container, name])
    finally:
        subprocess.run([*_buildah(cache), "rm", container], capture_output=True)
    archive.unlink(missing_ok=True)
    _run([*_buildah(cache), "push", "--quiet", name, f"oci-archive:{archive}:{name}"])
    return archive
