"""Pure reorg logic: does a block extend what we stored, and where did the chains diverge.

A block extends our chain when its parent hash is the hash we stored for the block below it. When it
does not, the common ancestor is the highest block at or below the tip whose stored hash is still
canonical; everything above it is orphaned and must be rolled back before re-ingesting.
"""

from __future__ import annotations

from collections.abc import Mapping

from onchain.domain.chain import BlockBundle
from onchain.errors import InconsistentDataError, ReorgError


def extends(parent_hash: str, stored_parent_hash: str | None) -> bool:
    """Whether a block with `parent_hash` sits on top of the stored block below it (nothing stored: yes)."""
    return stored_parent_hash is None or parent_hash == stored_parent_hash


def common_ancestor(stored: Mapping[int, str], canonical: Mapping[int, str | None], tip: int) -> int | None:
    """Walk down from `tip` through the numbers `canonical` covers; the first number whose stored hash
    is canonical, or where nothing is stored (nothing below it to undo), is the ancestor.

    None means no ancestor within the covered numbers: fetch more canonical hashes below and ask again.
    """
    number = tip
    while number in canonical:
        mine = stored.get(number)
        if mine is None or mine == canonical[number]:
            return number
        number -= 1
    return None


def check_depth(tip: int, lowest_checked: int, max_depth: int) -> None:
    """Refuse to look further than `max_depth` blocks below the first orphaned block."""
    if tip - lowest_checked + 1 > max_depth:
        raise ReorgError(f"no common ancestor within {max_depth} blocks below {tip + 1}; refusing to roll back further")


def validate_bundle(bundle: BlockBundle, chain: str, number: int) -> None:
    """A bundle must be the block we asked for, and its records must agree with it.

    Raises InconsistentDataError before anything of the bundle is written.
    """
    block = bundle.block
    if bundle.chain != chain:
        raise InconsistentDataError(f"bundle of chain {bundle.chain!r} in the {chain!r} pipeline")
    if block.number != number:
        raise InconsistentDataError(f"{chain}: expected block {number}, the source delivered {block.number}")
    seen: set[int] = set()
    for log in bundle.logs:
        if log.block_number != number or log.block_hash != block.hash:
            raise InconsistentDataError(
                f"{chain} block {number}: log {log.log_index} names block {log.block_number} {log.block_hash}"
            )
        if log.log_index in seen:
            raise InconsistentDataError(f"{chain} block {number}: log index {log.log_index} appears twice")
        seen.add(log.log_index)
    positions: set[int] = set()
    for tx in bundle.transactions:
        if tx.block_number != number:
            raise InconsistentDataError(f"{chain} block {number}: transaction {tx.hash} names block {tx.block_number}")
        if tx.transaction_index in positions:
            raise InconsistentDataError(f"{chain} block {number}: transaction index {tx.transaction_index} twice")
        positions.add(tx.transaction_index)
