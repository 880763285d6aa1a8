"""Chainlink price feed aggregators: AnswerUpdated (every aggregator) and OCR NewTransmission.

NewTransmission carries the median answer plus the observations it came from; two OCR generations
emit it with different layouts (hence two topic0s under one event name).
"""

from __future__ import annotations

from typing import Any

from onchain.protocols.abi import (
    dynamic_bytes,
    dynamic_int_array,
    topic_int,
    topic_uint,
    word_address,
    word_bytes32,
    word_int,
    word_uint,
)
from onchain.protocols.base import Attribution, EventSpec

FAMILY = "chainlink"
PROTOCOL = "chainlink"
ANSWER_UPDATED = "0x0559884fd3a460db3073b7fc896cc77986f16e378210ded43186175bf646fc5f"
NEW_TRANSMISSION = "0xf6a97944f31ea060dfde0566e4167c1a1082551e64b60ecb14d599a9d023d451"
NEW_TRANSMISSION_OCR2 = "0xc797025feeeaf2cd924c99e9205acb8ec04d5cad21c41ce637a38fb6dee6016a"


def _event(name: str, inputs: list[tuple[str, str, bool]]) -> dict[str, Any]:
    return {
        "type": "event",
        "name": name,
        "anonymous": False,
        "inputs": [{"name": n, "type": t, "indexed": i} for n, t, i in inputs],
    }


ABI: list[dict[str, Any]] = [
    _event(
        "AnswerUpdated", [("current", "int256", True), ("roundId", "uint256", True), ("updatedAt", "uint256", False)]
    ),
    _event(
        "NewTransmission",
        [
            ("aggregatorRoundId", "uint32", True),
            ("answer", "int192", False),
            ("transmitter", "address", False),
            ("observations", "int192[]", False),
            ("observers", "bytes", False),
            ("rawReportContext", "bytes32", False),
        ],
    ),
]

ABI_OCR2: list[dict[str, Any]] = [
    _event(
        "NewTransmission",
        [
            ("aggregatorRoundId", "uint32", True),
            ("answer", "int192", False),
            ("transmitter", "address", False),
            ("observationsTimestamp", "uint32", False),
            ("observations", "int192[]", False),
            ("observers", "bytes", False),
            ("juelsPerFeeCoin", "int192", False),
            ("configDigest", "bytes32", False),
            ("epochAndRound", "uint40", False),
        ],
    ),
]


def decode_answer_updated(topics: tuple[str, ...], data: bytes) -> dict[str, Any]:
    return {
        "current": topic_int(topics[1]),
        "roundId": topic_uint(topics[2]),
        "updatedAt": int.from_bytes(data),
    }


def decode_new_transmission(topics: tuple[str, ...], data: bytes) -> dict[str, Any]:
    return {
        "aggregatorRoundId": topic_uint(topics[1], 32),
        "answer": word_int(data, 0, 192),
        "transmitter": word_address(data, 1),
        "observations": dynamic_int_array(data, 2, 192),
        "observers": "0x" + dynamic_bytes(data, 3).hex(),
        "rawReportContext": word_bytes32(data, 4),
    }


def decode_new_transmission_ocr2(topics: tuple[str, ...], data: bytes) -> dict[str, Any]:
    return {
        "aggregatorRoundId": topic_uint(topics[1], 32),
        "answer": word_int(data, 0, 192),
        "transmitter": word_address(data, 1),
        "observationsTimestamp": word_uint(data, 2, 32),
        "observations": dynamic_int_array(data, 3, 192),
        "observers": "0x" + dynamic_bytes(data, 4).hex(),
        "juelsPerFeeCoin": word_int(data, 5, 192),
        "configDigest": word_bytes32(data, 6),
        "epochAndRound": word_uint(data, 7, 40),
    }


SPECS: tuple[EventSpec, ...] = (
    EventSpec(ANSWER_UPDATED, FAMILY, "AnswerUpdated", 3, 32, decode_answer_updated, Attribution.FIXED, PROTOCOL),
    EventSpec(
        NEW_TRANSMISSION,
        FAMILY,
        "NewTransmission",
        2,
        7 * 32,
        decode_new_transmission,
        Attribution.FIXED,
        PROTOCOL,
        dynamic=True,
    ),
    EventSpec(
        NEW_TRANSMISSION_OCR2,
        FAMILY,
        "NewTransmission",
        2,
        10 * 32,
        decode_new_transmission_ocr2,
        Attribution.FIXED,
        PROTOCOL,
        dynamic=True,
    ),
)
