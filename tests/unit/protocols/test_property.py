"""For every event spec, the raw-bytes decoder equals eth_abi on random valid logs."""

from __future__ import annotations

from typing import Any

import pytest
from eth_abi import encode
from hypothesis import given, settings
from hypothesis import strategies as st

from onchain.domain.chain import Log
from onchain.protocols.registry import ALL_SPECS

from .helpers import SIGNATURES, Signature, normalize


def value_strategy(abi_type: str) -> st.SearchStrategy[Any]:
    if abi_type.endswith("[]"):
        return st.lists(value_strategy(abi_type[:-2]), max_size=5)
    if abi_type == "address":
        return st.binary(min_size=20, max_size=20).map(lambda b: "0x" + b.hex())
    if abi_type == "bool":
        return st.booleans()
    if abi_type == "bytes":
        return st.binary(max_size=70)
    if abi_type == "bytes32":
        return st.binary(min_size=32, max_size=32)
    bits = int(abi_type.lstrip("uint") or 256)
    if abi_type.startswith("uint"):
        return st.integers(min_value=0, max_value=(1 << bits) - 1)
    return st.integers(min_value=-(1 << (bits - 1)), max_value=(1 << (bits - 1)) - 1)


def log_strategy(sig: Signature, address: str) -> st.SearchStrategy[tuple[Log, dict[str, Any]]]:
    def build(values: list[Any]) -> tuple[Log, dict[str, Any]]:
        named = dict(zip([p.name for p in sig.params], values, strict=True))
        topics = [sig.topic0] + ["0x" + encode([p.type], [named[p.name]]).hex() for p in sig.params if p.indexed]
        data_params = [p for p in sig.params if not p.indexed]
        data = encode([p.type for p in data_params], [named[p.name] for p in data_params])
        log = Log(1, "0x" + "11" * 32, "0x" + "22" * 32, 0, 0, address, tuple(topics), "0x" + data.hex())
        return log, {k: normalize(v) for k, v in named.items()}

    return st.tuples(*(value_strategy(p.type) for p in sig.params)).map(lambda values: build(list(values)))


def emitter(sig: Signature) -> str:
    """An address the spec decodes from on ethereum (WETH and Aave V3 specs accept only their contracts)."""
    spec = next(s for s in ALL_SPECS if s.topic0 == sig.topic0)
    if spec.only_contracts and spec.contracts:
        return sorted(spec.contracts["ethereum"])[0]
    return "0x" + "ab" * 20


def test_every_spec_has_a_signature_here() -> None:
    assert {s.topic0 for s in ALL_SPECS} == {s.topic0 for s in SIGNATURES}
    for spec in ALL_SPECS:
        sig = next(s for s in SIGNATURES if s.topic0 == spec.topic0)
        assert (spec.kind, spec.topic_count) == (sig.kind, sig.topic_count)


@pytest.mark.parametrize("sig", SIGNATURES, ids=lambda s: f"{s.kind}/{s.topic0[:10]}")
def test_decoder_equals_eth_abi(sig: Signature) -> None:
    from onchain.protocols import Decoder, PoolDirectory

    decoder = Decoder("ethereum", PoolDirectory())

    @settings(max_examples=60, deadline=None)
    @given(log_strategy(sig, emitter(sig)))
    def check(case: tuple[Log, dict[str, Any]]) -> None:
        log, expected = case
        assert sig.decode(log) == expected
        result = decoder.decode([log])
        assert result.skipped == {}
        assert [(e.kind, e.args) for e in result.events] == [(sig.kind, expected)]

    check()
