"""Liquidations from logs (endpoints without traces): Aave V3's LiquidationCall event, decoded by the real
decoder. The recorded data holds no Aave V3 liquidation log, so the log is ABI-encoded here, exactly as
the Pool emits it (three indexed assets/user, then debtToCover, liquidatedCollateralAmount, liquidator,
receiveAToken)."""

from __future__ import annotations

from eth_abi import encode

from onchain.analytics.mev import Liquidation, liquidations_from_events
from onchain.domain.chain import Log
from onchain.protocols.aave_v3 import LIQUIDATION_CALL
from onchain.protocols.registry import Decoder

POOL = "0x87870bca3f3fd6335c3f4ce8392d69350b4fa4e2"  # Aave V3 Pool on mainnet
WETH = "0xc02aaa39b223fe8d0a0e5c4f27ead9083c756cc2"
USDT = "0xdac17f958d2ee523a2206206994597c13d831ec7"
BORROWER = "0x1111111111111111111111111111111111111111"
LIQUIDATOR = "0x2222222222222222222222222222222222222222"
TX = "0x" + "ab" * 32


def topic(address: str) -> str:
    return "0x" + "0" * 24 + address[2:]


def liquidation_log(log_index: int, emitter: str = POOL) -> Log:
    data = encode(["uint256", "uint256", "address", "bool"], [2_500_000_000, 10**18 + 7, LIQUIDATOR, False])
    return Log(18_000_000, "0x" + "cd" * 32, TX, 3, log_index, emitter,
               (LIQUIDATION_CALL, topic(WETH), topic(USDT), topic(BORROWER)), "0x" + data.hex())  # fmt: skip


def test_liquidation_call_reports_debt_repaid_and_collateral_taken() -> None:
    events = Decoder("ethereum").decode([liquidation_log(41)]).events
    assert liquidations_from_events(events) == [
        Liquidation(
            transaction_hash=TX,
            trace_address=(41,),
            protocol="aave_v3",
            liquidator=LIQUIDATOR,
            borrower=BORROWER,
            debt_token=USDT,
            debt_amount=2_500_000_000,
            collateral_token=WETH,
            collateral_amount=10**18 + 7,
        )
    ]


def test_look_alike_event_from_another_contract_is_not_a_liquidation() -> None:
    # Aave V2 emits the same signature; only the listed V3 Pool contracts are decoded as aave_v3.
    aave_v2_pool = "0x7d2768de32b0b80b7a3454c06bdac94a69ddc7a9"
    events = Decoder("ethereum").decode([liquidation_log(5, emitter=aave_v2_pool)]).events
    assert liquidations_from_events(events) == []
