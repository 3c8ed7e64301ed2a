"""One module per `gitops` command; each has ``run(repo, args) -> int``: it reads its inputs, calls the library, prints.

The CLI (gitops.cli) parses the arguments and calls ``run``. The work lives in the library
(gitops.validation, gitops.deploy, gitops.rendered_diff, ...): no command imports another
(tests/test_imports.py).
"""

COMMANDS = ("validate", "render", "set-image", "promote", "rollback", "diff", "status", "configure")


def module_name(command: str) -> str:
    return f"{__name__}.{command.replace('-', '_')}"
