"""Helpers the tests and the benchmarks share: the service under gunicorn on a free port, a repository copy.

Nothing here is used by the `gitops` commands themselves.
"""
