"""Real logs from the recorded data as `Log` records, and an ABI table kept apart from the package.

The expected side of every test is computed here from event signatures written out by hand and
from eth_abi, never from the decoder's own constants.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from eth_abi import decode as abi_decode
from eth_hash.auto import keccak

from onchain.domain.chain import Log


@dataclass(frozen=True)
class Param:
    name: str
    type: str
    indexed: bool


@dataclass(frozen=True)
class Signature:
    kind: str
    params: tuple[Param, ...]

    @property
    def name(self) -> str:
        return self.kind.split(".")[1]

    @property
    def topic0(self) -> str:
        text = f"{self.name}({','.join(p.type for p in self.params)})"
        return "0x" + keccak(text.encode()).hex()

    @property
    def topic_count(self) -> int:
        return 1 + sum(p.indexed for p in self.params)

    def decode(self, log: Log) -> dict[str, Any]:
        """eth_abi's decoding of `log`, addresses lower-case, bytes as 0x hex."""
        data_params = [p for p in self.params if not p.indexed]
        values = dict(
            zip(
                [p.name for p in data_params],
                abi_decode([p.type for p in data_params], bytes.fromhex(log.data[2:])),
                strict=True,
            )
        )
        indexed = [p for p in self.params if p.indexed]
        for param, topic in zip(indexed, log.topics[1:], strict=True):
            (values[param.name],) = abi_decode([param.type], bytes.fromhex(topic[2:]))
        return {p.name: normalize(values[p.name]) for p in self.params}


def normalize(value: Any) -> Any:
    if isinstance(value, bytes):
        return "0x" + value.hex()
    if isinstance(value, str):
        return value.lower()
    if isinstance(value, tuple | list):
        return [normalize(v) for v in value]
    return value


def _sig(kind: str, text: str) -> Signature:
    params = []
    for part in text.split(","):
        words = part.split()
        params.append(Param(words[-1], words[0], len(words) == 3))
    return Signature(kind, tuple(params))


SIGNATURES: tuple[Signature, ...] = (
    _sig("erc20.Transfer", "address indexed from,address indexed to,uint256 value"),
    _sig("erc20.Approval", "address indexed owner,address indexed spender,uint256 value"),
    _sig("weth.Deposit", "address indexed dst,uint256 wad"),
    _sig("weth.Withdrawal", "address indexed src,uint256 wad"),
    _sig(
        "uniswap_v2.Swap",
        "address indexed sender,uint256 amount0In,uint256 amount1In,uint256 amount0Out,uint256 amount1Out,"
        "address indexed to",
    ),
    _sig("uniswap_v2.Sync", "uint112 reserve0,uint112 reserve1"),
    _sig("uniswap_v2.Mint", "address indexed sender,uint256 amount0,uint256 amount1"),
    _sig("uniswap_v2.Burn", "address indexed sender,uint256 amount0,uint256 amount1,address indexed to"),
    _sig("uniswap_v2.PairCreated", "address indexed token0,address indexed token1,address pair,uint256 allPairsLength"),
    _sig(
        "uniswap_v3.Swap",
        "address indexed sender,address indexed recipient,int256 amount0,int256 amount1,uint160 sqrtPriceX96,"
        "uint128 liquidity,int24 tick",
    ),
    _sig(
        "uniswap_v3.Mint",
        "address sender,address indexed owner,int24 indexed tickLower,int24 indexed tickUpper,uint128 amount,"
        "uint256 amount0,uint256 amount1",
    ),
    _sig(
        "uniswap_v3.Burn",
        "address indexed owner,int24 indexed tickLower,int24 indexed tickUpper,uint128 amount,uint256 amount0,"
        "uint256 amount1",
    ),
    _sig(
        "uniswap_v3.PoolCreated",
        "address indexed token0,address indexed token1,uint24 indexed fee,int24 tickSpacing,address pool",
    ),
    _sig("chainlink.AnswerUpdated", "int256 indexed current,uint256 indexed roundId,uint256 updatedAt"),
    _sig(
        "chainlink.NewTransmission",
        "uint32 indexed aggregatorRoundId,int192 answer,address transmitter,int192[] observations,bytes observers,"
        "bytes32 rawReportContext",
    ),
    _sig(
        "chainlink.NewTransmission",
        "uint32 indexed aggregatorRoundId,int192 answer,address transmitter,uint32 observationsTimestamp,"
        "int192[] observations,bytes observers,int192 juelsPerFeeCoin,bytes32 configDigest,uint40 epochAndRound",
    ),
    _sig(
        "aave_v3.Supply",
        "address indexed reserve,address user,address indexed onBehalfOf,uint256 amount,uint16 indexed referralCode",
    ),
    _sig("aave_v3.Withdraw", "address indexed reserve,address indexed user,address indexed to,uint256 amount"),
    _sig(
        "aave_v3.Borrow",
        "address indexed reserve,address user,address indexed onBehalfOf,uint256 amount,uint8 interestRateMode,"
        "uint256 borrowRate,uint16 indexed referralCode",
    ),
    _sig(
        "aave_v3.Repay",
        "address indexed reserve,address indexed user,address indexed repayer,uint256 amount,bool useATokens",
    ),
    _sig(
        "aave_v3.LiquidationCall",
        "address indexed collateralAsset,address indexed debtAsset,address indexed user,uint256 debtToCover,"
        "uint256 liquidatedCollateralAmount,address liquidator,bool receiveAToken",
    ),
)

