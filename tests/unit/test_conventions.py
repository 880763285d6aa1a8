"""Rules the whole package keeps, checked over every module so a new one cannot quietly break them."""

from __future__ import annotations

import ast
import importlib
import inspect
from pathlib import Path

import onchain
from onchain.errors import OnchainError

PACKAGE_DIR = Path(onchain.__file__).parent
ROOT = PACKAGE_DIR.parent

# Modules that only run inside another tool, with that tool's setup, and cannot be imported on their own.
NOT_IMPORTABLE = {"onchain.storage.migrations.env": "an alembic script: `alembic.context.config` exists only there"}

# Modules allowed to read the process environment, and why.
READS_ENVIRONMENT = {"onchain/config.py": "the one place settings are read (Settings, load_settings)"}


def _source_files() -> list[Path]:
    return sorted(PACKAGE_DIR.rglob("*.py"))


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def test_every_exception_defined_in_onchain_is_an_onchain_error() -> None:
    """The edges tell our errors from bugs by `OnchainError`; an exception outside the tree would reach
    users as a traceback from the CLI or an unexplained 500 from the API."""
    outside = []
    for path in _source_files():
        name = _module_name(path)
        if name in NOT_IMPORTABLE:
            continue
        module = importlib.import_module(name)
        for attribute, value in vars(module).items():
            if (
                inspect.isclass(value)
                and issubclass(value, BaseException)
                and value.__module__ == name
                and not issubclass(value, OnchainError)
            ):
                outside.append(f"{name}.{attribute}")
    assert outside == [], f"exceptions outside onchain.errors.OnchainError: {outside}"


def _environment_reads(tree: ast.AST) -> list[int]:
    """Lines that touch `os.environ`/`os.environb`, call `os.getenv`/`os.putenv`, or import any of them."""
    names = {"environ", "environb", "getenv", "getenvb", "putenv", "unsetenv"}
    lines = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute):
            found = isinstance(node.value, ast.Name) and node.value.id == "os" and node.attr in names
        elif isinstance(node, ast.ImportFrom):
            found = node.module == "os" and any(alias.name in names for alias in node.names)
        else:
            continue
        if found:
            lines.append(node.lineno)
    return lines


def test_only_config_reads_the_environment() -> None:
    """Settings are built once by `onchain.config` and passed in, so a test or a process role can run with
    its own; a module reading the environment itself would escape that."""
    reads = {}
    for path in _source_files():
        relative = path.relative_to(ROOT).as_posix()
        if relative in READS_ENVIRONMENT:
            continue
        lines = _environment_reads(ast.parse(path.read_text(), filename=relative))
        if lines:
            reads[relative] = lines
    assert reads == {}, f"modules reading the environment outside onchain/config.py: {reads}"


def test_the_environment_check_finds_a_read() -> None:
    planted = "import os\nfrom os import getenv\nurl = os.environ.get('X') or os.getenv('Y')\n"
    assert sorted(_environment_reads(ast.parse(planted))) == [2, 3, 3]
