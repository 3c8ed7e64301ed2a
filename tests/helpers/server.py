"""Moved to gitops.testing.server (shared with the benchmarks).

This alias remains only until tests/app imports from there.
"""

from gitops.settings import repo_root
from gitops.testing.server import GUNICORN, Server, free_port, get, start

ROOT = repo_root()

__all__ = ["GUNICORN", "ROOT", "Server", "free_port", "get", "start"]
