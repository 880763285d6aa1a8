"""SQLite write transactions run in a child process, so a long load's inserts use a second core.

Python's sqlite3 module binds every value while holding the GIL and releases it only inside each
row's step: inserting from a thread while the event loop decodes the next blocks makes the two
threads wait on each other for every row. A child process has its own interpreter. The parent sends
whole transactions (statements with their rows, msgpack in length-prefixed frames on the child's
stdin) and reads back either the rows of a closing query or the database's error; the child commits
each transaction or rolls it back before it answers, so a parent killed at any point leaves only
whole transactions behind.

    python onchain/storage/sqlite_loader.py PATH     # run by `SqliteLoader`, not by people

The child runs this file as a script, which imports no more than sqlite3 and msgspec (not the storage
package and SQLAlchemy behind it), so it is ready in a few tens of milliseconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import os
import sqlite3
import subprocess
import sys
from collections.abc import Sequence
from typing import Any, BinaryIO

import msgspec

from onchain.errors import StorageError

_HEADER = 4
_PIPE_BYTES = 1 << 20  # Linux's default ceiling for an unprivileged pipe (/proc/sys/fs/pipe-max-size)
# Every SQLite connection's settings, the store's own (`onchain.storage.store`) and this child's; files
# also run in WAL mode. NORMAL is durable across application crashes in WAL mode; only an OS crash can
# lose the last commit.
CONNECTION_PRAGMAS = (
    "PRAGMA synchronous=NORMAL",
    "PRAGMA busy_timeout=10000",
    "PRAGMA foreign_keys=ON",
)

Statement = tuple[str, Sequence[Sequence[Any]]]


def _frame(payload: bytes) -> bytes:
    return len(payload).to_bytes(_HEADER, "big") + payload


def serve(path: str, requests: BinaryIO, replies: BinaryIO) -> None:
    """Run one transaction per request frame until the parent closes our stdin."""
    gc.disable()  # rows are lists of scalars: no cycles to collect, and collections would stall every batch
    connection = sqlite3.connect(path, isolation_level=None)
    for pragma in ("PRAGMA journal_mode=WAL", *CONNECTION_PRAGMAS):
        connection.execute(pragma)
    try:
        _serve(connection, requests, replies)
    finally:
        connection.close()


def _serve(connection: sqlite3.Connection, requests: BinaryIO, replies: BinaryIO) -> None:
    decode = msgspec.msgpack.Decoder().decode
    encode = msgspec.msgpack.Encoder().encode
    while True:
        header = requests.read(_HEADER)
        if len(header) < _HEADER:
            return
        size = int.from_bytes(header, "big")
        payload = requests.read(size)
        if len(payload) < size:  # the parent died while writing: nothing of this request is applied
            return
        statements, query = decode(payload)
        try:
            connection.execute("BEGIN IMMEDIATE")
            for sql, rows in statements:
                connection.executemany(sql, rows)
            result = connection.execute(query[0], query[1]).fetchall()
            connection.execute("COMMIT")
            reply: list[Any] = ["ok", result]
        except sqlite3.Error as exc:
            if connection.in_transaction:
                connection.execute("ROLLBACK")
            reply = ["error", f"{type(exc).__name__}: {exc}"]
        replies.write(_frame(encode(reply)))
        replies.flush()


class SqliteLoader:
    """The parent's side: one child process per load, one transaction in flight at a time.

    A request (megabytes for a batch of events) is written with one blocking call into a widened pipe
    while the idle child reads it: a few milliseconds. Written through the event loop instead, it would
    move 64 KiB per loop turn, and the child would wait on the decoding between turns. The answer
    (a few bytes, after the commit) is awaited on the loop.
    """

    def __init__(
        self, process: subprocess.Popen[bytes], replies: asyncio.StreamReader, restore_cpus: set[int] | None = None
    ) -> None:
        self._process = process
        self._replies = replies
        self._restore_cpus = restore_cpus
        self._encode = msgspec.msgpack.Encoder().encode
        self._decode = msgspec.msgpack.Decoder().decode
        self._lock = asyncio.Lock()

    @classmethod
    async def start(cls, path: str) -> SqliteLoader:
        command = [sys.executable, "-P", __file__, path]
        process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        assert process.stdin is not None and process.stdout is not None
        with contextlib.suppress(ImportError, AttributeError, OSError):  # a wider pipe where Linux allows it
            import fcntl

            fcntl.fcntl(process.stdin.fileno(), fcntl.F_SETPIPE_SZ, _PIPE_BYTES)
        loop = asyncio.get_running_loop()
        replies = asyncio.StreamReader()
        await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(replies), process.stdout)
        return cls(process, replies, _separate_cpus(process.pid))

    def request(self, statements: Sequence[Statement], query: str, parameters: Sequence[Any]) -> bytes:
        """One transaction, encoded: `statements` (each an SQL text and its parameter rows), then `query`
        inside it, whose rows `run` returns. Made ahead of `run`, while an earlier request is committing."""
        return _frame(self._encode([statements, (query, parameters)]))

    async def run(self, what: str, request: bytes) -> list[list[Any]]:
        """Send a `request` and wait for its commit; raises StorageError, the transaction rolled back, on failure."""
        requests = self._process.stdin
        assert requests is not None
        async with self._lock:
            try:
                requests.write(request)
                requests.flush()
                header = await self._replies.readexactly(_HEADER)
                status, result = self._decode(await self._replies.readexactly(int.from_bytes(header, "big")))
            except (OSError, ValueError, asyncio.IncompleteReadError) as exc:
                raise StorageError(f"{what} failed: the SQLite loader process stopped ({exc!r})") from exc
        if status != "ok":
            raise StorageError(f"{what} failed: {result}")
        return list(result)

    async def close(self) -> None:
        """Let the child finish and exit (it does once its stdin closes)."""
        process = self._process
        if process.stdin is not None:
            with contextlib.suppress(OSError):
                process.stdin.close()
        try:
            await asyncio.wait_for(asyncio.to_thread(process.wait), 30)
        except TimeoutError:
            process.kill()
            await asyncio.to_thread(process.wait)
        if process.stdout is not None:
            process.stdout.close()
        if self._restore_cpus is not None:
            with contextlib.suppress(OSError):
                os.sched_setaffinity(0, self._restore_cpus)


def _separate_cpus(child: int) -> set[int] | None:
    """Give the child one CPU and the calling thread (the event loop decoding the batches) the others.

    The two hand each other work through pipes, and the scheduler tends to wake each on the CPU of the
    other: measured here, about one run in three then shared one core, at 60% of the speed. Returns the
    thread's CPUs to restore when the load ends; None where there is no second CPU (or no affinity API).
    """
    try:
        cpus = os.sched_getaffinity(0)
        if len(cpus) < 2:
            return None
        mine = set(cpus)
        writer = max(mine)
        os.sched_setaffinity(child, {writer})
        os.sched_setaffinity(0, mine - {writer})
    except (AttributeError, OSError):
        return None
    return cpus


if __name__ == "__main__":
    serve(sys.argv[1], sys.stdin.buffer, sys.stdout.buffer)
