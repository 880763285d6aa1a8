"""Liquidations on real blocks (Aave V1/V2, Compound V2, CREAM).

Each expected value is what an independent inspector's tests state for the same recorded block:
debt repaid (in the debt token's base units) and collateral received.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from onchain.analytics.mev import ETH_ADDRESS, BlockMev

USDT = "0xdac17f958d2ee523a2206206994597c13d831ec7"
WETH = "0xc02aaa39b223fe8d0a0e5c4f27ead9083c756cc2"
DAI = "0x6b175474e89094c44da98b954eedeac495271d0f"
LINK = "0x514910771af9ca656af840dff83e8264ecf986ca"
USDC = "0xa0b86991c6218b36c1d19d4a2e9eb0ce3606eb48"

# block, tx, protocol, liquidator, debt token, debt amount, collateral token, collateral amount
EXPECTED = [
    (10921991, "0xe6c0e3ef0436cb032e1ef292141f4fc4dcd47a75a2559602133114952190e76b", "aave_v1",
     "0xf2d9e54f0e317b8ac94825b2543908e7552fe9c7", USDT, 1069206535,
     "0x80fb784b7ed66730e8b1dbd9820afd29931aab03", 2657946947610159065393),
    (13244807, "0xb7575eedc9d8cfe82c4a11cd1a851221f2eafb93d738301995ac7103ffe877f7", "aave_v2",
     "0x19256c009781bc2d1545db745af6dfd30c7e9cfa", USDT, 26503300291, WETH, 8182733924513576561),
    (13179291, "0x7369b6c1e1b15a761cad3e618b4df2eb84747c58fa34230e752cc2eaf241c493", "aave_v2",
     "0x19256c009781bc2d1545db745af6dfd30c7e9cfa", DAI, 128362984518555820706221, WETH, 37818925894787751803),
    # receiveAToken: the collateral arrives as aLINK via transferOnLiquidation.
    (13376024, "0xde551a73e813f1a1e5c843ac2c6a0e40d71618f4040bb7d0cd7cf7b2b6cf4633", "aave_v2",
     "0x887668f2dc9612280243f2a6ef834cecf456654e", WETH, 767615458043667978,
     "0xa06bc25b5805d5f8d82847d191cb4af5a3e873e0", 113993647930952952550),
    # The first asks to cover 457.7 BUSD; the close factor lets it repay 228.9...: the transfer counts.
    (12498502, "0xedd062c3a728db4b114f2e83cac281d19a9f753e36afa8a35cdbdf1e1dd5d017", "aave_v1",
     "0x7185e240d8e9e2d692cbc68d30eecf965e9a7feb", "0x4fabb145d64652a948d72533023f6e7a623c7c53",
     228905512631913119672, LINK, 10111753901939162887),
    (12498502, "0x18492f250cf4735bd67a21c6cc26b7d9c59cf2fb077356dc924f36bc68a810e5", "aave_v1",
     "0x7185e240d8e9e2d692cbc68d30eecf965e9a7feb", "0x0000000000085d4780b73119b644ae5ecd22b376",
     497030000000000000000, LINK, 21996356316098208090),
    (12498502, "0x191b05b28ebaf460e38e90ac6a801681b500f169041ae83a45b32803ef2ec98c", "aave_v1",
     "0x7185e240d8e9e2d692cbc68d30eecf965e9a7feb", "0x57ab1ec28d129707052df4df418d58a2d46d5f51",
     447810000000000000000, "0x9f8f72aa9304c8b593d555f12ef6589cc3a579a2", 121531358145247546),
    # Compound-style markets: collateral counted in the collateral cToken's units (seizeTokens).
    (13234998, "0x78f7e67391c2bacde45e5057241f8b9e21a59330bce4332eecfff8fac279d090", "compound_v2",
     "0xe0090ec6895c087a393f0e45f1f85098a6c33bef", ETH_ADDRESS, 268066492249420078,
     "0x39aa39c021dfbae8fac545936693ac917d5e7563", 4747650169097),
    (13207907, "0x42a575e3f41d24f3bb00ae96f220a8bd1e24e6a6282c2e0059bb7820c61e91b1", "compound_v2",
     "0xe0090ec6895c087a393f0e45f1f85098a6c33bef", ETH_ADDRESS, 414547860568297082,
     "0x35a18000230da775cac24873d00ff85bccded550", 321973320649),
    (13298725, "0x22a98b27a1d2c4f3cba9d65257d18ee961d6c98f21c7eade37da0543847eb654", "compound_v2",
     "0xe0090ec6895c087a393f0e45f1f85098a6c33bef", ETH_ADDRESS, 1106497772527562662,
     "0x35a18000230da775cac24873d00ff85bccded550", 910895850496),
    (13326607, "0x012215bedd00147c58e1f59807664914b2abbfc13c260190dc9cfc490be3e343", "compound_v2",
     "0xe0090ec6895c087a393f0e45f1f85098a6c33bef", USDC, 1207055531,
     "0x70e36f6bf80a52b3b46b3af8e106cc0ed743e8e4", 21459623305),
    (12674514, "0x0809bdbbddcf566e5392682a9bd9d0006a92a4dc441163c791b1136f982994b1", "cream",
     "0xa2863cad9c318669660eb4eca8b3154b90fb4357", LINK, 14857434973806369550,
     "0x44fbebd2f576670a6c33f6fc0b00aa8c5753b322", 1547215810826),
    (13404932, "0xf5f3df6ec9b51e8e88d0d9078b04373742294530b6bcb9be045525fcab71b915", "cream",
     "0x949ed86c385d191e96af136e2024d96e467d7651", ETH_ADDRESS, 1002704779407853614,
     "0x2db6c82ce72c8d7d770ba1b5f5ed0b6e075066d6", 417926832636968),
]  # fmt: skip


@pytest.mark.parametrize("case", EXPECTED, ids=lambda c: f"{c[0]}-{c[1][:10]}")
def test_liquidation_matches_reference(inspected: Callable[[int], BlockMev], case: tuple[object, ...]) -> None:
    # How each row follows from the block's traces: the liquidation call (liquidationCall on Aave,
    # liquidateBorrow on Compound/CREAM) names the liquidator (its caller) and the market; the debt
    # amount is what the liquidator paid into the market inside that call (an ERC-20 transfer, or call
    # value for ether), the collateral what reached the liquidator (a transfer, or for Compound-style
    # markets the seized cToken amount); the comments in EXPECTED note the exceptions.
    block_number, tx, protocol, liquidator, debt_token, debt_amount, collateral_token, collateral_amount = case
    assert isinstance(block_number, int)
    found = [
        (q.protocol, q.liquidator, q.debt_token, q.debt_amount, q.collateral_token, q.collateral_amount)
        for q in inspected(block_number).liquidations
        if q.transaction_hash == tx
    ]
    assert found == [(protocol, liquidator, debt_token, debt_amount, collateral_token, collateral_amount)]


def test_two_liquidations_in_one_transaction_paid_in_ether(inspected: Callable[[int], BlockMev]) -> None:
    # 0xf687... liquidates the same borrower twice on Aave V1 (trace [2,3,2] and [2,4,2]); the
    # collateral is ether, sent as call value to the liquidator.
    found = [
        (q.trace_address, q.debt_token, q.debt_amount, q.collateral_token, q.collateral_amount)
        for q in inspected(13302365).liquidations
    ]
    assert found == [
        ((2, 3, 2), LINK, 1809152000000000000, ETH_ADDRESS, 15636807387264000),
        ((2, 4, 2), LINK, 1040737791751147957, ETH_ADDRESS, 8995273139160873),
    ]


def test_liquidation_counts_per_block(inspected: Callable[[int], BlockMev]) -> None:
    # 13179291 holds two Aave V2 liquidations (the reference names the second); 12498502 three.
    assert len(inspected(13179291).liquidations) == 2
    assert len(inspected(12498502).liquidations) == 3
    assert inspected(12775690).liquidations == ()
