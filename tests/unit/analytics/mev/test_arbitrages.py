"""Arbitrages on real blocks, against what an independent inspector's tests state for them."""

from __future__ import annotations

from collections.abc import Callable

from onchain.analytics.mev import BlockMev

WETH = "0xc02aaa39b223fe8d0a0e5c4f27ead9083c756cc2"
USDC = "0xa0b86991c6218b36c1d19d4a2e9eb0ce3606eb48"


def test_block_12914944_has_two_weth_cycles(inspected: Callable[[int], BlockMev]) -> None:
    # Both transactions route WETH -> 0x25f8... -> USDC -> WETH through three pools; profit is the
    # WETH that came back minus the WETH that went in. Reference values: 750005273675102326 and
    # 53560707941943273628 wei, three swaps each, the middle one trading 0x25f8... for USDC.
    arbs = {a.transaction_hash: a for a in inspected(12914944).arbitrages}
    assert set(arbs) == {
        "0x448245bf1a507b73516c4eeee01611927dada6610bf26d403012f2e66800d8f0",
        "0xfcf4558f6432689ea57737fe63124a5ec39fd6ba6aaf198df13a825dd599bffc",
    }
    small = arbs["0x448245bf1a507b73516c4eeee01611927dada6610bf26d403012f2e66800d8f0"]
    large = arbs["0xfcf4558f6432689ea57737fe63124a5ec39fd6ba6aaf198df13a825dd599bffc"]
    for arb, profit in ((small, 750005273675102326), (large, 53560707941943273628)):
        assert arb.profit_token == WETH
        assert arb.profit_amount == profit
        assert len(arb.swaps) == 3
        assert (arb.swaps[1].token_in, arb.swaps[1].token_out) == ("0x25f8087ead173b73d6e8b84329989a8eea16cf73", USDC)
        assert arb.swaps[0].token_in == arb.swaps[-1].token_out == WETH


def test_flash_swap_arbitrage_through_a_zero_ex_order(inspected: Callable[[int], BlockMev]) -> None:
    # 0xa043...: a V3 flash swap pays 34.943... WETH for 143949.68 USDC, the USDC fills a 0x order
    # for exactly 35 WETH, and the V3 pool is repaid: profit 35e18 - 34943079485284963661 wei.
    arbs = [
        a
        for a in inspected(13666312).arbitrages
        if a.transaction_hash == "0xa043976d736ec8dc930c0556dffd0a86a4bfc80bf98fb7995c791fb4dc488b5d"
    ]
    assert len(arbs) == 1
    assert arbs[0].profit_token == WETH
    assert arbs[0].profit_amount == 35000000000000000000 - 34943079485284963661
    assert [s.protocol for s in arbs[0].swaps] == ["uniswap_v3", "0x"]


def test_losing_round_trips_are_not_arbitrages(inspected: Callable[[int], BlockMev]) -> None:
    # 0x38bd... in 13666326 buys a token through the V2 router and sells it back for less;
    # a cycle without profit is a trade, not an arbitrage.
    assert all(a.profit_amount > 0 for a in inspected(13666326).arbitrages)
    assert "0x38bde596e72c86175c6ff1deae075188dd866d90aeaa524db05b1b81d0a93cf5" not in {
        a.transaction_hash for a in inspected(13666326).arbitrages
    }
