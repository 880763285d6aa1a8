"""Rules the whole package keeps, checked over every module so a new one cannot quietly break them."""

from __future__ import annotations

import importlib
import inspect
from pathlib import Path

import onchain
from onchain.errors import OnchainError

PACKAGE_DIR = Path(onchain.__file__).parent
ROOT = PACKAGE_DIR.parent

# Modules that only run inside another tool, with that tool's setup, and cannot be imported on their own.
NOT_IMPORTABLE = {"onchain.storage.migrations.env": "an alembic script: `alembic.context.config` exists only there"}


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

