"""A local chain to run the whole platform against: anvil on loopback with real contracts deployed.

`Devnet` starts the anvil binary from npm `@foundry-rs/anvil`, waits until it answers, and deploys
Uniswap V2 (the factory from npm `@uniswap/v2-core`'s compiled artifact, pairs created through it),
WETH9, ERC-20 tokens and Chainlink-style price feeds (compiled from `contracts/` by `make install`).
Everything is sent with `eth_sendTransaction` from anvil's unlocked default accounts, so no key
is ever handled. The result is a `Deployment`: addresses, tokens, pools and feeds, plus the
factory's init code hash so pools are attributed by their CREATE2 address like on mainnet.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from eth_abi.abi import encode
from eth_hash.auto import keccak

from onchain.config import FactoryConfig
from onchain.devnet.anvil import DEVNET_CHAIN_ID, ROOT, DevnetError
from onchain.devnet.wallet import Wallet, calldata
from onchain.errors import ConfigError
from onchain.protocols.create2 import v2_pair_address

ARTIFACTS = ROOT / "build" / "contracts"
UNISWAP_V2_BUILD = ROOT / "node_modules" / "@uniswap" / "v2-core" / "build"
DEVNET_CHAIN = "devnet"
FEED_DECIMALS = 8
# WETH9 is the first deployment of anvil's first default account (nonce 0), so its address is fixed;
# the WETH adapter lists it for the devnet chain.
DEVNET_WETH = "0x5fbdb2315678afecb367f032d93f642f64180aa3"


@dataclass(frozen=True, slots=True)
class DevnetToken:
    address: str
    symbol: str
    name: str
    decimals: int


@dataclass(frozen=True, slots=True)
class DevnetPool:
    """A Uniswap V2 pair; token0 < token1 by address, as the factory sorts them."""

    address: str
    token0: DevnetToken
    token1: DevnetToken


@dataclass(frozen=True, slots=True)
class DevnetFeed:
    """A price feed quoting `base` (a token symbol, e.g. WETH for "ETH / USD") in USD."""

    address: str
    description: str
    base: str
    decimals: int


@dataclass(frozen=True, slots=True)
class Deployment:
    """Everything deployed on a devnet, for the traffic generator, the decoder and the demo's banner."""

    chain_id: int
    rpc_url: str
    deployer: str
    accounts: tuple[str, ...]
    factory: str
    init_code_hash: str
    weth: DevnetToken
    tokens: dict[str, DevnetToken]
    pools: tuple[DevnetPool, ...]
    feeds: tuple[DevnetFeed, ...]

    def factory_config(self) -> FactoryConfig:
        """The devnet factory as a V2 factory row, so the decoder attributes its pairs to uniswap-v2."""
        return FactoryConfig(
            protocol="uniswap-v2", chain=DEVNET_CHAIN, address=self.factory, init_code_hash=self.init_code_hash
        )

    def pool(self, symbol_a: str, symbol_b: str) -> DevnetPool:
        """The pair of two token symbols, in either order."""
        wanted = {symbol_a, symbol_b}
        for pool in self.pools:
            if {pool.token0.symbol, pool.token1.symbol} == wanted:
                return pool
        raise KeyError(f"no devnet pool for {symbol_a}/{symbol_b}")


@dataclass(frozen=True, slots=True)
class TokenSpec:
    symbol: str
    name: str
    decimals: int
    usd_price: float


# The assets the devnet starts with, and their opening USD prices.
TOKENS = (
    TokenSpec("USDC", "USD Coin", 6, 1.0),
    TokenSpec("DAI", "Dai Stablecoin", 18, 1.0),
    TokenSpec("WBTC", "Wrapped BTC", 8, 60_000.0),
)
WETH_SPEC = TokenSpec("WETH", "Wrapped Ether", 18, 3_000.0)
# Pairs and the USD depth of each side at deployment.
POOLS: tuple[tuple[str, str, float], ...] = (
    ("WETH", "USDC", 6_000_000.0),
    ("WETH", "DAI", 3_000_000.0),
    ("WBTC", "WETH", 6_000_000.0),
    ("WBTC", "USDC", 3_000_000.0),
    ("DAI", "USDC", 2_000_000.0),
)
# Feed description -> the token it prices.
FEEDS = (("ETH / USD", "WETH"), ("BTC / USD", "WBTC"), ("USDC / USD", "USDC"), ("DAI / USD", "DAI"))
# Every account but the deployer gets this much of each token to trade with.
ACCOUNT_FUNDING_USD = 50_000_000.0


def token_units(usd: float, usd_price: float, decimals: int) -> int:
    """How many base units of a token are worth `usd`, computed exactly (floats lose 18-decimal digits)."""
    return int(Fraction(usd) / Fraction(usd_price) * 10**decimals)


def load_artifact(name: str) -> tuple[list[dict[str, Any]], str]:
    """ABI and creation bytecode of a contract: Uniswap's from npm, ours from `build/contracts`."""
    path = UNISWAP_V2_BUILD / f"{name}.json" if name.startswith("UniswapV2") else ARTIFACTS / f"{name}.json"
    if not path.exists():
        raise ConfigError(f"contract artifact {path} is missing; run `make install` to build it")
    document = json.loads(path.read_text())
    bytecode = document["bytecode"]
    if isinstance(bytecode, dict):
        bytecode = bytecode["object"]
    return document["abi"], bytecode if bytecode.startswith("0x") else "0x" + bytecode


def pair_init_code_hash() -> str:
    """keccak256 of the UniswapV2Pair creation code the factory deploys with CREATE2."""
    _, bytecode = load_artifact("UniswapV2Pair")
    return "0x" + keccak(bytes.fromhex(bytecode[2:])).hex()


