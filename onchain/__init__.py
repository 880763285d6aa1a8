"""onchain-services: a self-hostable real-time on-chain data platform."""

__version__ = "0.1.0"

__all__ = ["__version__"]
