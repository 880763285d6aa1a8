"""Regenerate `chains.json` from the recorded chain lists (run once, commit the output).

    python -m onchain.chains.generate ../shared/chaindata > onchain/chains/chains.json

Ids and endpoints come from chainlist's list, names and native coins from ethereum-lists. Our slug
is DefiLlama's chain key, so coin ids (`bsc:0x...`) match theirs; block times are typical values
from each chain's documentation, `null` where we do not know one.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

# chain id -> DefiLlama key where it differs from chainlist's slug.
SLUGS = {
    56: "bsc", 43114: "avax", 324: "era", 1101: "polygon_zkevm", 42170: "arbitrum_nova", 196: "xlayer",
    388: "cronos_zkevm", 13371: "imx", 8822: "iotaevm", 17777: "eos_evm", 22776: "map", 1729: "reya",
    41923: "edu", 810180: "zklink", 87: "nova_network", 1514: "story", 999: "hyperliquid",
}
# chain id -> (name, symbol, decimals) where ethereum-lists lacks or disagrees with chainlist's id.
NATIVE = {999: ("HyperEVM", "HYPE", 18), 4663: ("Robinhood Chain", "ETH", 18)}
# chain id -> typical seconds between blocks.
BLOCK_TIME = {
    1: 12, 10: 2, 14: 1.8, 19: 1.8, 25: 5.6, 30: 30, 40: 0.5, 42: 12, 50: 2, 56: 0.75, 57: 150, 61: 13,
    66: 3, 88: 2, 100: 5, 106: 0.4, 108: 1, 122: 5, 128: 3, 130: 1, 137: 2, 143: 0.4, 146: 1, 169: 2,
    196: 1, 204: 0.5, 250: 1, 252: 2, 255: 2, 288: 2, 321: 3, 324: 1, 336: 12, 369: 10, 480: 2, 592: 12,
    690: 2, 747: 0.8, 999: 1, 1088: 4, 1101: 3, 1116: 3, 1135: 2, 1284: 6, 1285: 6, 1329: 0.4, 1868: 2,
    1923: 2, 2000: 2, 2020: 3, 2222: 6, 2741: 1, 4689: 5, 5000: 2, 7000: 6, 7700: 6, 8217: 1, 8453: 2,
    9001: 2, 34443: 2, 42161: 0.25, 42170: 0.25, 42220: 1, 43114: 2, 57073: 1, 59144: 2, 60808: 2,
    80094: 2, 81457: 2, 88888: 3, 167000: 12, 534352: 3, 7777777: 2, 1313161554: 1, 1666600000: 2,
}
TESTNETS = {31, 55931, 420420417}


def _usable(url: str, scheme: str) -> bool:
    return url.startswith(scheme) and "${" not in url and "{" not in url


def build(chainlist: list[dict[str, Any]], ethereum_lists: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One record per shipped chain: chainlist's mainnets with an endpoint and a known native coin."""
    meta = {c["chainId"]: c for c in ethereum_lists}
    out: list[dict[str, Any]] = []
    seen: set[str] = set()
    for entry in chainlist:
        chain_id = entry["chainId"]
        known = meta.get(chain_id)
        if not entry["rpc"] or chain_id in TESTNETS or (known is None and chain_id not in NATIVE):
            continue
        if chain_id in NATIVE:
            name, symbol, decimals = NATIVE[chain_id]
        else:
            assert known is not None
            name, symbol = known["name"], known["nativeCurrency"]["symbol"]
            decimals = known["nativeCurrency"]["decimals"]
        slug = SLUGS.get(chain_id, entry["slug"].lower().replace(" ", "_").replace("-", "_"))
        if slug in seen:
            continue
        seen.add(slug)
        extra_rpc = [u for u in (known or {}).get("rpc", []) if isinstance(u, str)]
        rpc = list(dict.fromkeys(u for u in entry["rpc"] + extra_rpc if _usable(u, "https://")))
        ws = list(dict.fromkeys(u for u in entry["ws"] + extra_rpc if _usable(u, "wss://")))
        aliases = [entry["slug"]] if entry["slug"] != slug else []
        out.append({
            "chainId": chain_id, "slug": slug, "name": name, "aliases": aliases,
            "nativeCurrency": {"symbol": symbol, "decimals": decimals},
            "blockTime": BLOCK_TIME.get(chain_id), "rpc": rpc, "ws": ws,
        })
    return out


def main() -> None:
    root = Path(sys.argv[1] if len(sys.argv) > 1 else "../shared/chaindata")
    chainlist = json.loads((root / "chains" / "chainlist.json").read_text())
    ethereum_lists = json.loads((root / "ethereum-lists-chains" / "chains.json").read_text())
    json.dump(build(chainlist, ethereum_lists), sys.stdout, indent=1)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
