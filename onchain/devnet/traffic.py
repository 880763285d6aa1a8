"""Traffic on the devnet that looks like a market: traders, liquidity providers, an oracle, an arbitrageur.

A hidden fair price per asset follows a geometric random walk. The oracle updater posts it to the
price feeds when it drifts past a deviation threshold or a heartbeat passes (as Chainlink feeds do),
an arbitrageur trades each pool back toward the fair price, traders swap random sizes both ways and
liquidity providers add and remove liquidity. Swaps go the way a router sends them: the input
token is transferred into the pair, then `pair.swap` pays out the amount the constant-product
formula allows. The generator keeps an exact integer model of every pair, re-read from the chain at
each step, so transactions that share a block never invalidate each other. The same seed on a
fresh devnet sends the same transactions.
"""

from __future__ import annotations

import asyncio
import logging
import math
import random
from dataclasses import dataclass, field

from eth_abi.abi import decode

from onchain.devnet.deployment import FEED_DECIMALS, TOKENS, WETH_SPEC, Deployment, Devnet, DevnetPool
from onchain.devnet.wallet import calldata

log = logging.getLogger(__name__)

Call = tuple[str, str | None, str, int, int]

SWAP_FEE = 0.003
# Gas limits per kind of transaction: generous, since anvil charges only what is used.
GAS_TRANSFER = 90_000
GAS_SWAP = 200_000
GAS_MINT = 250_000
GAS_BURN = 250_000
GAS_ORACLE = 150_000
GAS_WRAP = 90_000


@dataclass(slots=True)
class PairState:
    """What the generator knows of a pair: equal to the chain after every transaction it sent."""

    pool: DevnetPool
    reserve0: int
    reserve1: int
    total_supply: int

    def amount_out(self, amount_in: int, zero_for_one: bool) -> int:
        """The pair's own output formula (0.3% fee on the input), in integers like the contract."""
        reserve_in, reserve_out = (self.reserve0, self.reserve1) if zero_for_one else (self.reserve1, self.reserve0)
        with_fee = amount_in * 997
        return with_fee * reserve_out // (reserve_in * 1000 + with_fee)


@dataclass(slots=True)
class StepReport:
    """What one step sent, by kind, and how many of its transactions reverted (expected: none)."""

    transactions: int = 0
    swaps: int = 0
    arbitrages: int = 0
    mints: int = 0
    burns: int = 0
    wraps: int = 0
    oracle_updates: int = 0
    failed: int = 0
    blocks: set[int] = field(default_factory=set)


@dataclass(frozen=True, slots=True)
class Volatility:
    """Per-step log-price volatility of the volatile assets, and the stables' wobble around 1."""

    eth: float = 0.002
    btc: float = 0.0015
    stable: float = 0.0004


