import subprocess
import sys


def _onchain(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", "from onchain.cli import main; main()", *args],
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_help_lists_commands() -> None:
    result = _onchain("--help")
    assert result.returncode == 0
    assert "chains" in result.stdout


def test_unknown_command_fails_with_usage_error() -> None:
    result = _onchain("no-such-command")
    assert result.returncode == 2
    assert "No such command" in result.stderr
