"""The anvil process: npm's `@foundry-rs/anvil` on loopback, started, awaited until it answers, stopped.

The process never outlives us (Linux parent-death signal, its own process group killed on close).
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import os
import signal
import socket
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Any, Literal

from onchain.errors import ConfigError, OnchainError
from onchain.sources.jsonrpc import JsonRpcClient

# The checkout: npm installs anvil under its node_modules, `make install` builds contracts under build/.
ROOT = Path(__file__).resolve().parents[2]
DEVNET_CHAIN_ID = 31337

Mining = Literal["auto", "interval", "manual"]


class DevnetError(OnchainError):
    """The devnet could not start, or a transaction on it failed."""


def find_anvil(root: Path = ROOT) -> Path | None:
    """The anvil executable npm installed: the native binary if present, else npm's wrapper script."""
    scope = root / "node_modules" / "@foundry-rs"
    for candidate in sorted(scope.glob("anvil-*/bin/anvil")):
        if os.access(candidate, os.X_OK):
            return candidate
    wrapper = root / "node_modules" / ".bin" / "anvil"
    return wrapper if wrapper.exists() else None


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


class Anvil:
    """The anvil process on loopback and a JSON-RPC client to it.

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

    async def call(self, method: str, params: Sequence[Any] = ()) -> Any:
        return await self.client.call(method, params)


__all__ = ["DEVNET_CHAIN_ID", "ROOT", "Anvil", "DevnetError", "Mining", "find_anvil"]
