"""Start-up: wall time of `onchain --help` and of `import onchain.api.app`, beside the floor and a peer.

Each figure is a fresh interpreter run as a subprocess, timed from launch to exit: the floor is
`python -c pass` (interpreter start-up alone), the CLI's peer a bare typer app with two commands
printing its `--help`, the API's peer `import fastapi`. One untimed warm-up each fills a byte-code
cache in a temporary directory (PYTHONPYCACHEPREFIX, even where PYTHONDONTWRITEBYTECODE is set), so
each figure is a start as from an installed package, not one that compiles our sources. Then `RUNS`
rounds, each running every command in turn so a busy neighbour slows all alike. Figures are medians
over the rounds, ratios the medians of the per-round ratios. The CPU seconds (user + system) of the
same runs are printed beside: on a shared machine they move less than wall time.
Goals: `onchain --help` < 0.5 s, `import onchain.api.app` < 1.5 s.
Run: `.venv/bin/python -m bench.bench_start`.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import NamedTuple

RUNS = 5

BARE_TYPER_APP = """
import typer

app = typer.Typer(help="A bare typer app.", no_args_is_help=True, add_completion=False)


@app.command()
def serve(port: int = typer.Option(8000, "--port", help="Port to listen on.")) -> None:
    \"\"\"Serve.\"\"\"


@app.command()
def chains(as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    \"\"\"List chains.\"\"\"


app()
"""


def onchain_help() -> list[str]:
    """The installed `onchain` script beside this interpreter, as a user runs it (or its entry point)."""
    script = Path(sys.executable).with_name("onchain")
    if script.is_file():
        return [str(script), "--help"]
    return [sys.executable, "-c", "from onchain.cli import main; main()", "--help"]


COMMANDS: dict[str, list[str]] = {
    "floor": [sys.executable, "-c", "pass"],
    "typer": [sys.executable, "-c", BARE_TYPER_APP, "--help"],
    "help": onchain_help(),
    "fastapi": [sys.executable, "-c", "import fastapi"],
    "api": [sys.executable, "-c", "import onchain.api.app"],
}


class Timing(NamedTuple):
    wall: float
    cpu: float


def timed(command: list[str], env: Mapping[str, str]) -> Timing:
    """Wall and CPU seconds from launching `command` to its exit; a failing command stops the benchmark."""
    start = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    _, status, usage = os.wait4(process.pid, 0)  # reaps it, with its own CPU figures
    elapsed = time.perf_counter() - start
    process.returncode = os.waitstatus_to_exitcode(status)  # so Popen knows it has been reaped
    if process.returncode != 0:
        raise SystemExit(f"{' '.join(command[:3])} failed with exit code {process.returncode}")
    return Timing(elapsed, usage.ru_utime + usage.ru_stime)


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="bench-start-pycache-") as cache:
        env = {key: value for key, value in os.environ.items() if key != "PYTHONDONTWRITEBYTECODE"}
        env["PYTHONPYCACHEPREFIX"] = cache
        for command in COMMANDS.values():
            timed(command, env)
        runs = [{name: timed(command, env) for name, command in COMMANDS.items()} for _ in range(RUNS)]
    median = {name: statistics.median(run[name].wall for run in runs) for name in COMMANDS}
    cpu = {name: statistics.median(run[name].cpu for run in runs) for name in COMMANDS}

    def ratio(name: str, base: str) -> float:
        return statistics.median(run[name].wall / run[base].wall for run in runs)

    def row(label: str, name: str, peer: str | None = None, goal: float | None = None) -> str:
        line = f"{label:<34}: {median[name]:>6.3f} s {cpu[name]:>6.3f} s  {ratio(name, 'floor'):>5.1f}x floor"
        if peer is not None:
            line += f"  {ratio(name, peer):>4.1f}x peer"
        if goal is not None:
            line += f"  (goal < {goal:g} s: {'met' if median[name] < goal else 'NOT met'})"
        return line

    print(f"fresh interpreter, median of {RUNS} runs       wall    CPU   wall ratios")
    print(row("floor: python -c pass", "floor"))
    print(row("peer: bare typer app --help", "typer"))
    print(row("onchain --help", "help", peer="typer", goal=0.5))
    print(row('peer: python -c "import fastapi"', "fastapi"))
    print(row("import onchain.api.app", "api", peer="fastapi", goal=1.5))
    return 0


if __name__ == "__main__":
    sys.exit(main())
