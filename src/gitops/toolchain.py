"""Where things are and which versions are pinned: the one module that knows.

- ``repo_root()``: the source checkout this tool runs from (the folder holding
  ``tools/versions.mk``), which is not always the repository a command works on
  (``gitops -C DIR``, or a copy of the manifests in a temporary folder);
- ``pins()``: every ``KEY := value`` line of ``tools/versions.mk``;
- ``tools_dir()``, ``tool(name)``, ``schemas_dir()``, ``kubernetes_versions()``: what the
  pinned tools and schemas are and where they were installed.

Environment variables set by the Makefile win over the files: ``TOOLS_DIR``,
``GITOPS_SCHEMAS``, ``KUBERNETES_VERSION`` and ``KUBERNETES_OLDEST_VERSION``.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from pathlib import Path

from .errors import GitopsError

PINS_FILE = Path("tools") / "versions.mk"


def _package_checkout() -> Path:
    """The checkout this module lives in, when it runs from one (src/gitops/toolchain.py)."""
    return Path(__file__).resolve().parents[2]


def repo_root() -> Path:
    """The source checkout: this package's own one, else the nearest one at or above the working directory.

    A package installed from a wheel has no checkout of its own; run it inside one.
    """
    candidates = [_package_checkout()]
    here = Path.cwd().resolve()
    candidates += [here, *here.parents]
    for candidate in candidates:
        if (candidate / PINS_FILE).is_file():
            return candidate
    raise GitopsError(f"{PINS_FILE} not found: run gitops inside a checkout of the repository (or set TOOLS_DIR)")


def pins() -> dict[str, str]:
    """Every pinned version: the ``KEY := value`` lines of tools/versions.mk."""
    path = repo_root() / PINS_FILE
    found: dict[str, str] = {}
    for line in path.read_text().splitlines():
        if ":=" in line and not line.lstrip().startswith("#"):
            key, _, value = line.partition(":=")
            found[key.strip()] = value.strip()
    return found


def kubernetes_versions() -> list[str]:
    """The Kubernetes versions every manifest is validated against: the pinned one and the oldest supported."""
    versions = [os.environ.get("KUBERNETES_VERSION"), os.environ.get("KUBERNETES_OLDEST_VERSION")]
    versions = [v for v in versions if v]
    if versions:
        return versions
    pinned = pins()
    return [pinned["KUBERNETES_VERSION"], pinned["KUBERNETES_OLDEST_VERSION"]]


def tools_dir() -> Path:
    """Where `make tools` installs the pinned tools and schemas."""
    if os.environ.get("TOOLS_DIR"):
        return Path(os.environ["TOOLS_DIR"])
    return repo_root() / ".tools"


def build_cache() -> Path:
    """Where `make e2e-tools` keeps the long builds (Kubernetes, Argo CD, its UI), per user, by version."""
    if os.environ.get("BUILD_CACHE"):
        return Path(os.environ["BUILD_CACHE"])
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "flask-gitops"


def tool(name: str) -> str:
    """A pinned tool from $TOOLS_DIR/bin or the checkout's .tools/bin, else the one on PATH."""
    folders = [Path(os.environ["TOOLS_DIR"])] if os.environ.get("TOOLS_DIR") else []
    with contextlib.suppress(GitopsError):  # installed without a checkout: PATH only
        folders.append(repo_root() / ".tools")
    for folder in folders:
        candidate = folder / "bin" / name
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    found = shutil.which(name)
    if found:
        return found
    raise GitopsError(f"{name} not found: run 'make tools' (it installs the pinned version)")


def schemas_dir() -> Path:
    """The generated JSON schemas, checked to hold every pinned Kubernetes version."""
    base = os.environ.get("GITOPS_SCHEMAS")
    path = Path(base) if base else tools_dir() / "schemas"
    for version in kubernetes_versions():
        if not (path / f"v{version}-standalone-strict").is_dir():
            raise GitopsError(f"{path}: no schemas for Kubernetes {version}; run 'make schemas'")
    return path
