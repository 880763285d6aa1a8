"""Pure protocol adapters: raw logs in, decoded and attributed events out."""

from onchain.protocols.base import EventSpec, PoolDirectory, PoolInfo, ProtocolInfo
from onchain.protocols.registry import ALL_SPECS, PROTOCOLS, Decoder, DecodeResult
from onchain.protocols.tokens import TokenDirectory, TokenInfo

__all__ = [
    "ALL_SPECS",
    "PROTOCOLS",
    "DecodeResult",
    "Decoder",
    "EventSpec",
    "PoolDirectory",
    "PoolInfo",
    "ProtocolInfo",
    "TokenDirectory",
    "TokenInfo",
]
