"""Sandwiches on real blocks, against what an independent inspector's tests state for them."""

from __future__ import annotations

from collections.abc import Callable

from onchain.analytics.mev import BlockMev

WETH = "0xc02aaa39b223fe8d0a0e5c4f27ead9083c756cc2"


def test_block_12775690_four_victims(inspected: Callable[[int], BlockMev]) -> None:
    # Bot 0x0000...27d2 buys 0x9813... with 12.1088 WETH (tx position 2), four router users buy the
    # same token on the same pair (positions 3-6), and the bot sells the 1114.97... tokens back for
    # 12.1588 WETH (position 7): profit 12158780499164852150 - 12108789017249529876 wei.
    [sandwich] = inspected(12775690).sandwiches
    assert sandwich.searcher == "0x000000000027d2efc283613d0c3e24a8b430c4d8"
    assert sandwich.frontrun.transaction_hash == "0x91a3abe5f3b806426542252820ba0ab6d56c098fdef6864ecaf4d352f64217a0"
    assert sandwich.backrun.transaction_hash == "0xc300d1ff79d3901b58dc56489fc7d083a6c13d422bfc1425a0579379300c95a2"
    assert sandwich.victim_transactions == (
        "0x9b40deca1f53593b7631ca25485d0c6faf90279b9872845acfd5c98afb185934",
        "0xf8e45a291cdab5e456375e4d7df30771670d504835c9332b32114e5bc4e315f9",
        "0xdf63b22773b66cc41e00fd42c3b3c7f42912f87476ffe6d821e3f5c00284f00b",
        "0x1fe35f66e24f12bdb54a0d35934aac809c783710d998621b70116ea9f95f4f4f",
    )
    assert sandwich.pool == "0xefb47fcfcad4f96c83d4ca676842fb03ef20a477"
    assert sandwich.profit_token == WETH
    assert sandwich.profit_amount == 49991481915322274


def test_searcher_buying_back_what_it_sold_profits_in_the_other_token(inspected: Callable[[int], BlockMev]) -> None:
    # In 11935012 the bot sells 18011.35... of 0xf4d8... for 10.3936 WETH, a victim sells the same
    # token, and the bot buys back exactly 18011.35... for 10.3134 WETH: the token nets to zero, and
    # the profit is 10393570187534669292 - 10313400903182669543 wei of WETH.
    [sandwich] = inspected(11935012).sandwiches
    assert sandwich.searcher == "0x00000000000064c443ef440577c26525a3c34a30"
    assert sandwich.profit_token == WETH
    assert sandwich.profit_amount == 10393570187534669292 - 10313400903182669543


def test_route_hops_into_another_pool_are_not_searchers(inspected: Callable[[int], BlockMev]) -> None:
    # In 12914944 a multi-hop trade pays a pair's output straight into the next pair; that pair
    # address must never be reported as a sandwich searcher.
    block = inspected(12914944)
    pools = {s.pool for s in block.swaps}
    assert block.sandwiches
    assert all(s.searcher not in pools for s in block.sandwiches)
