"""JIT liquidity from hand-built Uniswap V3 logs, decoded by the real decoder.

The logs sit in the mainnet USDC/WETH 0.05% pool (token0 USDC, 6 decimals; token1 WETH, 18), which
the shipped pool directory knows, so the decoder attributes them as it would on mainnet.
"""

from __future__ import annotations

from onchain.analytics.mev.jit import get_jit
from onchain.analytics.mev.logs import swaps_from_events
from onchain.domain.chain import Log
from onchain.domain.events import Event
from onchain.protocols.erc20 import TRANSFER
from onchain.protocols.registry import Decoder
from onchain.protocols.uniswap_v3 import SPECS

POOL = "0x88e6a0c2ddd26feeb64f039a2c41296fcb3f5640"
USDC = "0xa0b86991c6218b36c1d19d4a2e9eb0ce3606eb48"
WETH = "0xc02aaa39b223fe8d0a0e5c4f27ead9083c756cc2"
BOT = "0x00000000000000000000000000000000000b0700"
VICTIM = "0x000000000000000000000000000000000000a1c7"
ROUTER = "0x000000000000000000000000000000000000e0e0"
TOPIC = {spec.name: spec.topic0 for spec in SPECS}
LIQUIDITY = 10**18
TICKS = (200_000, 200_010)


def word(value: int) -> str:
    return (value % 2**256).to_bytes(32).hex()


def address_word(address: str) -> str:
    return "0x" + address[2:].rjust(64, "0")


def tx(index: int) -> str:
    return "0x" + f"{index + 1:x}".rjust(64, "0")


class Block:
    """Logs of one block, numbered in order as a node numbers them."""

    def __init__(self) -> None:
        self.logs: list[Log] = []

    def add(self, index: int, address: str, topics: list[str], words: list[int | str]) -> None:
        data = "".join(w[2:].rjust(64, "0") if isinstance(w, str) else word(w) for w in words)
        self.logs.append(Log(100, "0x" + "b" * 64, tx(index), index, len(self.logs), address, tuple(topics),
                             "0x" + data))

    def mint(self, index: int, owner: str, amount: int, amount0: int, amount1: int) -> None:
        self.add(index, POOL, [TOPIC["Mint"], address_word(owner), word(TICKS[0]), word(TICKS[1])],
                 [owner, amount, amount0, amount1])

    def burn(self, index: int, owner: str, amount: int, amount0: int, amount1: int) -> None:
        self.add(index, POOL, [TOPIC["Burn"], address_word(owner), word(TICKS[0]), word(TICKS[1])],
                 [amount, amount0, amount1])

    def swap_usdc_for_weth(self, index: int, trader: str, usdc_in: int, weth_out: int) -> None:
        """The trader's USDC reaches the pool, the pool's WETH reaches the trader, then the Swap event."""
        self.add(index, USDC, [TRANSFER, address_word(trader), address_word(POOL)], [usdc_in])
        self.add(index, WETH, [TRANSFER, address_word(POOL), address_word(trader)], [weth_out])
        self.add(index, POOL, [TOPIC["Swap"], address_word(ROUTER), address_word(trader)],
                 [usdc_in, -weth_out, 2**96, LIQUIDITY, 200_005])

    def events(self) -> list[Event]:
        return Decoder("ethereum").decode(self.logs).events


def test_mint_swap_burn_around_a_victim_is_jit() -> None:
    block = Block()
    # tx 0: the bot adds 1000 USDC and 0.5 WETH of liquidity in ticks [200000, 200010].
    block.mint(0, BOT, LIQUIDITY, 1_000_000_000, 5 * 10**17)
    # tx 1: a victim sells 2000 USDC for 1 WETH in the same pool, through the bot's range.
    block.swap_usdc_for_weth(1, VICTIM, 2_000_000_000, 10**18)
    # tx 2: the bot removes the whole position: its 0.5 WETH went to the victim, it holds 1999 USDC.
    block.burn(2, BOT, LIQUIDITY, 1_999_000_000, 0)
    events = block.events()
    assert [e.kind for e in events if e.address == POOL] == ["uniswap_v3.Mint", "uniswap_v3.Swap", "uniswap_v3.Burn"]

    [jit] = get_jit(events, swaps_from_events(events))

    assert (jit.searcher, jit.pool, jit.mint_transaction, jit.burn_transaction) == (BOT, POOL, tx(0), tx(2))
    assert jit.victim_transactions == (tx(1),)
    assert (jit.tick_lower, jit.tick_upper, jit.liquidity) == (200_000, 200_010, LIQUIDITY)
    # The victim's Swap has amount0 > 0 (USDC paid in), and its transfers name USDC in, WETH out:
    # so token0 is USDC and token1 WETH.
    assert (jit.token0, jit.token1) == (USDC, WETH)
    # Burn minus Mint per token: 1999 - 1000 = +999 USDC, 0 - 0.5 = -0.5 WETH.
    assert jit.net_amounts == (999_000_000, -5 * 10**17)
    assert jit.to_json()["net_amounts"] == [999_000_000, -5 * 10**17]


def test_ordinary_liquidity_changes_are_not_jit() -> None:
    block = Block()
    # Mint and Burn in one transaction around no one's swap (tx 0): a rebalance, not JIT.
    block.mint(0, BOT, LIQUIDITY, 1_000_000_000, 5 * 10**17)
    block.burn(0, BOT, LIQUIDITY, 1_000_000_000, 5 * 10**17)
    # A later position (tx 1) of which only half is removed after a victim's swap (tx 2, tx 3):
    # a partial removal is ordinary liquidity management.
    block.mint(1, BOT, LIQUIDITY, 1_000_000_000, 5 * 10**17)
    block.swap_usdc_for_weth(2, VICTIM, 2_000_000_000, 10**18)
    block.burn(3, BOT, LIQUIDITY // 2, 999_500_000, 0)
    # Another owner's full Mint (tx 4) and Burn (tx 5) with no swap between them.
    block.mint(4, ROUTER, LIQUIDITY, 1_000_000_000, 5 * 10**17)
    block.burn(5, ROUTER, LIQUIDITY, 1_000_000_000, 5 * 10**17)

    events = block.events()
    assert sum(e.kind == "uniswap_v3.Burn" for e in events) == 3
    assert get_jit(events) == []
