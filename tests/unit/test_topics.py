"""Bus payloads: what `encode` writes is what `decode` reads back, with the field names clients see."""

from __future__ import annotations

from onchain.codec import dumps
from onchain.domain.events import Event
from onchain.domain.topics import (
    BlockStored,
    EventsBatch,
    Reorg,
    RuleChange,
    UserAlert,
    event_from_dict,
    event_to_dict,
)

SWAP = Event(
    chain="ethereum",
    block_number=17173049,
    block_hash="0x" + "ab" * 32,
    transaction_hash="0x" + "cd" * 32,
    transaction_index=3,
    log_index=7,
    address="0x" + "11" * 20,
    family="uniswap_v2",
    name="Swap",
    protocol="uniswap-v2",
    args={"amount0In": 2**200, "to": "0x" + "22" * 20},
)


def test_an_event_round_trips_with_its_kind_on_the_wire() -> None:
    raw = event_to_dict(SWAP)
    assert list(raw) == ["chain", "block_number", "block_hash", "transaction_hash", "transaction_index",
                         "log_index", "address", "family", "name", "kind", "protocol", "args"]
    assert raw["kind"] == "uniswap_v2.Swap"
    assert event_from_dict(raw) == SWAP


def test_payloads_round_trip_and_keep_their_field_names() -> None:
    batch = EventsBatch(chain="ethereum", from_block=17173049, to_block=17173050, events=[SWAP])
    assert dumps(batch.encode()).startswith(b'{"chain":"ethereum","from_block":17173049,"to_block":17173050,"events":[')
    assert EventsBatch.decode(batch.encode()) == EventsBatch("ethereum", 17173049, 17173050, [SWAP])
    block = BlockStored(chain="ethereum", number=1, hash="0x01", parent_hash="0x00", timestamp=12, logs=4, events=2)
    assert list(block.encode()) == ["chain", "number", "hash", "parent_hash", "timestamp", "logs", "events"]
    assert BlockStored.decode(block.encode()) == block
    reorg = Reorg(chain="ethereum", ancestor=10, ancestor_hash="0x0a", orphaned_from=11, orphaned_to=13)
    assert reorg.encode() == {"chain": "ethereum", "ancestor": 10, "ancestor_hash": "0x0a", "orphaned_from": 11,
                              "orphaned_to": 13, "depth": 3}
    assert Reorg.decode(reorg.encode()) == reorg
    assert RuleChange.decode(RuleChange(op="delete", id="a-1").encode()) == RuleChange("delete", "a-1")
    alert = UserAlert(user_id="u-1", message={"alertId": "a-1"})
    assert alert.encode() == {"userId": "u-1", "message": {"alertId": "a-1"}}
    assert UserAlert.decode(alert.encode()) == alert