WETH = "0xc02aaa39b223fe8d0a0e5c4f27ead9083c756cc2"
USDT = "0xdac17f958d2ee523a2206206994597c13d831ec7"
WETH_USDT_PAIR = "0x0d4a11d5eeaac28ec3f61d100daf4d40471f1852"
AAVE_V3_POOL_ETHEREUM = "0x87870bca3f3fd6335c3f4ce8392d69350b4fa4e2"
AAVE_V3_POOL_POLYGON = "0x794a61358d6845594f94dc1db02a252b5b4814ad"


def etl_logs(chaindata: Path) -> list[Log]:
    """The 681 logs of the ethereum-etl export, field for field."""
    logs = []
    for line in (chaindata / "ethereum-etl-17173049" / "logs.json").read_text().splitlines():
        row = json.loads(line)
        logs.append(
            Log(
                block_number=row["block_number"],
                block_hash=row["block_hash"],
                transaction_hash=row["transaction_hash"],
                transaction_index=row["transaction_index"],
                log_index=row["log_index"],
                address=row["address"],
                topics=tuple(row["topics"]),
                data=row["data"],
            )
        )
    return logs


def rpc_log(raw: dict[str, Any]) -> Log:
    """A log object as a node returns it (hex quantities)."""
    return Log(
        block_number=int(raw["blockNumber"], 16),
        block_hash=raw["blockHash"].lower(),
        transaction_hash=raw["transactionHash"].lower(),
        transaction_index=int(raw["transactionIndex"], 16),
        log_index=int(raw["logIndex"], 16),
        address=raw["address"].lower(),
        topics=tuple(t.lower() for t in raw["topics"]),
        data=raw["data"].lower(),
    )


def logs_in(document: Any) -> list[Log]:
    """Every log object anywhere in a JSON-RPC answer (receipts, getLogs results)."""
    found: list[Log] = []
    stack = [document]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            if "topics" in item and "data" in item and "logIndex" in item:
                found.append(rpc_log(item))
            else:
                stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(reversed(item))
    return found


def demeter_logs(path: Path, address: str) -> list[Log]:
    """A demeter-fetch raw CSV; its rows carry no address, the file names the emitting contract."""
    logs = []
    with path.open(newline="") as handle:
        for row in csv.DictReader(handle):
            logs.append(
                Log(
                    block_number=int(row["block_number"]),
                    block_hash="",
                    transaction_hash=row["transaction_hash"],
                    transaction_index=int(row["transaction_index"]),
                    log_index=int(row["log_index"]),
                    address=address,
                    topics=tuple(json.loads(row["topics"].replace("'", '"'))),
                    data=row["data"],
                )
            )
    return logs


def independent_counts(logs: list[Log], chain_weth: frozenset[str], aave_pools: frozenset[str]) -> dict[str, int]:
    """Per kind, the logs whose topic0, topic count and data size fit that event (eth_abi decodes them)."""
    counts: dict[str, int] = {}
    for log in logs:
        if not log.topics:
            continue
        for sig in SIGNATURES:
            if log.topics[0] != sig.topic0 or len(log.topics) != sig.topic_count:
                continue
            if sig.kind.startswith("weth.") and log.address not in chain_weth:
                continue
            if sig.kind.startswith("aave_v3.") and log.address not in aave_pools:
                continue
            static = all(not (p.type.endswith("[]") or p.type == "bytes") for p in sig.params)
            words = sum(1 for p in sig.params if not p.indexed)
            size = (len(log.data) - 2) // 2
            if static and size != 32 * words:
                continue
            try:
                sig.decode(log)
            except Exception:
                continue
            counts[sig.kind] = counts.get(sig.kind, 0) + 1
            break
    return counts


def signature_for(kind: str, log: Log) -> Signature:
    return next(s for s in SIGNATURES if s.kind == kind and s.topic0 == log.topics[0])