class TrafficGenerator:
    """Sends a market's worth of transactions each step; `run()` loops it as an asyncio task.

    Roles by account: 0 is the deployer and oracle updater (it owns the feeds), 1 the arbitrageur,
    2 and 3 liquidity providers, the rest traders.
    """

    def __init__(
        self,
        devnet: Devnet,
        *,
        seed: int = 7,
        tx_per_block: int = 6,
        volatility: Volatility | None = None,
        oracle_deviation: float = 0.005,
        oracle_heartbeat: int = 30,
        arbitrage_threshold: float = 0.004,
    ) -> None:
        if devnet.deployment is None:
            raise ValueError("deploy the devnet before generating traffic")
        self.devnet = devnet
        self.deployment: Deployment = devnet.deployment
        self.rng = random.Random(seed)
        self.tx_per_block = tx_per_block
        self.volatility = volatility or Volatility()
        self.oracle_deviation = oracle_deviation
        self.oracle_heartbeat = oracle_heartbeat
        self.arbitrage_threshold = arbitrage_threshold
        accounts = self.deployment.accounts
        if len(accounts) < 5:
            raise ValueError("traffic needs at least 5 devnet accounts")
        self.oracle_updater = self.deployment.deployer
        self.arbitrageur = accounts[1]
        self.providers = accounts[2:4]
        self.traders = accounts[4:]
        self.fair_prices = {spec.symbol: spec.usd_price for spec in (WETH_SPEC, *TOKENS)}
        self.posted = dict(self.fair_prices)
        self.steps_since_post = dict.fromkeys(self.fair_prices, 0)
        self.steps = 0
        self.totals = StepReport()

    async def run(self, steps: int | None = None) -> None:
        """Step forever (or `steps` times). Pacing comes from mining: each step waits for its receipts."""
        done = 0
        while steps is None or done < steps:
            await self.step()
            done += 1
            await asyncio.sleep(0)

    async def step(self) -> StepReport:
        """One block's worth of traffic: price move, oracle posts, arbitrage, then random users."""
        pairs = await self._pair_states()
        lp_balances = await self._lp_balances()
        report = StepReport()
        calls: list[Call] = []
        self._move_prices()
        calls += self._oracle_updates(report)
        for state in pairs:
            calls += self._arbitrage(state, report)
        for _ in range(self.tx_per_block):
            calls += self._random_action(pairs, lp_balances, report)
        hashes = [
            await self.devnet.send(sender, to, data, gas=gas, value=value) for sender, to, data, gas, value in calls
        ]
        receipts = await self.devnet.receipts(hashes)
        report.transactions = len(receipts)
        report.failed = sum(1 for r in receipts if int(r["status"], 16) != 1)
        report.blocks = {int(r["blockNumber"], 16) for r in receipts}
        if report.failed:
            # The model re-reads the pairs next step, so traffic goes on; but a revert means it was wrong.
            log.warning("devnet traffic: %d of %d transactions reverted", report.failed, report.transactions)
        self.steps += 1
        self._add_to_totals(report)
        return report

    def pool_price(self, state: PairState) -> float:
        """USD price of token0 implied by the pair's reserves and token1's fair price."""
        token0, token1 = state.pool.token0, state.pool.token1
        ratio = (state.reserve1 / 10.0**token1.decimals) / (state.reserve0 / 10.0**token0.decimals)
        return ratio * self.fair_prices[token1.symbol]

    async def pair_states(self) -> list[PairState]:
        """The pairs as the chain holds them now."""
        return await self._pair_states()

    # Reading the chain -----------------------------------------------------------------------

    async def _pair_states(self) -> list[PairState]:
        pools = self.deployment.pools
        requests: list[tuple[str, list[object]]] = []
        for pool in pools:
            requests.append(("eth_call", [{"to": pool.address, "data": calldata("getReserves()")}, "latest"]))
            requests.append(("eth_call", [{"to": pool.address, "data": calldata("totalSupply()")}, "latest"]))
        answers = await self.devnet.client.batch(requests)
        states = []
        for index, pool in enumerate(pools):
            reserve0, reserve1, _ = decode(["uint112", "uint112", "uint32"], bytes.fromhex(answers[2 * index][2:]))
            (supply,) = decode(["uint256"], bytes.fromhex(answers[2 * index + 1][2:]))
            states.append(PairState(pool, reserve0, reserve1, supply))
        return states

    async def _lp_balances(self) -> dict[tuple[str, str], int]:
        keys = [(provider, pool.address) for provider in self.providers for pool in self.deployment.pools]
        requests = [
            ("eth_call", [{"to": pool, "data": calldata("balanceOf(address)", provider)}, "latest"])
            for provider, pool in keys
        ]
        answers = await self.devnet.client.batch(requests)
        return {key: int(answer, 16) for key, answer in zip(keys, answers, strict=True)}

    # Prices and the oracle -------------------------------------------------------------------

    def _move_prices(self) -> None:
        vol = self.volatility
        self.fair_prices["WETH"] *= math.exp(self.rng.gauss(-(vol.eth**2) / 2, vol.eth))
        self.fair_prices["WBTC"] *= math.exp(self.rng.gauss(-(vol.btc**2) / 2, vol.btc))
        for stable in ("USDC", "DAI"):
            # Mean-reverting around the peg, so stables wobble but never wander off.
            drift = 0.8 * (self.fair_prices[stable] - 1.0)
            self.fair_prices[stable] = 1.0 + drift + self.rng.gauss(0.0, vol.stable)

    def _oracle_updates(self, report: StepReport) -> list[Call]:
        calls: list[Call] = []
        for feed in self.deployment.feeds:
            base = feed.base
            self.steps_since_post[base] += 1
            moved = abs(self.fair_prices[base] / self.posted[base] - 1.0)
            if moved < self.oracle_deviation and self.steps_since_post[base] < self.oracle_heartbeat:
                continue
            answer = round(self.fair_prices[base] * 10**FEED_DECIMALS)
            calls.append((self.oracle_updater, feed.address, calldata("updateAnswer(int256)", answer), GAS_ORACLE, 0))
            self.posted[base] = answer / 10**FEED_DECIMALS
            self.steps_since_post[base] = 0
            report.oracle_updates += 1
        return calls

    # Swaps -----------------------------------------------------------------------------------

    def _swap(self, trader: str, state: PairState, amount_in: int, zero_for_one: bool) -> list[Call]:
        """Transfer the input into the pair, then ask for the output: what a router does in one call."""
        amount_out = state.amount_out(amount_in, zero_for_one)
        reserve_out = state.reserve1 if zero_for_one else state.reserve0
        if amount_in <= 0 or amount_out <= 0 or amount_out >= reserve_out:
            return []
        pool = state.pool
        token_in = pool.token0 if zero_for_one else pool.token1
        if zero_for_one:
            state.reserve0 += amount_in
            state.reserve1 -= amount_out
            outs = (0, amount_out)
        else:
            state.reserve1 += amount_in
            state.reserve0 -= amount_out
            outs = (amount_out, 0)
        return [
            (trader, token_in.address, calldata("transfer(address,uint256)", pool.address, amount_in), GAS_TRANSFER, 0),
            (trader, pool.address, calldata("swap(uint256,uint256,address,bytes)", *outs, trader, b""), GAS_SWAP, 0),
        ]

    def _arbitrage(self, state: PairState, report: StepReport) -> list[Call]:
        """Trade the pair back to the fair price when it is off by more than the threshold."""
        token0, token1 = state.pool.token0, state.pool.token1
        # Fair price of one base unit of token0 in base units of token1.
        target = (
            self.fair_prices[token0.symbol]
            / self.fair_prices[token1.symbol]
            * 10 ** (token1.decimals - token0.decimals)
        )
        current = state.reserve1 / state.reserve0
        if abs(current / target - 1.0) < self.arbitrage_threshold:
            return []
        k = state.reserve0 * state.reserve1
        if current > target:
            # token0 is dear in the pool: sell token0 into it until reserve0 reaches sqrt(k / target).
            amount_in = int((math.sqrt(k / target) - state.reserve0) / (1 - SWAP_FEE))
            calls = self._swap(self.arbitrageur, state, amount_in, zero_for_one=True)
        else:
            amount_in = int((math.sqrt(k * target) - state.reserve1) / (1 - SWAP_FEE))
            calls = self._swap(self.arbitrageur, state, amount_in, zero_for_one=False)
        if calls:
            report.arbitrages += 1
        return calls

    # Random users ----------------------------------------------------------------------------

    def _random_action(
        self, pairs: list[PairState], lp_balances: dict[tuple[str, str], int], report: StepReport
    ) -> list[Call]:
        roll = self.rng.random()
        state = self.rng.choice(pairs)
        if roll < 0.75:
            calls = self._random_swap(state)
            report.swaps += 1 if calls else 0
        elif roll < 0.85:
            calls = self._add_liquidity(state, lp_balances)
            report.mints += 1 if calls else 0
        elif roll < 0.95:
            calls = self._remove_liquidity(state, lp_balances)
            report.burns += 1 if calls else 0
        else:
            calls = self._wrap()
            report.wraps += 1
        return calls

    def _usd_to_units(self, symbol: str, decimals: int, usd: float) -> int:
        return int(usd / self.fair_prices[symbol] * 10**decimals)

    def _random_swap(self, state: PairState) -> list[Call]:
        zero_for_one = self.rng.random() < 0.5
        token_in = state.pool.token0 if zero_for_one else state.pool.token1
        reserve_in = state.reserve0 if zero_for_one else state.reserve1
        usd = math.exp(self.rng.gauss(math.log(3_000.0), 1.2))
        amount_in = min(self._usd_to_units(token_in.symbol, token_in.decimals, usd), reserve_in // 200)
        return self._swap(self.rng.choice(self.traders), state, amount_in, zero_for_one)

    def _add_liquidity(self, state: PairState, lp_balances: dict[tuple[str, str], int]) -> list[Call]:
        """Deposit both tokens at the pair's current ratio and mint LP shares to the provider."""
        provider = self.rng.choice(self.providers)
        pool = state.pool
        usd = self.rng.uniform(5_000.0, 200_000.0)
        amount0 = self._usd_to_units(pool.token0.symbol, pool.token0.decimals, usd / 2)
        amount1 = amount0 * state.reserve1 // state.reserve0 + 1
        liquidity = min(amount0 * state.total_supply // state.reserve0, amount1 * state.total_supply // state.reserve1)
        if liquidity <= 0:
            return []
        state.reserve0 += amount0
        state.reserve1 += amount1
        state.total_supply += liquidity
        key = (provider, pool.address)
        lp_balances[key] = lp_balances.get(key, 0) + liquidity
        transfer = "transfer(address,uint256)"
        return [
            (provider, pool.token0.address, calldata(transfer, pool.address, amount0), GAS_TRANSFER, 0),
            (provider, pool.token1.address, calldata(transfer, pool.address, amount1), GAS_TRANSFER, 0),
            (provider, pool.address, calldata("mint(address)", provider), GAS_MINT, 0),
        ]

    def _remove_liquidity(self, state: PairState, lp_balances: dict[tuple[str, str], int]) -> list[Call]:
        """Return part of a provider's LP shares to the pair and burn them for both tokens."""
        provider = self.rng.choice(self.providers)
        pool = state.pool
        key = (provider, pool.address)
        liquidity = int(lp_balances.get(key, 0) * self.rng.uniform(0.1, 0.5))
        amount0 = liquidity * state.reserve0 // state.total_supply
        amount1 = liquidity * state.reserve1 // state.total_supply
        if amount0 <= 0 or amount1 <= 0:
            return []
        state.reserve0 -= amount0
        state.reserve1 -= amount1
        state.total_supply -= liquidity
        lp_balances[key] -= liquidity
        return [
            (provider, pool.address, calldata("transfer(address,uint256)", pool.address, liquidity), GAS_TRANSFER, 0),
            (provider, pool.address, calldata("burn(address)", provider), GAS_BURN, 0),
        ]

    def _wrap(self) -> list[Call]:
        """A trader wraps or unwraps a little ether, so WETH Deposit and Withdrawal show up too."""
        trader = self.rng.choice(self.traders)
        amount = int(self.rng.uniform(0.1, 20.0) * 10**18)
        weth = self.deployment.weth.address
        if self.rng.random() < 0.5:
            return [(trader, weth, calldata("deposit()"), GAS_WRAP, amount)]
        return [(trader, weth, calldata("withdraw(uint256)", amount), GAS_WRAP, 0)]

    def _add_to_totals(self, report: StepReport) -> None:
        totals = self.totals
        totals.transactions += report.transactions
        totals.swaps += report.swaps
        totals.arbitrages += report.arbitrages
        totals.mints += report.mints
        totals.burns += report.burns
        totals.wraps += report.wraps
        totals.oracle_updates += report.oracle_updates
        totals.failed += report.failed


__all__ = ["PairState", "StepReport", "TrafficGenerator", "Volatility"]
