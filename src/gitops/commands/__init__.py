"""One module per `gitops` command; each has ``run(repo, args) -> int`` and the pure functions beneath it.

The CLI (gitops.cli) parses the arguments and calls ``run``; nothing else lives there.
"""

COMMANDS = ("validate", "render", "set-image", "promote", "diff", "status", "configure")


def module_name(command: str) -> str:
    return f"{__name__}.{command.replace('-', '_')}"