class Devnet(Wallet):
    """anvil on loopback with the platform's contracts, as an async context manager."""

    deployment: Deployment | None = None

    async def __aenter__(self) -> Devnet:
        await self.start()
        try:
            await self.deploy()
        except BaseException:
            await self.close()
            raise
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def deploy(self) -> Deployment:
        """Deploy tokens, WETH, the V2 factory, pairs with opening liquidity, and price feeds."""
        if len(self.accounts) < 2:
            raise DevnetError("the devnet needs at least two unlocked accounts")
        deployer = self.accounts[0]
        init_code_hash = pair_init_code_hash()
        _, weth_code = load_artifact("WETH9")
        _, token_code = load_artifact("DevToken")
        _, factory_code = load_artifact("UniswapV2Factory")
        _, feed_code = load_artifact("PriceFeed")

        creations: list[tuple[str, str | None, str, int, int]] = [(deployer, None, weth_code, 2_000_000, 0)]
        for spec in TOKENS:
            args = encode(["string", "string", "uint8"], [spec.name, spec.symbol, spec.decimals]).hex()
            creations.append((deployer, None, token_code + args, 2_000_000, 0))
        creations.append((deployer, None, factory_code + encode(["address"], [deployer]).hex(), 6_000_000, 0))
        prices = {spec.symbol: spec.usd_price for spec in (WETH_SPEC, *TOKENS)}
        for description, base in FEEDS:
            answer = round(prices[base] * 10**FEED_DECIMALS)
            args = encode(["uint8", "string", "int256"], [FEED_DECIMALS, description, answer]).hex()
            creations.append((deployer, None, feed_code + args, 2_000_000, 0))
        receipts = await self.transact(creations, mine_now=self.mining != "auto")
        addresses = [r["contractAddress"].lower() for r in receipts]

        if self.chain_id == DEVNET_CHAIN_ID and addresses[0] != DEVNET_WETH:
            raise DevnetError(f"WETH deployed at {addresses[0]}, not {DEVNET_WETH}: the devnet must start fresh")
        weth = DevnetToken(addresses[0], WETH_SPEC.symbol, WETH_SPEC.name, WETH_SPEC.decimals)
        tokens = {weth.symbol: weth}
        for spec, address in zip(TOKENS, addresses[1 : 1 + len(TOKENS)], strict=True):
            tokens[spec.symbol] = DevnetToken(address, spec.symbol, spec.name, spec.decimals)
        factory = addresses[1 + len(TOKENS)]
        feeds = tuple(
            DevnetFeed(address, description, base, FEED_DECIMALS)
            for (description, base), address in zip(FEEDS, addresses[2 + len(TOKENS) :], strict=True)
        )

        pools: list[DevnetPool] = []
        setup: list[tuple[str, str | None, str, int, int]] = []
        for symbol_a, symbol_b, _ in POOLS:
            first, second = sorted((tokens[symbol_a], tokens[symbol_b]), key=lambda t: t.address)
            setup.append((deployer, factory, calldata("createPair(address,address)", first.address, second.address),
                          3_000_000, 0))  # fmt: skip
            pools.append(DevnetPool(v2_pair_address(factory, first.address, second.address, init_code_hash),
                                    first, second))  # fmt: skip
        setup += self._funding_calls(tokens, prices)
        for pool, (_, _, depth_usd) in zip(pools, POOLS, strict=True):
            for token in (pool.token0, pool.token1):
                amount = token_units(depth_usd, prices[token.symbol], token.decimals)
                setup.append((deployer, token.address, calldata("transfer(address,uint256)", pool.address, amount),
                              100_000, 0))  # fmt: skip
            setup.append((deployer, pool.address, calldata("mint(address)", deployer), 300_000, 0))
        receipts = await self.transact(setup, mine_now=self.mining != "auto")
        created = {
            "0x" + log["data"][26:66] for r in receipts for log in r["logs"] if log["address"].lower() == factory
        }
        missing = [p.address for p in pools if p.address not in created]
        if missing:
            raise DevnetError(f"factory did not create pairs at their CREATE2 addresses: {missing}")

        self.deployment = Deployment(
            chain_id=self.chain_id,
            rpc_url=self.rpc_url,
            deployer=deployer,
            accounts=self.accounts,
            factory=factory,
            init_code_hash=init_code_hash,
            weth=weth,
            tokens=tokens,
            pools=tuple(pools),
            feeds=feeds,
        )
        return self.deployment

    def _funding_calls(
        self, tokens: dict[str, DevnetToken], prices: dict[str, float]
    ) -> list[tuple[str, str | None, str, int, int]]:
        """Mint every token to every account (the deployer seeds pools from its share) and wrap ETH."""
        calls: list[tuple[str, str | None, str, int, int]] = []
        for account in self.accounts:
            for token in tokens.values():
                amount = token_units(ACCOUNT_FUNDING_USD, prices[token.symbol], token.decimals)
                if token.symbol == WETH_SPEC.symbol:
                    calls.append((account, token.address, calldata("deposit()"), 100_000, amount))
                else:
                    mint = calldata("mint(address,uint256)", account, amount)
                    calls.append((account, token.address, mint, 100_000, 0))
        return calls


__all__ = [
    "ARTIFACTS",
    "DEVNET_CHAIN",
    "DEVNET_WETH",
    "FEED_DECIMALS",
    "TOKENS",
    "WETH_SPEC",
    "Deployment",
    "Devnet",
    "DevnetFeed",
    "DevnetPool",
    "DevnetToken",
    "pair_init_code_hash",
    "token_units",
]
