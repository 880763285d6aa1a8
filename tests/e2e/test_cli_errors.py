"""Bad input to `onchain replay`, `onchain mev inspect` and `onchain db upgrade`: one `error:` line naming the
file (and line), exit 1, no traceback, nothing stored. Crafted from copies of the recorded mainnet files.

Most cases run in-process through `main(args)` (the same rendering as the installed command, without the
cost of a Python start each); one case per family runs as a real subprocess.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import inspect
from sqlalchemy.ext.asyncio import create_async_engine

from onchain.cli import main
from tests.e2e.cli import free_port

ETL = "ethereum-etl-17173049"
MEV_BLOCK = "12775690.json"


@pytest.fixture(autouse=True)
def _own_settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No onchain.toml and no Redis of the caller's leak into the in-process runs."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ONCHAIN_REDIS_URL", "")
    monkeypatch.delenv("ONCHAIN_CONFIG", raising=False)


def run_in_process(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    capsys.readouterr()
    with pytest.raises(SystemExit) as stopped:
        main(list(args))
    code = stopped.value.code
    return code if isinstance(code, int) else 1, capsys.readouterr().err


def run_subprocess(*args: str, database_url: str, cwd: Path) -> tuple[int, str]:
    env = {**os.environ, "ONCHAIN_DATABASE_URL": database_url, "ONCHAIN_REDIS_URL": ""}
    env.pop("ONCHAIN_CONFIG", None)
    done = subprocess.run(
        [sys.executable, "-c", "from onchain.cli import main; main()", *args],
        env=env, cwd=cwd, capture_output=True, text=True, timeout=180, check=False,
    )  # fmt: skip
    return done.returncode, done.stderr


def assert_one_error_line(code: int, stderr: str, *expected: str) -> None:
    assert code == 1, stderr
    assert "Traceback" not in stderr
    lines = [line for line in stderr.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("error: ")]
    assert len(errors) == 1 and lines[-1] == errors[0], stderr  # progress lines may come before it
    for part in expected:
        assert part in errors[0], (part, errors[0])


def tables_in(url: str) -> list[str]:
    """Tables in the database at `url` (none when a SQLite file was never created)."""
    if url.startswith("sqlite"):
        path = Path(url.split(":///", 1)[1])
        if not path.exists():
            return []

    async def names() -> list[str]:
        engine = create_async_engine(url)
        try:
            async with engine.connect() as connection:
                return await connection.run_sync(lambda sync: inspect(sync).get_table_names())
        finally:
            await engine.dispose()

    return asyncio.run(names())


# ---- replay --------------------------------------------------------------------------------------------


def _copy_export(chaindata: Path, tmp_path: Path) -> Path:
    folder = tmp_path / "export"
    shutil.copytree(chaindata / ETL, folder)
    return folder


def _rewrite_line(file: Path, number: int, change: Callable[[dict[str, Any]], Any]) -> None:
    lines = file.read_text().splitlines()
    row = json.loads(lines[number - 1])
    lines[number - 1] = json.dumps(change(row))
    file.write_text("\n".join(lines) + "\n")


def _set(key: str, value: Any) -> Callable[[dict[str, Any]], dict[str, Any]]:
    return lambda row: {**row, key: value}


def _truncated(folder: Path) -> str:
    logs = folder / "logs.json"
    text = logs.read_bytes()
    kept = text[: len(text) // 3]
    logs.write_bytes(kept)
    return f"logs.json:{len(kept.splitlines())}:"


def _appended(row: str) -> Callable[[Path], str]:
    def append(folder: Path) -> str:
        logs = folder / "logs.json"
        count = len(logs.read_text().splitlines())
        logs.write_text(logs.read_text() + row + "\n")
        return f"logs.json:{count + 1}:"

    return append


def _row_changed(file: str, number: int, key: str, value: Any) -> Callable[[Path], str]:
    def change(folder: Path) -> str:
        _rewrite_line(folder / file, number, _set(key, value))
        return f"{file}:{number}:"

    return change


def _nested_too_deeply(folder: Path) -> str:
    (folder / "logs.json").write_text("[" * 100_000 + "]" * 100_000)
    return "logs.json is not JSON: nested too deeply"


REPLAY_CASES: dict[str, Callable[[Path], str]] = {
    "truncated logs.json": _truncated,
    "block_number is a string": _row_changed("logs.json", 1, "block_number", "x"),
    "block_number is fractional": _row_changed("logs.json", 1, "block_number", 17173049.5),
    "transaction_hash is null": _row_changed("logs.json", 1, "transaction_hash", None),
    "log of a transaction not in the export": _row_changed("logs.json", 2, "transaction_hash", "0x" + "ab" * 32),
    "transaction value in hex": _row_changed("transactions.json", 3, "value", "0xZZ"),
    "log address not hex": _row_changed("logs.json", 2, "address", "0x" + "zz" * 20),
    "a null line": _appended("null"),
    "a list line": _appended("[]"),
    "an empty object line": _appended("{}"),
    "JSON 100k levels deep": _nested_too_deeply,
}


@pytest.mark.parametrize("case", REPLAY_CASES)
def test_replay_of_a_bad_export_names_file_and_line_and_stores_nothing(
    case: str, chaindata: Path, tmp_path: Path, store_url: str, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    folder = _copy_export(chaindata, tmp_path)
    where = REPLAY_CASES[case](folder)
    monkeypatch.setenv("ONCHAIN_DATABASE_URL", store_url)
    code, stderr = run_in_process(capsys, "replay", str(folder), "--max", "--json")
    assert_one_error_line(code, stderr, str(folder), where)
    assert tables_in(store_url) == []


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["/dev/null"], "/dev/null is neither a regular file nor a folder"),
        (["--chain", "../../etc", "<export>"], "unknown chain: '../../etc'"),
        (["--chain", "nosuchchain", "<export>"], "unknown chain: 'nosuchchain'"),
    ],
)
def test_replay_of_no_recording_or_an_unknown_chain_stores_nothing(
    args: list[str], expected: str, chaindata: Path, tmp_path: Path, store_url: str,
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    monkeypatch.setenv("ONCHAIN_DATABASE_URL", store_url)
    args = [str(chaindata / ETL) if arg == "<export>" else arg for arg in args]
    code, stderr = run_in_process(capsys, "replay", "--max", *args)
    assert_one_error_line(code, stderr, expected)
    assert tables_in(store_url) == []


def test_replay_of_a_bad_mev_inspect_block_names_the_file(
    chaindata: Path, tmp_path: Path, store_url: str, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    block = _mev_block(chaindata)
    _first_value_call(block)["action"]["value"] = "0xZZ"
    path = tmp_path / MEV_BLOCK
    path.write_text(json.dumps(block))
    monkeypatch.setenv("ONCHAIN_DATABASE_URL", store_url)
    code, stderr = run_in_process(capsys, "replay", str(path), "--max")
    assert_one_error_line(code, stderr, f"{path}: mev-inspect block", "expected hex, got '0xZZ'")
    assert tables_in(store_url) == []


def test_replay_subprocess_of_a_fractional_block_number(chaindata: Path, tmp_path: Path, store_url: str) -> None:
    folder = _copy_export(chaindata, tmp_path)
    where = _row_changed("logs.json", 1, "block_number", 17173049.5)(folder)
    code, stderr = run_subprocess("replay", str(folder), "--max", database_url=store_url, cwd=tmp_path)
    assert_one_error_line(code, stderr, f"{folder / where}", "got `float`")
    assert tables_in(store_url) == []


# ---- mev inspect ---------------------------------------------------------------------------------------


def _mev_block(chaindata: Path) -> dict[str, Any]:
    block: dict[str, Any] = json.loads((chaindata / "mev-inspect-blocks" / MEV_BLOCK).read_text())
    return block


def _first_value_call(block: dict[str, Any]) -> dict[str, Any]:
    call: dict[str, Any] = next(t for t in block["traces"] if t["type"] == "call" and "value" in t["action"])
    return call


def _bad_action(block: dict[str, Any]) -> str:
    _first_value_call(block)["action"] = "bad"
    return "action and result must be JSON objects"


def _bad_block_number(block: dict[str, Any]) -> str:
    block["block_number"] = "abc"
    return "integer block_number"


def _bad_value(block: dict[str, Any]) -> str:
    _first_value_call(block)["action"]["value"] = "0xZZ"
    return "action.value: expected a quantity, got '0xZZ'"


MEV_CASES: dict[str, Callable[[dict[str, Any]], str]] = {
    "action is a string": _bad_action,
    "block_number is a word": _bad_block_number,
    "value is not hex": _bad_value,
}


@pytest.mark.parametrize("case", [*MEV_CASES, "JSON 100k levels deep"])
def test_mev_inspect_of_a_bad_block_names_the_file(
    case: str, chaindata: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "block.json"
    if case in MEV_CASES:
        block = _mev_block(chaindata)
        expected = MEV_CASES[case](block)
        path.write_text(json.dumps(block))
    else:
        path.write_text('{"block_number": 1, "traces": ' + "[" * 100_000 + "]" * 100_000 + "}")
        expected = "nested too deeply"
    code, stderr = run_in_process(capsys, "mev", "inspect", str(path))
    assert_one_error_line(code, stderr, str(path), expected)


def test_mev_inspect_subprocess_of_a_bad_value(chaindata: Path, tmp_path: Path) -> None:
    path = tmp_path / "block.json"
    block = _mev_block(chaindata)
    expected = _bad_value(block)
    path.write_text(json.dumps(block))
    code, stderr = run_subprocess("mev", "inspect", str(path), database_url="", cwd=tmp_path)
    assert_one_error_line(code, stderr, str(path), expected)


# ---- db upgrade and the database URL -------------------------------------------------------------------


def _unreachable_postgres(_tmp: Path) -> tuple[str, str]:
    url = f"postgresql://postgres:secret@127.0.0.1:{free_port()}/onchain"
    return url, "cannot migrate postgresql+asyncpg://postgres:***@127.0.0.1"


def _folder_under_a_file(tmp: Path) -> tuple[str, str]:
    (tmp / "plain-file").write_text("")
    return f"sqlite:///{tmp / 'plain-file' / 'onchain.db'}", f"cannot create the database folder {tmp / 'plain-file'}"


def _not_a_database(tmp: Path) -> tuple[str, str]:
    (tmp / "onchain.db").write_text("not a database\n" * 1000)
    return f"sqlite:///{tmp / 'onchain.db'}", "file is not a database"


def _read_only_place(_tmp: Path) -> tuple[str, str]:
    """sysfs refuses new folders even to root (a chmod'ed folder would not stop a test run as root)."""
    probe = Path("/sys/onchain-test")
    try:
        probe.mkdir()
    except OSError:
        return f"sqlite:///{probe / 'onchain.db'}", f"cannot create the database folder {probe}"
    probe.rmdir()
    pytest.skip("/sys is writable here")


DATABASE_CASES: dict[str, Callable[[Path], tuple[str, str]]] = {
    "mysql URL": lambda _tmp: ("mysql://root:secret@127.0.0.1/onchain", "unsupported database mysql://root:***@"),
    "garbage URL": lambda _tmp: ("garbage", "the database URL is not a URL"),
    "port not a number": lambda _tmp: ("postgresql://u@h:port/x", "the database URL is not a URL"),
    "unreachable PostgreSQL": _unreachable_postgres,
    "SQLite folder under a file": _folder_under_a_file,
    "SQLite file not a database": _not_a_database,
    "read-only file system": _read_only_place,
}


@pytest.mark.parametrize("case", DATABASE_CASES)
def test_db_upgrade_of_an_unusable_database_says_why(
    case: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    url, expected = DATABASE_CASES[case](tmp_path)
    monkeypatch.setenv("ONCHAIN_DATABASE_URL", url)
    code, stderr = run_in_process(capsys, "db", "upgrade")
    assert_one_error_line(code, stderr, expected)
    assert "secret" not in stderr


def test_db_upgrade_of_a_missing_postgres_database(postgres_url: str, capsys: pytest.CaptureFixture[str],
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ONCHAIN_DATABASE_URL", postgres_url.rsplit("/", 1)[0] + "/no_such_database_h20")
    code, stderr = run_in_process(capsys, "db", "upgrade")
    assert_one_error_line(code, stderr, 'database "no_such_database_h20" does not exist')


def test_replay_into_a_mysql_url_subprocess(chaindata: Path, tmp_path: Path) -> None:
    code, stderr = run_subprocess(
        "replay", str(chaindata / ETL), "--max", database_url="mysql://u@localhost/x", cwd=tmp_path
    )
    assert_one_error_line(code, stderr, "unsupported database mysql://u@localhost/x")


@pytest.mark.parametrize(
    ("variable", "value", "expected"),
    [
        ("ONCHAIN_SMTP_PORT", "abc", "invalid setting: ONCHAIN_SMTP_PORT: Input should be a valid integer"),
        ("ONCHAIN_TIERS", "not json", 'invalid setting: error parsing value for field "tiers"'),
    ],
)
def test_a_bad_setting_in_the_environment_is_one_line(
    variable: str, value: str, expected: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    monkeypatch.setenv("ONCHAIN_DATABASE_URL", f"sqlite:///{tmp_path / 'onchain.db'}")
    monkeypatch.setenv(variable, value)
    code, stderr = run_in_process(capsys, "db", "upgrade")
    assert_one_error_line(code, stderr, expected)
    assert not (tmp_path / "onchain.db").exists()
