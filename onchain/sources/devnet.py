"""A local chain to run the whole platform against: anvil on loopback with real contracts deployed.

`Devnet` starts the anvil binary from npm `@foundry-rs/anvil`, waits until it answers, and deploys
Uniswap V2 (the factory from npm `@uniswap/v2-core`'s compiled artifact, pairs created through it),
WETH9, ERC-20 tokens and Chainlink-style price feeds (compiled from `contracts/` by `make install`).
Everything is sent with `eth_sendTransaction` from anvil's unlocked default accounts, so no key
is ever handled. The result is a `Deployment`: addresses, tokens, pools and feeds, plus the
factory's init code hash so pools are attributed by their CREATE2 address like on mainnet.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import json
import os
import signal
import socket
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import IO, Any, Literal

from eth_abi.abi import decode, encode
from eth_hash.auto import keccak

from onchain.config import FactoryConfig
from onchain.errors import ConfigError, OnchainError
from onchain.sources.jsonrpc import JsonRpcClient

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "build" / "contracts"
UNISWAP_V2_BUILD = ROOT / "node_modules" / "@uniswap" / "v2-core" / "build"
DEVNET_CHAIN = "devnet"
DEVNET_CHAIN_ID = 31337
ZERO_ADDRESS = "0x" + "00" * 20
FEED_DECIMALS = 8
# WETH9 is the first deployment of anvil's first default account (nonce 0), so its address is fixed;
# the WETH adapter lists it for the devnet chain.
DEVNET_WETH = "0x5fbdb2315678afecb367f032d93f642f64180aa3"

Mining = Literal["auto", "interval", "manual"]


class DevnetError(OnchainError):
    """The devnet could not start, or a transaction on it failed."""


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


def selector(signature: str) -> bytes:
    """The 4-byte function selector of a canonical signature like `transfer(address,uint256)`."""
    return keccak(signature.encode())[:4]


def calldata(signature: str, *args: Any) -> str:
    """ABI-encoded call data for `signature` with `args`, as hex."""
    types = signature[signature.index("(") + 1 : -1]
    arg_types = [t for t in types.split(",") if t]
    return "0x" + (selector(signature) + encode(arg_types, list(args))).hex()


def create2_address(factory: str, token0: str, token1: str, init_code_hash: str) -> str:
    """Where a V2 factory deploys the pair of two sorted tokens (EIP-1014)."""
    salt = keccak(bytes.fromhex(token0[2:]) + bytes.fromhex(token1[2:]))
    digest = keccak(b"\xff" + bytes.fromhex(factory[2:]) + salt + bytes.fromhex(init_code_hash[2:]))
    return "0x" + digest[12:].hex()


def find_anvil(root: Path = ROOT) -> Path | None:
    """The anvil executable npm installed: the native binary if present, else npm's wrapper script."""
    scope = root / "node_modules" / "@foundry-rs"
    for candidate in sorted(scope.glob("anvil-*/bin/anvil")):
        if os.access(candidate, os.X_OK):
            return candidate
    wrapper = root / "node_modules" / ".bin" / "anvil"
    return wrapper if wrapper.exists() else None


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


