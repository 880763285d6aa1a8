"""`onchain analytics evaluate --json` and `train --scenario` as a user runs them: a real process on a devnet."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from onchain.devnet.anvil import find_anvil
from onchain.devnet.deployment import ARTIFACTS

pytestmark = pytest.mark.devnet


def onchain(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "ONCHAIN_DATA_DIR": str(cwd / "data")}
    command = [sys.executable, "-c", "from onchain.cli import main; main()", *args]
    return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=300, check=False)


@pytest.fixture(autouse=True)
def _devnet_tools() -> None:
    if find_anvil() is None or not (ARTIFACTS / "PriceFeed.json").exists():
        pytest.skip("anvil or compiled devnet contracts missing; run `make install`")


def test_evaluate_prints_the_four_figures(tmp_path: Path) -> None:
    done = onchain("analytics", "evaluate", "--blocks", "80", "--window", "10", "--json", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    figures = json.loads(done.stdout)
    assert set(figures) == {"auc", "precision_at_10", "wallets", "blocks"}
    assert figures["blocks"] == 80 and figures["wallets"] == 48
    assert 0.0 <= figures["auc"] <= 1.0 and 0.0 <= figures["precision_at_10"] <= 1.0


def test_train_on_a_scenario_stores_the_model_and_prints_its_figures(tmp_path: Path) -> None:
    done = onchain("analytics", "train", "--scenario", "--blocks", "80", "--window", "10", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "model v1 saved" in done.stdout and "AUC (forward profitability" in done.stdout
    assert "early_entry" in done.stdout and "planted informed traders" in done.stdout
    assert (tmp_path / "data" / "models" / "smart-money-v1.joblib").exists()


def test_train_without_data_says_what_is_missing(tmp_path: Path) -> None:
    done = onchain("analytics", "train", cwd=tmp_path)
    assert done.returncode == 1
    assert "holds no blocks" in done.stderr and "Traceback" not in done.stderr
