import pytest

from onchain.domain.ids import coin_id, normalize_address, split_coin_id


def test_coin_id_is_lower_case_chain_colon_address() -> None:
    assert coin_id("Ethereum", "0xA0b86991c6218b36c1d19D4a2e9Eb0cE3606eB48") == (
        "ethereum:0xa0b86991c6218b36c1d19d4a2e9eb0ce3606eb48"
    )


def test_split_coin_id_rejects_garbage() -> None:
    with pytest.raises(ValueError):
        split_coin_id("not-a-coin")
    with pytest.raises(ValueError):
        normalize_address("0x1234")
