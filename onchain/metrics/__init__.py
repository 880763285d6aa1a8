"""Pure market metrics (pool state, TVL, volumes, fees, chain-time windows, jump guards) and the market service."""
