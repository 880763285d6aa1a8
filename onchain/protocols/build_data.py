"""Regenerates the shipped token and pool lists from the recorded token lists (run by hand).

    python -m onchain.protocols.build_data ../shared/chaindata/token-lists

Sources (data, with their licenses, see that folder's README): Uniswap's default token list and the
SmolDapp mirrors of public lists. The LP-token lists name a pair only by symbols ("UNI-V2 WETH + USDT"),
so each pair's tokens are found by trying every token with those symbols and keeping the pair whose
CREATE2 address from the factory equals the listed address: every shipped pool is proven.
Not imported at run time; the decoder reads only the JSON it writes.
"""

from __future__ import annotations

import json
import sys
from itertools import product
from pathlib import Path
from typing import Any

from onchain.protocols import uniswap_v2, uniswap_v3
from onchain.protocols.create2 import Factory, pool_address, sort_tokens

DATA_DIR = Path(__file__).parent / "data"

#: Token-list chain ids to our chain keys (DefiLlama's keys, as in coin ids).
CHAIN_KEYS: dict[int, str] = {
    1: "ethereum",
    10: "optimism",
    56: "bsc",
    100: "xdai",
    137: "polygon",
    324: "era",
    8453: "base",
    42161: "arbitrum",
    42220: "celo",
    43114: "avax",
    59144: "linea",
    534352: "scroll",
}

#: Token lists in priority order: where two lists disagree on a token, the earlier one wins.
SMOLDAPP_LISTS = ("uniswap", "popular", "1inch", "coingecko", "uniswap-pairs", "sushiswap-pairs")

#: LP-token lists: file, symbol prefix, factory protocol.
POOL_LISTS = (("uniswap-pools", "UNI-V2", "uniswap-v2"), ("sushiswap-pools", "SLP", "sushiswap"))

_USDC = "0xa0b86991c6218b36c1d19d4a2e9eb0ce3606eb48"
_WETH = "0xc02aaa39b223fe8d0a0e5c4f27ead9083c756cc2"
_OSQTH = "0xf1b99e3e573a1a9c5e6b2ce818b617f0e664e86b"

#: Uniswap V3 pools whose day of logs is recorded in demeter-fetch: (address, token a, token b, fee).
V3_POOLS = (
    ("0x88e6a0c2ddd26feeb64f039a2c41296fcb3f5640", _USDC, _WETH, 500),
    ("0x8ad599c3a0ff1de082011efddc58f1908eb6e6d8", _USDC, _WETH, 3000),
    ("0x82c427adfdf2d245ec51d8046b41c4ee87f0d29c", _OSQTH, _WETH, 3000),
)


def _clean_token(raw: dict[str, Any]) -> tuple[int, str, str, int] | None:
    try:
        chain_id = int(raw["chainId"])
        address = str(raw["address"]).lower()
        symbol = str(raw["symbol"]).strip()
        decimals = int(raw["decimals"])
    except (KeyError, TypeError, ValueError):
        return None
    if len(address) != 42 or not address.startswith("0x") or not symbol or len(symbol) > 32:
        return None
    try:
        int(address, 16)
    except ValueError:
        return None
    if not 0 <= decimals <= 255:
        return None
    return chain_id, address, symbol, decimals


def _list_tokens(path: Path) -> list[dict[str, Any]]:
    document = json.loads(path.read_text())
    tokens = document if isinstance(document, list) else document.get("tokens", [])
    return [t for t in tokens if isinstance(t, dict)]


def collect_tokens(root: Path) -> dict[str, dict[str, tuple[str, int]]]:
    """chain -> address -> (symbol, decimals), earlier lists winning."""
    sources: list[Path] = sorted((root / "uniswap-default-token-list").glob("*.json"))
    for name in SMOLDAPP_LISTS:
        sources.extend(sorted((root / "smoldapp-tokenlists").glob(f"*/{name}.json")))
    chains: dict[str, dict[str, tuple[str, int]]] = {}
    for path in sources:
        for raw in _list_tokens(path):
            token = _clean_token(raw)
            if token is None or token[0] not in CHAIN_KEYS:
                continue
            chain_id, address, symbol, decimals = token
            chains.setdefault(CHAIN_KEYS[chain_id], {}).setdefault(address, (symbol, decimals))
    return chains


