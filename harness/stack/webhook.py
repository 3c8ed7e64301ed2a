"""What the local remote tells Argo CD after a push: GitHub's push event, as Argo CD's webhook reads it."""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

ZERO_SHA = "0" * 40


def github_push_payload(repo_http_url: str, ref: str, before: str, after: str) -> dict:
    """A minimal GitHub ``push`` webhook payload for a repository served here.

    Argo CD matches ``repository.html_url`` against each Application's repoURL (same host and path, with or
    without ``.git``); ``commits`` carries no file lists, so Argo CD refreshes every matching Application.
    """
    parts = urlsplit(repo_http_url.strip())
    path = parts.path.rstrip("/")
    if parts.scheme not in ("http", "https") or not parts.netloc or not path:
        raise ValueError(f"not an http(s) repository URL: {repo_http_url!r}")
    base = path.removesuffix(".git")
    html_url = urlunsplit((parts.scheme, parts.netloc, base, "", ""))
    clone_url = urlunsplit((parts.scheme, parts.netloc, base + ".git", "", ""))
    if not ref.startswith("refs/"):
        ref = f"refs/heads/{ref}"
    commits = [] if after == ZERO_SHA else [{"id": after, "added": [], "modified": [], "removed": []}]
    return {
        "ref": ref,
        "before": before,
        "after": after,
        "commits": commits,
        "repository": {"html_url": html_url, "clone_url": clone_url, "default_branch": "main"},
    }
