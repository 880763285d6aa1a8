"""Swaps read from real mainnet traces.

Expected counts and fills are those an independent inspector's test suite states for the same
recorded blocks (flashbots/mev-inspect-py tests), recomputed here from our own decoding.
"""

from __future__ import annotations

from collections.abc import Callable

from onchain.analytics.mev import BlockMev, Call, Swap, swaps_from_calls
from onchain.analytics.mev.transfers import transfers_of

WETH = "0xc02aaa39b223fe8d0a0e5c4f27ead9083c756cc2"
USDC = "0xa0b86991c6218b36c1d19d4a2e9eb0ce3606eb48"
ZERO_EX = "0xdef1c0ded9bec7f1a1670819833240f027b25eff"


def _swap_at(block: BlockMev, tx: str, trace_address: tuple[int, ...]) -> Swap:
    return next(s for s in block.swaps if s.transaction_hash == tx and s.trace_address == trace_address)


def test_swap_counts_include_attempts_that_reverted(inspected: Callable[[int], BlockMev]) -> None:
    # 12914944 holds 51 calls to pool swap functions with readable flows; 9 of them sit in reverted
    # subtrees (failed bot attempts), so 42 actually traded. 12775690 has 21, none reverted.
    block = inspected(12914944)
    assert len(block.swaps) == 51
    assert sum(s.reverted for s in block.swaps) == 9
    assert len(inspected(12775690).swaps) == 21


def test_uniswap_v2_swap_amounts_come_from_the_transfers_around_it(inspected: Callable[[int], BlockMev]) -> None:
    # The sandwich front-run in 12775690 (tx position 2, trace [0, 2]): the bot sent 12.108... WETH
    # to the pair before calling swap(), and the pair sent 1114.97... of token 0x9813... back.
    swap = _swap_at(inspected(12775690), "0x91a3abe5f3b806426542252820ba0ab6d56c098fdef6864ecaf4d352f64217a0", (0, 2))
    assert swap.protocol == "uniswap_v2"
    assert swap.pool == "0xefb47fcfcad4f96c83d4ca676842fb03ef20a477"
    assert (swap.from_address, swap.to_address) == ("0x000000000027d2efc283613d0c3e24a8b430c4d8",) * 2
    assert (swap.token_in, swap.amount_in) == (WETH, 12108789017249529876)
    assert (swap.token_out, swap.amount_out) == ("0x9813037ee2218799597d83d4a5b6f3b6778218d9", 1114969767487478978357)


def test_zero_ex_fills_are_read_from_the_taker_side(inspected: Callable[[int], BlockMev]) -> None:
    # Each fill returns (takerTokenFilledAmount, makerTokenFilledAmount). The reference inspector
    # lists the same four fills with the same token/amount pairs, labelled from the maker's side
    # (its token_in is the maker token); we label them from the taker, who pays the taker token.
    cases = [
        (13666312, "0xa043976d736ec8dc930c0556dffd0a86a4bfc80bf98fb7995c791fb4dc488b5d", (0, 2, 0, 1),
         (USDC, 143949683150), (WETH, 35000000000000000000)),
        (13666184, "0x9255addffa2dbeb9560c5e20e78a78c949488d2054c70b2155c39f9e28394cbf", (0, 1),
         ("0x9ff79c75ae2bcbe0ec63c0375a3ec90ff75bbe0f", 100000001), (USDC, 30000000)),
        (13666326, "0x1c948eb7c59ddbe6b916cf68f5df86eb44a7c9e728221fcd8ab750f137fd2a0f", (0, 1, 13, 0, 1),
         (WETH, 70500000000000000000), (USDC, 288948250430)),
        (13666363, "0x4f66832e654f8a4d773d9769571155df3722401343247376d6bb56626db29b90", (1, 0, 1, 0, 1),
         ("0x95ad61b0a150d79219dcf64e1e6cc01f0b64c4ce", 92404351093861841165644172), (WETH, 979486121594935552)),
    ]  # fmt: skip
    for block_number, tx, trace_address, paid, received in cases:
        swap = _swap_at(inspected(block_number), tx, trace_address)
        assert swap.protocol == "0x" and swap.pool == ZERO_EX
        assert (swap.token_in, swap.amount_in) == paid
        assert (swap.token_out, swap.amount_out) == received


def _call(trace_address: tuple[int, ...], sender: str, to: str, data: str, value: int = 0) -> Call:
    return Call("0xt", 0, trace_address, "call", sender, to, value, data, "0x", False)


def _word(value: int | str) -> str:
    return (value[2:] if isinstance(value, str) else f"{value:x}").rjust(64, "0")


def test_v3_swap_paid_inside_its_callback() -> None:
    # A V3 pool sends the output first and is paid during the callback, so the input transfer is
    # a child of the swap call rather than a prior transfer.
    bot, pool, token_a, token_b = "0x" + "b" * 40, "0x" + "9" * 40, "0x" + "a" * 40, "0x" + "c" * 40
    calls = [
        _call((), "0x" + "e" * 40, bot, "0x"),
        _call((0,), bot, pool, "0x128acb08" + _word(bot) + _word(1) + _word(5) + _word(0) + _word(160)),
        _call((0, 0), pool, token_b, "0xa9059cbb" + _word(bot) + _word(70)),
        _call((0, 1), pool, bot, "0xfa461e33"),
        _call((0, 1, 0), bot, token_a, "0xa9059cbb" + _word(pool) + _word(50)),
    ]
    assert len(transfers_of(calls)) == 2
    [swap] = swaps_from_calls(calls)
    assert (swap.token_in, swap.amount_in, swap.token_out, swap.amount_out) == (token_a, 50, token_b, 70)
    assert (swap.from_address, swap.to_address, swap.protocol) == (bot, bot, "uniswap_v3")