def _factory(protocol: str) -> Factory:
    return next(f for f in uniswap_v2.FACTORIES if f.protocol == protocol and f.chain == "ethereum")


def resolve_pairs(root: Path, tokens: dict[str, tuple[str, int]]) -> tuple[list[list[Any]], int]:
    """Ethereum V2-style pairs from the LP lists whose tokens CREATE2 proves; also the unresolved count."""
    by_symbol: dict[str, list[str]] = {}
    for address, (symbol, _) in tokens.items():
        by_symbol.setdefault(symbol, []).append(address)
    pools: list[list[Any]] = []
    unresolved = 0
    for file_name, prefix, protocol in POOL_LISTS:
        factory = _factory(protocol)
        for raw in _list_tokens(root / "smoldapp-tokenlists" / "1" / f"{file_name}.json"):
            address = str(raw.get("address", "")).lower()
            parts = str(raw.get("symbol", "")).removeprefix(prefix + " ").split(" + ")
            found = None
            if len(parts) == 2:
                for a, b in product(by_symbol.get(parts[0], []), by_symbol.get(parts[1], [])):
                    if a != b and pool_address(factory, a, b, None) == address:
                        found = sort_tokens(a, b)
                        break
            if found is None:
                unresolved += 1
                continue
            pools.append(["ethereum", protocol, address, found[0], found[1], None])
    factory = uniswap_v3.FACTORIES[0]
    for address, a, b, fee in V3_POOLS:
        token0, token1 = sort_tokens(a, b)
        if pool_address(factory, token0, token1, fee) != address:
            unresolved += 1
            continue
        pools.append(["ethereum", factory.protocol, address, token0, token1, fee])
    return pools, unresolved


def _one_row_per_line(document: dict[str, Any], rows_key: str) -> str:
    """Compact JSON with one row per line, so diffs of the shipped lists stay readable."""
    head = {k: v for k, v in document.items() if k != rows_key}
    rows = ",\n".join(json.dumps(row, separators=(",", ":")) for row in document[rows_key])
    return json.dumps(head, separators=(",", ":"))[:-1] + f',"{rows_key}":[\n{rows}\n]}}\n'


def main(argv: list[str]) -> int:
    root = Path(argv[1]) if len(argv) > 1 else Path("../shared/chaindata/token-lists")
    chains = collect_tokens(root)
    pools, unresolved = resolve_pairs(root, chains.get("ethereum", {}))
    token_doc = {
        "source": "Uniswap default token list and SmolDapp token lists (see build_data.py)",
        "fields": ["address", "symbol", "decimals"],
        "chains": {
            chain: sorted([address, symbol, decimals] for address, (symbol, decimals) in sorted(entries.items()))
            for chain, entries in sorted(chains.items())
        },
    }
    pool_doc = {
        "source": "SmolDapp uniswap-pools and sushiswap-pools LP lists, tokens proven by CREATE2 (see build_data.py)",
        "fields": ["chain", "protocol", "address", "token0", "token1", "fee"],
        "pools": sorted(pools, key=lambda p: (p[0], p[1], p[2])),
    }
    DATA_DIR.mkdir(exist_ok=True)
    (DATA_DIR / "tokens.json").write_text(json.dumps(token_doc, separators=(",", ":"), indent=None) + "\n")
    (DATA_DIR / "pools.json").write_text(_one_row_per_line(pool_doc, "pools"))
    counts = {chain: len(entries) for chain, entries in sorted(chains.items())}
    print(f"tokens per chain: {counts}")
    print(f"pools: {len(pools)} proven, {unresolved} listed pairs left out (tokens not found or not proven)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
