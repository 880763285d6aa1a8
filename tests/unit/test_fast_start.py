"""Fast start: commands and the API import the heavy libraries only when they use them.

Checked by the modules a fresh interpreter has loaded, not by timing (see `bench.bench_start` for the
seconds): `onchain --help` must not load scikit-learn, uvicorn, SQLAlchemy or httpx, nor must the
commands that read no database; importing the API must load SQLAlchemy (its stores) and none of the others.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

HEAVY = ("sklearn", "uvicorn", "sqlalchemy", "httpx")


def _loaded_after(code: str) -> set[str]:
    """Top-level packages from HEAVY that a fresh interpreter has imported after running `code`."""
    probe = f"{code}\nimport json, sys\nprint(json.dumps(sorted(m for m in {HEAVY!r} if m in sys.modules)))"
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return set(json.loads(result.stdout.splitlines()[-1]))


def _after_command(*args: str) -> set[str]:
    # SystemExit is how typer ends every command; the probe prints after it.
    return _loaded_after(f"from onchain.cli import main\ntry:\n    main({list(args)!r})\nexcept SystemExit:\n    pass")


@pytest.mark.parametrize(
    "args",
    [["--help"], ["keys", "--help"], ["analytics", "train", "--help"], ["serve", "--help"], ["demo", "--help"],
     ["chains", "--json"], ["--version"]],
)
def test_command_loads_no_heavy_library(args: list[str]) -> None:
    assert _after_command(*args) == set()


def test_api_import_loads_no_scikit_learn_uvicorn_or_httpx() -> None:
    assert _loaded_after("import onchain.api.app") == {"sqlalchemy"}


def test_mev_inspect_loads_no_heavy_library(chaindata: Path) -> None:
    block = sorted((chaindata / "mev-inspect-blocks").glob("*.json"))[0]
    assert _after_command("mev", "inspect", str(block)) == set()
