"""The names of the subscription tiers, apart from their limits in `tiers`.

`onchain keys --help` lists these names; keeping them here lets it do so without importing the alert
rules that the tiers' limits come from.
"""

from __future__ import annotations

TIER_NAMES: tuple[str, ...] = ("free", "basic", "pro", "enterprise")
