"""Pure price engine: oracle answers and pool reserves in, USD prices with provenance out."""

from onchain.pricing.engine import PricingConfig, compute_prices, weighted_median
from onchain.pricing.feeds import ChainAnchors, FeedSpec, default_anchors, mainnet_feeds
from onchain.pricing.types import OracleAnswer, PoolQuote, Price

__all__ = [
    "ChainAnchors",
    "FeedSpec",
    "OracleAnswer",
    "PoolQuote",
    "Price",
    "PricingConfig",
    "compute_prices",
    "default_anchors",
    "mainnet_feeds",
    "weighted_median",
]
