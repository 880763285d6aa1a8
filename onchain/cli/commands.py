"""Imports every command module so each registers itself on the `onchain` app."""

from onchain.cli import (
    analytics,  # noqa: F401
    chains,  # noqa: F401
    demo,  # noqa: F401
    ingest,  # noqa: F401
    keys,  # noqa: F401
    mev,  # noqa: F401
    serve,  # noqa: F401
)
