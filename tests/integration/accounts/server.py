"""One api process for the multi-process tests, configured by ONCHAIN_* like `onchain serve`.

`python -m tests.integration.accounts.server` binds a free loopback port, prints it on the first line
of stdout, then serves until terminated.
"""

from __future__ import annotations

import asyncio
import signal
import socket
import sys

import uvicorn

from onchain.api import create_app, uvicorn_config
from onchain.config import load_settings
from onchain.runtime import Runtime


async def main() -> None:
    settings = load_settings()
    runtime = await Runtime.open(settings)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn_config(create_app(settings, runtime), "127.0.0.1", sock.getsockname()[1]))
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, lambda: setattr(server, "should_exit", True))
    serving = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started and not serving.done():
        await asyncio.sleep(0.02)
    print(sock.getsockname()[1], flush=True)
    try:
        await serving
    finally:
        await runtime.close()
        sock.close()


if __name__ == "__main__":
    asyncio.run(main())
    sys.exit(0)
