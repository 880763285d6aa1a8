"""A local chain to run the platform against (not a Source): the anvil process, its accounts' RPC, the
contracts deployed on it, market-like traffic, and the smart-money scenario with planted ground truth."""
