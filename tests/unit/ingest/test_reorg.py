"""Pure reorg logic: parent checks, the common ancestor walk, the depth limit, bundle validation."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from onchain.errors import InconsistentDataError, ReorgError
from onchain.ingest.reorg import check_depth, common_ancestor, extends, validate_bundle
from tests.unit.ingest.bundles import etl_bundles


def test_a_block_extends_the_stored_parent_or_an_empty_store() -> None:
    assert extends("0xaa", "0xaa")
    assert extends("0xaa", None)
    assert not extends("0xaa", "0xbb")


def test_the_ancestor_is_the_highest_block_still_canonical() -> None:
    stored = {10: "a10", 11: "a11", 12: "a12", 13: "a13"}
    canonical: dict[int, str | None] = {13: "b13", 12: "b12", 11: "a11", 10: "a10"}
    assert common_ancestor(stored, canonical, 13) == 11


def test_the_walk_asks_for_more_when_the_window_is_all_orphaned() -> None:
    stored = {10: "a10", 11: "a11", 12: "a12"}
    assert common_ancestor(stored, {12: "b12", 11: "b11"}, 12) is None
    assert common_ancestor(stored, {12: "b12", 11: "b11", 10: "a10"}, 12) == 10


def test_nothing_stored_below_means_nothing_to_undo_there() -> None:
    assert common_ancestor({12: "a12"}, {12: "b12", 11: "b11"}, 12) == 11
    assert common_ancestor({12: "a12"}, {12: None, 11: "b11"}, 12) == 11


def test_depth_limit() -> None:
    check_depth(100, 98, 3)
    with pytest.raises(ReorgError):
        check_depth(100, 97, 3)


def test_bundles_must_agree_with_their_block(chaindata: Path) -> None:
    bundle = etl_bundles(chaindata / "ethereum-etl-17173049")[0]
    number = bundle.block.number
    validate_bundle(bundle, "ethereum", number)
    with pytest.raises(InconsistentDataError, match="expected block"):
        validate_bundle(bundle, "ethereum", number + 1)
    with pytest.raises(InconsistentDataError, match="chain"):
        validate_bundle(bundle, "polygon", number)
    moved = replace(bundle.logs[3], block_number=number + 1)
    with pytest.raises(InconsistentDataError, match="log 3"):
        validate_bundle(replace(bundle, logs=(*bundle.logs[:3], moved, *bundle.logs[4:])), "ethereum", number)
    with pytest.raises(InconsistentDataError, match="twice"):
        validate_bundle(replace(bundle, logs=(*bundle.logs, bundle.logs[0])), "ethereum", number)
    doubled = replace(bundle, transactions=(*bundle.transactions, bundle.transactions[0]))
    with pytest.raises(InconsistentDataError, match="transaction index"):
        validate_bundle(doubled, "ethereum", number)
