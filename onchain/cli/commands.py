"""Imports every command module so each registers itself on the `onchain` app."""

from onchain.cli import chains  # noqa: F401
from onchain.cli import mev  # noqa: F401
