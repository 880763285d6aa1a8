"""`onchain demo` as a user runs it: a process serving the devnet's chain, stopped by Ctrl-C with no leftovers."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import jwt
import pytest

from onchain.devnet.anvil import find_anvil

pytestmark = pytest.mark.devnet

ONCHAIN = Path(sys.executable).with_name("onchain")
JWT_SECRET = "demo-test-secret-0123456789abcdef0123"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _listening(url: str) -> bool:
    host, port = url.removeprefix("http://").split(":")
    try:
        with socket.create_connection((host, int(port)), timeout=1):
            return True
    except OSError:
        return False


def _wait_for_head(api: str, at_least: int, deadline: float) -> dict[str, object]:
    """/health once the devnet head it reports reaches `at_least` (the demo ingests as blocks are mined)."""
    while time.monotonic() < deadline:
        try:
            health = httpx.get(f"{api}/health", timeout=2).json()
        except httpx.HTTPError:
            time.sleep(0.2)
            continue
        devnet = health.get("chains", {}).get("devnet")
        if devnet and (devnet.get("head") or -1) >= at_least:
            return dict(health)
        time.sleep(0.2)
    raise AssertionError(f"the demo's devnet head never reached {at_least}")


def test_demo_serves_the_devnet_and_stops_cleanly(tmp_path: Path) -> None:
    if find_anvil() is None:
        pytest.skip("anvil not installed (node_modules/.bin/anvil); run `make install`")
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("ONCHAIN_")}
    env |= {"ONCHAIN_DATA_DIR": str(tmp_path / "data"), "ONCHAIN_LOG_LEVEL": "WARNING",
            "ONCHAIN_JWT_SECRET": JWT_SECRET}
    process = subprocess.Popen(
        [str(ONCHAIN), "demo", "--port", str(port), "--block-time", "0.3"],
        cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    api = f"http://127.0.0.1:{port}"
    try:
        health = _wait_for_head(api, 5, time.monotonic() + 40)
        assert health["status"] in ("healthy", "degraded")
        pools = httpx.get(f"{api}/v2/pools", params={"chain": "devnet"}, timeout=5).json()["pools"]
        assert len(pools) == 5
        assert {p["protocol"] for p in pools} == {"uniswap-v2"}
        assert all(p["tvl"] > 0 for p in pools)
        prices = httpx.get(f"{api}/v2/realtime/prices", timeout=5).json()["coins"]
        weth = prices["devnet:0x5fbdb2315678afecb367f032d93f642f64180aa3"]
        assert weth["symbol"] == "WETH" and weth["source"] == "chainlink" and weth["price"] > 0
        # The demo runs the analytics service: risk and the protocol's analytics answer (503 without it).
        claims = {"sub": "demo-analyst", "aud": "onchain-services", "tier": "pro", "exp": int(time.time()) + 600}
        auth = {"Authorization": "Bearer " + jwt.encode(claims, JWT_SECRET, algorithm="HS256")}
        risk = httpx.get(f"{api}/v2/analytics/risk/uniswap-v2", headers=auth, timeout=5)
        assert risk.status_code == 200, risk.text
        assert 0 <= risk.json()["score"] <= 100
        gathered = httpx.get(f"{api}/v2/protocols/uniswap-v2/analytics", headers=auth, timeout=5)
        assert gathered.status_code == 200, gathered.text
        assert gathered.json()["protocol"] == gathered.json()["risk"]["protocol"] == "uniswap-v2"
    finally:
        process.send_signal(signal.SIGINT)
        output, _ = process.communicate(timeout=30)
    assert process.returncode == 0, output
    found = re.search(r"devnet\s+(http://127\.0\.0\.1:\d+)", output)
    assert found, output
    assert not _listening(found.group(1)), "anvil still listening after the demo stopped"
    assert not _listening(api)
    assert re.search(r"^block +\d+ 0x[0-9a-f]+ +\d+ events +swaps: ", output, re.MULTILINE), output
    assert (tmp_path / "data" / "demo.db").exists()
