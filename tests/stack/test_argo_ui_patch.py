"""The offline argo-ui (ad616de) that builds the Argo CD web UI, as tools/build-argocd-ui.sh patches it.

Argo CD v3.6.1 pins argo-ui f941b0a, whose toasts use react-toastify 11 (its pnpm-lock.yaml
resolves argo-ui's react-toastify to 11.1.0). ad616de still has react-toastify 9, whose
ToastContainer gets its `transition` from defaultProps, which React 19's JSX runtime no
longer applies: every notification rendered an undefined element type (React error #130)
and the whole page became "Something went wrong!" (issue 27 item 1).
"""

from __future__ import annotations

import json
import os
import subprocess
import tarfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# What the Makefile hands tools/build-argocd-ui.sh (ARGO_UI_TARBALL), else its default.
VENDOR = [Path(os.environ["ARGO_UI_TARBALL"])] if os.environ.get("ARGO_UI_TARBALL") else []
VENDOR = VENDOR or sorted((ROOT.parent / "shared" / "vendor").glob("argo-ui-*.tgz"))
PATCHES = sorted((ROOT / "tools" / "patches").glob("argo-ui-*.patch"))


@pytest.mark.skipif(not VENDOR, reason="no offline argo-ui in ../shared/vendor/")
def test_the_offline_argo_ui_is_patched_to_react_toastify_11(tmp_path: Path):
    assert PATCHES, "tools/patches/argo-ui-*.patch: the offline argo-ui needs react-toastify 11 for React 19"
    with tarfile.open(VENDOR[-1]) as tar:
        tar.extractall(tmp_path, filter="data")
    package = tmp_path / "package"
    for patch in PATCHES:
        subprocess.run(["patch", "-p1", "--forward", "--silent", "-i", str(patch)], cwd=package, check=True)
    manifest = json.loads((package / "package.json").read_text())
    assert manifest["dependencies"]["react-toastify"] == "11.1.0"
    notifications = (package / "src" / "components" / "notifications" / "notifications.tsx").read_text()
    assert "toast.POSITION" not in notifications  # removed in react-toastify 10
    assert "position: 'bottom-right'" in notifications
