"""Word decoding on raw log bytes: the hot path of the decoder.

Log data arrives as a 0x-hex string; the decoder converts it once with `bytes.fromhex` and slices
32-byte words (measured faster than `int(hex, 16)` per word, and it validates the hex). Topics stay
hex strings: an indexed address is the last 40 hex digits. Each helper checks what `eth_abi`'s
strict decoding checks (zero padding, value range) so that a value we return is the value it would.
"""

from __future__ import annotations

#: The 12 zero bytes (24 hex digits) that pad an address to a word.
ADDRESS_PAD = "0" * 24
_TWO_256 = 1 << 256
_INT256_MIN = 1 << 255


def data_bytes(data: str) -> bytes:
    """The raw bytes of a `0x`-prefixed hex data field (ValueError on bad hex)."""
    return bytes.fromhex(data[2:])


def word_uint(data: bytes, index: int, bits: int = 256) -> int:
    """The `index`-th word as uint<bits>; ValueError if it does not fit (eth_abi rejects those too)."""
    value = int.from_bytes(data[index * 32 : index * 32 + 32], "big")
    if value >> bits:
        raise ValueError(f"word {index} exceeds uint{bits}")
    return value


def word_int(data: bytes, index: int, bits: int = 256) -> int:
    """The `index`-th word as two's complement int<bits>; ValueError if sign extension is wrong."""
    value = int.from_bytes(data[index * 32 : index * 32 + 32], "big", signed=True)
    bound = 1 << (bits - 1)
    if not -bound <= value < bound:
        raise ValueError(f"word {index} exceeds int{bits}")
    return value


def word_address(data: bytes, index: int) -> str:
    """The `index`-th word as a lower-case address; ValueError on non-zero padding."""
    start = index * 32
    if any(data[start : start + 12]):
        raise ValueError(f"word {index} is not an address")
    return "0x" + data[start + 12 : start + 32].hex()


def word_bool(data: bytes, index: int) -> bool:
    """The `index`-th word as bool; ValueError unless it is exactly 0 or 1."""
    value = int.from_bytes(data[index * 32 : index * 32 + 32], "big")
    if value > 1:
        raise ValueError(f"word {index} is not a bool")
    return value == 1


def word_bytes32(data: bytes, index: int) -> str:
    return "0x" + data[index * 32 : index * 32 + 32].hex()


def topic_address(topic: str) -> str:
    """An indexed address topic as an address; ValueError on non-zero padding.

    Topics are lower-case hex already (`onchain.domain.chain`), so the address is too.
    """
    if topic[2:26] != ADDRESS_PAD or len(topic) != 66:
        raise ValueError(f"topic {topic!r} is not an address")
    return "0x" + topic[26:]


def topic_uint(topic: str, bits: int = 256) -> int:
    value = int(topic, 16)
    if value >> bits:
        raise ValueError(f"topic {topic!r} exceeds uint{bits}")
    return value


def topic_int(topic: str, bits: int = 256) -> int:
    value = int(topic, 16)
    if value >> 256:
        raise ValueError(f"topic {topic!r} is longer than a word")
    if value >= _INT256_MIN:
        value -= _TWO_256
    bound = 1 << (bits - 1)
    if not -bound <= value < bound:
        raise ValueError(f"topic {topic!r} exceeds int{bits}")
    return value


def dynamic_int_array(data: bytes, head_index: int, bits: int = 256) -> list[int]:
    """A dynamic `int<bits>[]` whose offset is in word `head_index`."""
    offset = word_uint(data, head_index, 64)
    if offset % 32 or offset + 32 > len(data):
        raise ValueError("array offset out of range")
    base = offset // 32
    length = word_uint(data, base, 64)
    if offset + 32 + length * 32 > len(data):
        raise ValueError("array runs past the data")
    return [word_int(data, base + 1 + i, bits) for i in range(length)]


def dynamic_bytes(data: bytes, head_index: int) -> bytes:
    """A dynamic `bytes` whose offset is in word `head_index` (padding must be zero, as eth_abi checks)."""
    offset = word_uint(data, head_index, 64)
    if offset % 32 or offset + 32 > len(data):
        raise ValueError("bytes offset out of range")
    length = word_uint(data, offset // 32, 64)
    start = offset + 32
    end = start + length
    padded_end = start + (length + 31) // 32 * 32
    if padded_end > len(data):
        raise ValueError("bytes run past the data")
    if any(data[end:padded_end]):
        raise ValueError("non-zero bytes padding")
    return data[start:end]
