"""MEV detection from call traces: swaps, sandwiches, arbitrages and liquidations. Pure functions."""

from onchain.analytics.mev.arbitrages import Arbitrage, get_arbitrages
from onchain.analytics.mev.calls import ETH_ADDRESS, Call, parse_calls
from onchain.analytics.mev.inspect import BlockMev, inspect_recorded_block, inspect_traces
from onchain.analytics.mev.liquidations import Liquidation, get_liquidations
from onchain.analytics.mev.logs import liquidations_from_events, swaps_from_events
from onchain.analytics.mev.sandwiches import Sandwich, get_sandwiches
from onchain.analytics.mev.swaps import Swap, swaps_from_calls
from onchain.analytics.mev.transfers import Transfer, transfers_of

__all__ = [
    "ETH_ADDRESS",
    "Arbitrage",
    "BlockMev",
    "Call",
    "Liquidation",
    "Sandwich",
    "Swap",
    "Transfer",
    "get_arbitrages",
    "get_liquidations",
    "get_sandwiches",
    "inspect_recorded_block",
    "inspect_traces",
    "liquidations_from_events",
    "parse_calls",
    "swaps_from_calls",
    "swaps_from_events",
    "transfers_of",
]
