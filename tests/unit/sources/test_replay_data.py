"""Loading recordings: values kept exact, files of no recording format told apart from broken ones."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from onchain.errors import InputError
from onchain.sources.replay_data import load_recording

ETL = "ethereum-etl-17173049"


def test_integers_past_64_bits_stay_exact(chaindata: Path, tmp_path: Path) -> None:
    """A JSON parser that turns big integers into floats would serve 32000000000000000000 here."""
    folder = tmp_path / "export"
    shutil.copytree(chaindata / ETL, folder)
    transactions = folder / "transactions.json"
    rows = [json.loads(line) for line in transactions.read_text().splitlines()]
    rows[0]["value"] = 32_000_000_000_000_000_001
    transactions.write_text("".join(json.dumps(row) + "\n" for row in rows))

    recorded = load_recording(folder)

    first = recorded.blocks[17173049]
    assert first["transactions"][0]["value"] == hex(32_000_000_000_000_000_001)
    assert first["totalDifficulty"] == hex(58_750_003_716_598_352_816_469)


def test_other_json_in_a_folder_is_skipped_but_a_named_file_must_be_a_recording(
    chaindata: Path, tmp_path: Path
) -> None:
    folder = tmp_path / "export"
    shutil.copytree(chaindata / ETL, folder)
    (folder / "notes.json").write_text('{"comment": "exported with ethereum-etl 2.4"}')

    assert load_recording(folder).numbers == [17173049, 17173050]
    with pytest.raises(InputError, match=r"notes\.json is not a recording"):
        load_recording([folder / "blocks.json", folder / "notes.json"])


def test_a_file_named_twice_is_read_once(chaindata: Path) -> None:
    folder = chaindata / ETL
    assert load_recording([folder, folder / "logs.json"]).numbers == [17173049, 17173050]
