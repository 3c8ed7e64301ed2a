"""Moved to ``gitops.kustomize``; this alias remains only until tests/e2e imports it from there."""

from .kustomize import Rendered, build, build_many

__all__ = ["Rendered", "build", "build_many"]
