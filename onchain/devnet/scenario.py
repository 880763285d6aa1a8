"""A devnet market with planted ground truth, to evaluate the smart-money model against.

The devnet's price feeds follow a random walk. Every block the oracle posts the walk's current
point, an arbitrageur trades the volatile pools back to it, then traders swap. "Informed"
traders know the oracle's next answer and buy what it will raise; "noise" traders pick a direction
at random. Both kinds trade equally often with sizes from the same distribution, so only the
timing of their trades tells them apart. With `informed_behaviour=False` the same wallets are still
marked informed but trade like noise: a model that ranks them well then would be finding an artefact.

`run_scenario` drives a fresh devnet and reads its logs back; `evaluate` is pure: it trains on the
first part of the run (labels are forward profitability, never the marks) and scores the later part.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass

from eth_abi.abi import decode

from onchain.analytics.smart_money.features import build_samples, wallet_features, windows
from onchain.analytics.smart_money.liquidity import LiquidityBook, liquidity_from_events
from onchain.analytics.smart_money.model import SmartMoneyModel, auc, train
from onchain.analytics.smart_money.trades import PriceTape, Trade, fold_prices, pool_tokens, trades_from_events
from onchain.devnet.anvil import DevnetError
from onchain.devnet.deployment import DEVNET_CHAIN, FEED_DECIMALS, TOKENS, WETH_SPEC, Deployment, Devnet, DevnetPool
from onchain.devnet.traffic import PairState
from onchain.devnet.wallet import calldata
from onchain.domain.chain import Block
from onchain.domain.events import Event
from onchain.metrics.service import MarketService
from onchain.protocols.registry import Decoder
from onchain.sources.jsonrpc import JsonRpcClient
from onchain.sources.parse import parse_block, parse_log

Call = tuple[str, str, str, int]  # sender, to, data, gas

# The pairs traders use: each holds a volatile asset, so a known next price is worth something.
TRADED_PAIRS = (("WETH", "USDC"), ("WETH", "DAI"), ("WBTC", "WETH"), ("WBTC", "USDC"))
VOLATILE = ("WETH", "WBTC")
SWAP_FEE = 0.003
GAS_TRANSFER = 90_000
GAS_SWAP = 200_000
GAS_ORACLE = 150_000
LOG_RANGE = 200  # blocks per eth_getLogs request


@dataclass(frozen=True, slots=True)
class ScenarioConfig:
    """The run's shape. Defaults finish in well under a minute of devnet time on a laptop."""

    blocks: int = 240
    informed: int = 12
    noise: int = 36
    informed_behaviour: bool = True
    seed: int = 7
    trade_probability: float = 0.3
    trade_usd: float = 5_000.0
    eth_volatility: float = 0.01
    btc_volatility: float = 0.008


@dataclass(frozen=True, slots=True)
class ScenarioData:
    """What a run leaves behind: headers and decoded events from genesis on, and who was marked what."""

    config: ScenarioConfig
    deployment: Deployment
    informed: frozenset[str]
    noise: frozenset[str]
    first_block: int
    last_block: int
    blocks: tuple[Block, ...]
    events: tuple[Event, ...]


@dataclass(frozen=True, slots=True)
class Evaluation:
    auc: float | None
    precision_at_10: float
    wallets: int
    blocks: int
    model: SmartMoneyModel
    scores: dict[str, float]

    def as_json(self) -> dict[str, float | int | None]:
        return {"auc": self.auc, "precision_at_10": self.precision_at_10, "wallets": self.wallets,
                "blocks": self.blocks}


def price_path(config: ScenarioConfig, rng: random.Random) -> list[dict[str, float]]:
    """Oracle answers per step (one more than the run's blocks, so the last step's next answer exists)."""
    prices = {spec.symbol: spec.usd_price for spec in (WETH_SPEC, *TOKENS)}
    volatility = {"WETH": config.eth_volatility, "WBTC": config.btc_volatility}
    path = [dict(prices)]
    for _ in range(config.blocks):
        for symbol, sigma in volatility.items():
            prices[symbol] *= math.exp(rng.gauss(-(sigma**2) / 2, sigma))
        path.append(dict(prices))
    return path


def _swap(trader: str, state: PairState, amount_in: int, zero_for_one: bool) -> list[Call]:
    """Input transferred into the pair, then `swap` for what the constant product pays; updates `state`."""
    amount_out = state.amount_out(amount_in, zero_for_one)
    reserve_out = state.reserve1 if zero_for_one else state.reserve0
    if amount_in <= 0 or amount_out <= 0 or amount_out >= reserve_out:
        return []
    pool = state.pool
    token_in = pool.token0 if zero_for_one else pool.token1
    if zero_for_one:
        state.reserve0, state.reserve1 = state.reserve0 + amount_in, state.reserve1 - amount_out
        outs = (0, amount_out)
    else:
        state.reserve1, state.reserve0 = state.reserve1 + amount_in, state.reserve0 - amount_out
        outs = (amount_out, 0)
    return [
        (trader, token_in.address, calldata("transfer(address,uint256)", pool.address, amount_in), GAS_TRANSFER),
        (trader, pool.address, calldata("swap(uint256,uint256,address,bytes)", *outs, trader, b""), GAS_SWAP),
    ]


