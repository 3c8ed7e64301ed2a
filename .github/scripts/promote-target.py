#!/usr/bin/env python3
"""Resolve what promote.yml promotes: FROM and TO, written as step outputs.

A deploy event (repository_dispatch, sent by Argo CD notifications once an Application
is Synced + Healthy at a new revision) names the environment it deployed: that is FROM,
and TO is the next environment in gitops.yaml's order. The last environment, or one
gitops.yaml does not list, promotes nothing: a notice, exit 0, no outputs (so no pull
request). A manual or called run passes its inputs through, once both are known
environments (`gitops promote` checks their order).

Every value arrives through the environment (EVENT_NAME, ENVIRONMENT from the event's
client_payload, FROM and TO from the inputs) and is untrusted; outputs go to the file
named by GITHUB_OUTPUT (stdout outside Actions), notices and errors to stdout as
workflow commands.
Run with the project's Python (.venv/bin/python): gitops.yaml is read by gitops itself.
"""

from __future__ import annotations

import os
import sys

from gitops.errors import GitopsError
from gitops.repo import Repo

DEPLOY_EVENT = "repository_dispatch"


def quote(value: str, limit: int = 100) -> str:
    """An untrusted ``value`` quoted on one line (control characters escaped), cut short."""
    return repr(value[:limit]) + ("..." if len(value) > limit else "")


def command(kind: str, message: str) -> str:
    """A workflow command (notice, error): its message cannot start another command."""
    message = message.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
    return f"::{kind} title=promote::{message}"


def resolve(environments: list[str], event: str, deployed: str, source: str, target: str) -> tuple[str, str] | str:
    """(FROM, TO) to promote, or the reason there is nothing to promote (a str)."""
    known = ", ".join(environments)
    if event == DEPLOY_EVENT:
        if deployed not in environments:
            return f"the deploy event names environment {quote(deployed)}, not one of gitops.yaml's ({known})"
        index = environments.index(deployed)
        if index == len(environments) - 1:
            return f"{deployed} is the last environment in gitops.yaml ({known}): nothing to promote it to"
        return deployed, environments[index + 1]
    for name, value in (("from", source), ("to", target)):
        if value not in environments:
            raise GitopsError(f"input {name}: {quote(value)} is not an environment of gitops.yaml ({known})")
    return source, target


def main() -> int:
    env = os.environ
    try:
        environments = Repo.load().environments
        result = resolve(
            environments,
            env.get("EVENT_NAME", ""),
            env.get("ENVIRONMENT", ""),
            env.get("FROM", ""),
            env.get("TO", ""),
        )
    except GitopsError as exc:
        print(command("error", str(exc)))
        return exc.code
    if isinstance(result, str):
        print(command("notice", result))
        return 0
    source, target = result
    print(command("notice", f"{source} -> {target}"))
    outputs = f"from={source}\nto={target}\n"
    if "GITHUB_OUTPUT" in env:
        with open(env["GITHUB_OUTPUT"], "a", encoding="utf-8") as out:
            out.write(outputs)
    else:  # outside Actions
        print(outputs, end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
