"""One home for pinned versions and locations: tools/versions.mk, the checkout, the tools."""

from __future__ import annotations

from pathlib import Path

import pytest

from gitops import toolchain
from gitops.errors import GitopsError

ROOT = toolchain.repo_root()


def test_pins_are_every_key_of_versions_mk():
    pins = toolchain.pins()
    text = (ROOT / "tools" / "versions.mk").read_text()
    assert {"KUSTOMIZE_VERSION", "KUBERNETES_VERSION", "KUBERNETES_OLDEST_VERSION"} <= pins.keys()
    for key, value in pins.items():
        assert f"{key} := {value}" in text


def test_kubernetes_versions_come_from_the_pins_outside_make(monkeypatch):
    monkeypatch.delenv("KUBERNETES_VERSION", raising=False)
    monkeypatch.delenv("KUBERNETES_OLDEST_VERSION", raising=False)
    pins = toolchain.pins()
    assert toolchain.kubernetes_versions() == [pins["KUBERNETES_VERSION"], pins["KUBERNETES_OLDEST_VERSION"]]


def test_an_installed_package_finds_the_checkout_from_the_working_directory(monkeypatch, tmp_path):
    monkeypatch.setattr(toolchain, "_package_checkout", lambda: tmp_path / "site-packages")
    monkeypatch.chdir(ROOT / "apps")
    assert toolchain.repo_root() == ROOT


def test_outside_any_checkout_is_a_one_line_error_not_a_traceback(monkeypatch, tmp_path):
    monkeypatch.setattr(toolchain, "_package_checkout", lambda: tmp_path / "site-packages")
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("TOOLS_DIR", raising=False)
    with pytest.raises(GitopsError, match=r"tools/versions\.mk not found"):
        toolchain.pins()
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(GitopsError, match="kustomize not found: run 'make tools'"):
        toolchain.tool("kustomize")


def test_tools_dir_wins_over_the_checkout(monkeypatch, tmp_path):
    (tmp_path / "bin").mkdir()
    fake = tmp_path / "bin" / "kustomize"
    fake.write_text("#!/bin/sh\n")
    fake.chmod(0o755)
    monkeypatch.setenv("TOOLS_DIR", str(tmp_path))
    assert Path(toolchain.tool("kustomize")) == fake
