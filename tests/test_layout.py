"""The layout table (docs/layout.md) names homes that exist, and every module has a row."""

from __future__ import annotations

import re

from gitops.commands import COMMANDS, module_name
from gitops.toolchain import repo_root

ROOT = repo_root()


def layout_rows() -> dict[str, str]:
    table = (ROOT / "docs" / "layout.md").read_text()
    return dict(re.findall(r"^\| `([^`]+)` \| (.+) \|$", table, re.M))


def test_every_path_in_the_layout_table_exists():
    for path in layout_rows():
        pattern = path.replace("<env>", "*").replace("<cluster>", "*")
        assert list(ROOT.glob(pattern.rstrip("/"))), path


def test_the_layout_names_every_command_module_and_shared_module():
    rows = layout_rows()
    for command in COMMANDS:
        name = module_name(command).rsplit(".", 1)[1]
        assert (ROOT / "src" / "gitops" / "commands" / f"{name}.py").is_file(), command
        assert f"`{name}`" in rows["src/gitops/"], command
    shared = rows["src/gitops/*.py"] + rows["src/gitops/toolchain.py"]
    for module in (ROOT / "src" / "gitops").glob("*.py"):
        if module.stem in {"__init__", "__main__", "cli", "toolchain", "render"}:  # render: an alias
            continue
        assert f"`{module.stem}`" in shared, f"src/gitops/{module.name} has no row in docs/layout.md"