def _arbitrage(arbitrageur: str, state: PairState, prices: dict[str, float]) -> list[Call]:
    """Trade the pair to the oracle's price: reserve1/reserve0 = price0/price1 in base units."""
    token0, token1 = state.pool.token0, state.pool.token1
    target = prices[token0.symbol] / prices[token1.symbol] * 10 ** (token1.decimals - token0.decimals)
    current = state.reserve1 / state.reserve0
    if abs(current / target - 1.0) < 0.001:
        return []
    k = state.reserve0 * state.reserve1
    if current > target:
        amount_in = int((math.sqrt(k / target) - state.reserve0) / (1 - SWAP_FEE))
        return _swap(arbitrageur, state, amount_in, zero_for_one=True)
    amount_in = int((math.sqrt(k * target) - state.reserve1) / (1 - SWAP_FEE))
    return _swap(arbitrageur, state, amount_in, zero_for_one=False)


class ScenarioDriver:
    """Sends the scenario's blocks to a deployed manual-mining devnet, one batch of transactions per block."""

    def __init__(self, devnet: Devnet, config: ScenarioConfig) -> None:
        if devnet.deployment is None:
            raise DevnetError("deploy the devnet before driving a scenario")
        deployment = devnet.deployment
        needed = 2 + config.informed + config.noise
        if len(deployment.accounts) < needed:
            raise DevnetError(f"the scenario needs {needed} devnet accounts, the devnet has {len(deployment.accounts)}")
        self.devnet = devnet
        self.deployment = deployment
        self.config = config
        self.rng = random.Random(config.seed)
        self.path = price_path(config, self.rng)
        traders = list(deployment.accounts[2:needed])
        self.rng.shuffle(traders)
        self.informed = frozenset(traders[: config.informed])
        self.noise = frozenset(traders[config.informed :])
        self.traders = sorted(traders)
        self.arbitrageur = deployment.accounts[1]
        self.pools = [deployment.pool(a, b) for a, b in TRADED_PAIRS]
        self.feeds = {feed.base: feed for feed in deployment.feeds if feed.base in VOLATILE}
        # Sends go as one JSON-RPC batch per block, never retried: a retried send would trade twice.
        self.sender = JsonRpcClient([devnet.rpc_url], max_attempts=1, timeout=60.0, max_batch_size=10_000)

    async def run(self) -> tuple[int, int]:
        """Drive every step; returns the first and last block the scenario mined."""
        first = await self.devnet.block_number() + 1
        try:
            for step in range(self.config.blocks):
                await self.step(step)
        finally:
            await self.sender.close()
        return first, await self.devnet.block_number()

    async def step(self, step: int) -> None:
        now, upcoming = self.path[step], self.path[step + 1]
        states = await self._pair_states()
        calls: list[Call] = []
        for symbol, feed in self.feeds.items():
            answer = round(now[symbol] * 10**FEED_DECIMALS)
            calls.append((self.deployment.deployer, feed.address, calldata("updateAnswer(int256)", answer), GAS_ORACLE))
        for state in states:
            calls += _arbitrage(self.arbitrageur, state, now)
        for trader in self.traders:
            if self.rng.random() >= self.config.trade_probability:
                continue
            state = self.rng.choice(states)
            usd = self.config.trade_usd * math.exp(self.rng.gauss(0.0, 0.6))
            if trader in self.informed and self.config.informed_behaviour:
                zero_for_one = self._direction(state.pool, now, upcoming)
            else:
                zero_for_one = self.rng.random() < 0.5
            token_in = state.pool.token0 if zero_for_one else state.pool.token1
            reserve_in = state.reserve0 if zero_for_one else state.reserve1
            amount = min(int(usd / now[token_in.symbol] * 10**token_in.decimals), reserve_in // 100)
            calls += _swap(trader, state, amount, zero_for_one)
        await self._send(calls)

    @staticmethod
    def _direction(pool: DevnetPool, now: dict[str, float], upcoming: dict[str, float]) -> bool:
        """True (sell token0 for token1) when token1 gains on token0 at the oracle's next answer."""
        gain0 = upcoming[pool.token0.symbol] / now[pool.token0.symbol]
        gain1 = upcoming[pool.token1.symbol] / now[pool.token1.symbol]
        return gain1 > gain0

    async def _pair_states(self) -> list[PairState]:
        requests: list[tuple[str, list[object]]] = []
        for pool in self.pools:
            requests.append(("eth_call", [{"to": pool.address, "data": calldata("getReserves()")}, "latest"]))
        answers = await self.devnet.client.batch(requests)
        states = []
        for pool, answer in zip(self.pools, answers, strict=True):
            reserve0, reserve1, _ = decode(["uint112", "uint112", "uint32"], bytes.fromhex(answer[2:]))
            states.append(PairState(pool, reserve0, reserve1, 0))
        return states

    async def _send(self, calls: Sequence[Call]) -> None:
        requests = [("eth_sendTransaction", [{"from": s, "to": to, "data": data, "gas": hex(gas)}])
                    for s, to, data, gas in calls]
        hashes = await self.sender.batch(requests)
        receipts = await self.devnet.receipts(hashes)
        failed = [r["transactionHash"] for r in receipts if int(r["status"], 16) != 1]
        if failed:
            raise DevnetError(f"{len(failed)} scenario transactions reverted, first {failed[0]}")


async def read_chain(devnet: Devnet, last: int) -> tuple[tuple[Block, ...], tuple[Event, ...]]:
    """Headers and decoded events of blocks 0..last, decoded by the platform's own decoder."""
    client = devnet.client
    raw_blocks = await client.batch([("eth_getBlockByNumber", [hex(n), False]) for n in range(last + 1)])
    blocks = tuple(parse_block(raw)[0] for raw in raw_blocks)
    ranges = [(low, min(low + LOG_RANGE - 1, last)) for low in range(0, last + 1, LOG_RANGE)]
    answers = await client.batch([("eth_getLogs", [{"fromBlock": hex(low), "toBlock": hex(high)}])
                                  for low, high in ranges])
    logs = sorted((parse_log(raw) for answer in answers for raw in answer),
                  key=lambda log: (log.block_number, log.log_index))
    if devnet.deployment is None:
        raise DevnetError("the devnet has no deployment")
    decoder = Decoder(DEVNET_CHAIN, factories=[devnet.deployment.factory_config()])
    return blocks, tuple(decoder.decode(logs).events)


async def run_scenario(config: ScenarioConfig) -> ScenarioData:
    """A fresh devnet, the scenario driven on it, and everything it recorded."""
    async with Devnet(mining="manual", accounts=2 + config.informed + config.noise) as devnet:
        driver = ScenarioDriver(devnet, config)
        first, last = await driver.run()
        blocks, events = await read_chain(devnet, last)
        if devnet.deployment is None:
            raise DevnetError("the devnet has no deployment")
        return ScenarioData(config, devnet.deployment, driver.informed, driver.noise, first, last, blocks, events)


def market_view(data: ScenarioData) -> tuple[PriceTape, list[Trade], LiquidityBook]:
    """USD prices per block from the platform's market fold, every wallet's trades and its LP actions."""
    market = MarketService(None)
    market.configure_devnet(data.deployment, DEVNET_CHAIN)
    tape = fold_prices(market.state, DEVNET_CHAIN, data.blocks, data.events)
    pools = pool_tokens(market.state)
    return tape, trades_from_events(data.events, pools), liquidity_from_events(data.events, pools)


def evaluate(data: ScenarioData, *, window: int = 20, horizon: int = 1, train_fraction: float = 0.5,
             seed: int = 0) -> Evaluation:
    """Train on the first part of the run, score the planted traders on the later part against their marks.

    Scores are averaged over the later part's windows; the AUC compares informed (positive) with
    noise traders, precision at 10 is the informed share among the ten best-scored of them.
    """
    tape, trades, liquidity = market_view(data)
    spans = windows(data.first_block, data.last_block, window)
    cut = max(3, round(len(spans) * train_fraction))
    if len(spans) - cut < 1:
        raise ValueError(f"{len(spans)} windows of {window} blocks are too few to train and test on")
    samples = build_samples(trades, tape, spans[:cut], horizon, liquidity)
    model = train(samples, window=window, horizon=horizon, seed=seed)
    totals: dict[str, list[float]] = {}
    for start, end in spans[cut:]:
        for scored in model.score(wallet_features(trades, tape, start, end, horizon, liquidity), top=0):
            totals.setdefault(scored.wallet, []).append(scored.score)
    planted = sorted(data.informed | data.noise)
    scores = {wallet: sum(totals[wallet]) / len(totals[wallet]) if wallet in totals else 0.0 for wallet in planted}
    ranked = sorted(planted, key=lambda wallet: (-scores[wallet], wallet))
    labels = [int(wallet in data.informed) for wallet in planted]
    top = ranked[:10]
    return Evaluation(
        auc=auc(labels, [scores[wallet] for wallet in planted]),
        precision_at_10=sum(wallet in data.informed for wallet in top) / len(top),
        wallets=len(planted),
        blocks=data.last_block - data.first_block + 1,
        model=model,
        scores=scores,
    )