def _free_port(host: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        port: int = probe.getsockname()[1]
        return port


def _die_with_parent() -> None:
    """In the child before exec: ask Linux to SIGTERM anvil if we die, so no node is ever orphaned."""
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        pr_set_pdeathsig = 1
        libc.prctl(pr_set_pdeathsig, signal.SIGTERM)


class Devnet:
    """anvil on loopback with the platform's contracts, as an async context manager.

    Mining is `auto` (a block per transaction, for tests), `interval` (a block every `block_time`
    seconds, for the demo) or `manual` (blocks only on `mine()`, so tests choose what goes in each).
    """

    def __init__(
        self,
        *,
        mining: Mining = "auto",
        block_time: float = 1.0,
        host: str = "127.0.0.1",
        port: int | None = None,
        chain_id: int = DEVNET_CHAIN_ID,
        accounts: int = 10,
        anvil: Path | None = None,
        startup_timeout: float = 30.0,
    ) -> None:
        self.mining = mining
        self.block_time = block_time
        self.host = host
        self.port = port
        self.chain_id = chain_id
        self.account_count = accounts
        self.anvil = anvil or find_anvil()
        self.startup_timeout = startup_timeout
        self.accounts: tuple[str, ...] = ()
        self.deployment: Deployment | None = None
        self._process: asyncio.subprocess.Process | None = None
        self._stderr: IO[bytes] | None = None
        self._client: JsonRpcClient | None = None

    @property
    def rpc_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def client(self) -> JsonRpcClient:
        if self._client is None:
            raise DevnetError("devnet is not running")
        return self._client

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

    async def start(self) -> None:
        """Start anvil and wait until it answers JSON-RPC; on a free port taken meanwhile, tries another."""
        if self.anvil is None:
            raise ConfigError("anvil not found under node_modules; run `make install` (npm @foundry-rs/anvil)")
        fixed_port = self.port
        attempts = 1 if fixed_port is not None else 3
        for attempt in range(attempts):
            port = fixed_port if fixed_port is not None else _free_port(self.host)
            try:
                await self._launch(port)
                break
            except DevnetError:
                await self._stop_process()
                if attempt == attempts - 1:
                    raise
        self._client = JsonRpcClient([self.rpc_url], max_attempts=1, timeout=30.0)
        answered = int(await self.call("eth_chainId"), 16)
        if answered != self.chain_id:
            raise DevnetError(f"anvil answered chain id {answered}, expected {self.chain_id}")
        accounts = await self.call("eth_accounts")
        self.accounts = tuple(a.lower() for a in accounts)

    async def _launch(self, port: int) -> None:
        args = [
            "--host", self.host, "--port", str(port), "--chain-id", str(self.chain_id),
            "--accounts", str(self.account_count), "--balance", "100000000", "--order", "fifo", "--quiet",
        ]  # fmt: skip
        if self.mining == "interval":
            args += ["--block-time", f"{self.block_time:g}"]
        elif self.mining == "manual":
            args.append("--no-mining")
        # A file, not a pipe: nobody reads anvil's stderr while it runs, and a full pipe would stall it.
        self._stderr = tempfile.TemporaryFile()  # noqa: SIM115 (lives as long as anvil; closed in _stop_process)
        self._process = await asyncio.create_subprocess_exec(
            str(self.anvil),
            *args,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=self._stderr,
            start_new_session=True,
            preexec_fn=_die_with_parent,
        )
        self.port = port
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            if self._process.returncode is not None:
                self._stderr.seek(0)
                stderr = self._stderr.read()[-500:].decode(errors="replace")
                raise DevnetError(f"anvil exited with {self._process.returncode}: {stderr}")
            try:
                _, writer = await asyncio.open_connection(self.host, port)
            except OSError:
                await asyncio.sleep(0.05)
                continue
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()
            return
        raise DevnetError(f"anvil did not listen on {self.host}:{port} within {self.startup_timeout:g}s")

    async def close(self) -> None:
        """Stop anvil (its whole process group) and the client; safe to call twice."""
        if self._client is not None:
            await self._client.close()
            self._client = None
        await self._stop_process()

    async def _stop_process(self) -> None:
        process, self._process = self._process, None
        stderr, self._stderr = self._stderr, None
        if stderr is not None:
            stderr.close()
        if process is None or process.returncode is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            await asyncio.wait_for(process.wait(), timeout=5.0)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            await process.wait()

    # JSON-RPC helpers -----------------------------------------------------------------------

    async def call(self, method: str, params: Sequence[Any] = ()) -> Any:
        return await self.client.call(method, params)

    async def eth_call(self, to: str, data: str, block: str = "latest") -> bytes:
        result = await self.call("eth_call", [{"to": to, "data": data}, block])
        return bytes.fromhex(result[2:])

    async def read(self, to: str, signature: str, returns: Sequence[str], *args: Any) -> tuple[Any, ...]:
        """A view call decoded with `returns`, e.g. `read(pair, "getReserves()", ["uint112", ...])`."""
        return tuple(decode(list(returns), await self.eth_call(to, calldata(signature, *args))))

    async def block_number(self) -> int:
        return int(await self.call("eth_blockNumber"), 16)

    async def mine(self, blocks: int = 1) -> None:
        for _ in range(blocks):
            await self.call("evm_mine")

    async def snapshot(self) -> str:
        """Remember the chain as it is now; `revert` returns to it (and forgets later blocks)."""
        snapshot_id: str = await self.call("evm_snapshot")
        return snapshot_id

    async def revert(self, snapshot_id: str) -> None:
        if not await self.call("evm_revert", [snapshot_id]):
            raise DevnetError(f"evm_revert to snapshot {snapshot_id} refused")

    async def send(self, sender: str, to: str | None, data: str, *, gas: int, value: int = 0) -> str:
        """Submit a transaction from an unlocked account; returns its hash without waiting.

        Gas is always given: estimating against `latest` would fail for a transaction that depends on
        another one still pending in the same block.
        """
        tx: dict[str, str] = {"from": sender, "data": data, "gas": hex(gas)}
        if to is not None:
            tx["to"] = to
        if value:
            tx["value"] = hex(value)
        tx_hash: str = await self.call("eth_sendTransaction", [tx])
        return tx_hash

    async def receipts(
        self, tx_hashes: Sequence[str], *, mine_now: bool | None = None, timeout: float = 60.0
    ) -> list[dict[str, Any]]:
        """Receipts of submitted transactions. `mine_now` mines a block first instead of waiting for the
        next one (default: only when mining is manual, where no block would ever come)."""
        if not tx_hashes:
            return []
        if self.mining == "manual" if mine_now is None else mine_now:
            await self.mine()
        deadline = time.monotonic() + timeout
        while True:
            found = await self.client.batch([("eth_getTransactionReceipt", [h]) for h in tx_hashes])
            if all(found):
                return list(found)
            if time.monotonic() > deadline:
                raise DevnetError(f"{sum(1 for r in found if not r)} transactions not mined within {timeout:g}s")
            await asyncio.sleep(0.02 if self.mining != "interval" else min(0.2, self.block_time / 5))

    async def transact(
        self, calls: Sequence[tuple[str, str | None, str, int, int]], *, mine_now: bool | None = None
    ) -> list[dict[str, Any]]:
        """Send (sender, to, data, gas, value) transactions in order, wait for all, fail on any revert."""
        hashes = [await self.send(sender, to, data, gas=gas, value=value) for sender, to, data, gas, value in calls]
        receipts = await self.receipts(hashes, mine_now=mine_now)
        for receipt in receipts:
            if int(receipt["status"], 16) != 1:
                raise DevnetError(f"devnet transaction {receipt['transactionHash']} reverted")
        return receipts

    # Deployment -----------------------------------------------------------------------------

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
            pools.append(DevnetPool(create2_address(factory, first.address, second.address, init_code_hash),
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
    "DEVNET_CHAIN",
    "DEVNET_CHAIN_ID",
    "DEVNET_WETH",
    "Deployment",
    "Devnet",
    "DevnetError",
    "DevnetFeed",
    "DevnetPool",
    "DevnetToken",
    "calldata",
    "create2_address",
    "find_anvil",
    "pair_init_code_hash",
    "selector",
    "token_units",
]
