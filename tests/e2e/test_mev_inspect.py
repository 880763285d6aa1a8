"""`onchain mev inspect` run as a user runs it, on every recorded MEV block."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

HEX = re.compile(r"^0x[0-9a-f]+$")
ONCHAIN = [sys.executable, "-c", "from onchain.cli import main; main()"]


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*ONCHAIN, *args], capture_output=True, text=True, timeout=120, check=False)


def _assert_hex(value: Any) -> None:
    assert isinstance(value, str) and HEX.match(value), value


def test_inspect_all_recorded_blocks(chaindata: Path) -> None:
    files = sorted((chaindata / "mev-inspect-blocks").glob("*.json"))
    assert len(files) == 27
    result = _run("mev", "inspect", *map(str, files))
    assert result.returncode == 0, result.stderr
    blocks = json.loads(result.stdout)["blocks"]
    assert len(blocks) == 27
    for block in blocks:
        assert set(block) == {"block", "sandwiches", "arbitrages", "liquidations"}
        for s in block["sandwiches"]:
            assert set(s) == {
                "searcher", "frontrun_tx", "backrun_tx", "victim_txs", "pool", "profit_token", "profit_amount",
            }  # fmt: skip
            for key in ("searcher", "frontrun_tx", "backrun_tx", "pool", "profit_token"):
                _assert_hex(s[key])
            assert s["victim_txs"] and all(HEX.match(v) for v in s["victim_txs"])
            assert isinstance(s["profit_amount"], int)
        for a in block["arbitrages"]:
            assert set(a) == {"tx", "searcher", "profit_token", "profit_amount", "swaps"}
            assert isinstance(a["profit_amount"], int) and a["profit_amount"] > 0
            assert a["swaps"][0]["token_in"] == a["swaps"][-1]["token_out"] == a["profit_token"]
            for w in a["swaps"]:
                assert set(w) == {"pool", "token_in", "token_out", "amount_in", "amount_out"}
        for q in block["liquidations"]:
            assert set(q) == {"tx", "liquidator", "protocol", "debt_token", "debt_amount", "collateral_token",
                              "collateral_amount"}  # fmt: skip
            assert isinstance(q["debt_amount"], int) and isinstance(q["collateral_amount"], int)

    by_number = {b["block"]: b for b in blocks}
    # The four-victim sandwich of 12775690 and the two WETH cycles of 12914944, to the wei.
    [sandwich] = by_number[12775690]["sandwiches"]
    assert sandwich["profit_amount"] == 49991481915322274
    assert len(sandwich["victim_txs"]) == 4
    assert sorted(a["profit_amount"] for a in by_number[12914944]["arbitrages"]) == [
        750005273675102326,
        53560707941943273628,
    ]
    assert [q["protocol"] for q in by_number[13404932]["liquidations"]] == ["cream"]
    assert "inspecting block 12775690" in result.stderr


def test_unreadable_file_is_a_clear_error(tmp_path: Path) -> None:
    missing = tmp_path / "missing.json"
    result = _run("mev", "inspect", str(missing))
    assert result.returncode != 0
    assert "cannot read" in result.stderr and str(missing) in result.stderr
    assert result.stdout == ""

    not_json = tmp_path / "block.json"
    not_json.write_text("not json")
    result = _run("mev", "inspect", str(not_json))
    assert result.returncode != 0
    assert "is not JSON" in result.stderr
