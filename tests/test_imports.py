"""The import contract (issue 25): commands are leaves, the product never imports the harness.

Every module's imports are read from its syntax tree (no module is run):
- a module of gitops.commands imports no other command module;
- nothing in src/ (the gitops and flask_app packages that ship) imports harness, tests or bench;
- gitops.yaml and each cluster's config.yaml are read by gitops.repo alone.
"""

from __future__ import annotations

import ast
from pathlib import Path

from gitops.toolchain import repo_root

ROOT = repo_root()
SRC = ROOT / "src"


def imports(path: Path) -> set[str]:
    """Every module ``path`` imports, relative imports resolved against its package."""
    package = ".".join(path.relative_to(SRC).with_suffix("").parts[:-1])
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                parent = ".".join(parts[: len(parts) - node.level + 1])
                base = f"{parent}.{base}" if base else parent
            found.add(base)
            found |= {f"{base}.{alias.name}" for alias in node.names}
    return found


def modules() -> list[Path]:
    return sorted(p for p in SRC.rglob("*.py") if "__pycache__" not in p.parts)


def test_no_command_imports_another_command():
    commands = SRC / "gitops" / "commands"
    names = {f"gitops.commands.{p.stem}" for p in commands.glob("*.py") if p.stem != "__init__"}
    for path in sorted(commands.glob("*.py")):
        own = f"gitops.commands.{path.stem}"
        others = {i for i in imports(path) if i in names and i != own}
        assert not others, f"{path.relative_to(ROOT)} imports {sorted(others)}: move the shared part into the library"


def test_the_product_never_imports_the_harness_or_the_tests():
    for path in modules():
        bad = {i for i in imports(path) if i.split(".")[0] in {"harness", "tests", "bench"}}
        assert not bad, f"{path.relative_to(ROOT)} imports {sorted(bad)}"


READERS = {"load_yaml", "load_documents", "read_text", "read_bytes", "safe_load", "open", "parse_yaml"}


# Each configuration file, by the names its path is written with.
CONFIGURATION_FILES = {"gitops.yaml": ("gitops.yaml", "GITOPS_YAML"), "config.yaml": ("config.yaml", "CLUSTER_CONFIG")}


def reads(path: Path, names: tuple[str, ...]) -> bool:
    """Does ``path`` call a file reader on a file written as one of ``names``?"""
    source = path.read_text()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Call):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            text = ast.get_source_segment(source, node) or ""
            if name in READERS and any(n in text for n in names):
                return True
    return False


def test_each_configuration_file_has_one_reader():
    for file, names in CONFIGURATION_FILES.items():
        readers = [p.relative_to(ROOT).as_posix() for p in modules() if reads(p, names)]
        assert readers == ["src/gitops/repo.py"], (file, readers)


def test_every_benchmark_module_imports():
    """make bench is not part of make test: its modules at least import (a rename reaches them too)."""
    import importlib

    for path in sorted((ROOT / "bench").glob("*.py")):
        if path.stem != "__main__" and "." not in path.stem:  # plain.gunicorn.conf.py is a config file
            importlib.import_module(f"bench.{path.stem}")
    source = (ROOT / "bench" / "__main__.py").read_text()
    compile(source, "bench/__main__.py", "exec")
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] in {"gitops", "harness"}:
            module = importlib.import_module(node.module)
            for alias in node.names:
                assert hasattr(module, alias.name) or importlib.util.find_spec(f"{node.module}.{alias.name}"), (
                    alias.name
                )
