"""Webhook signatures: HMAC-SHA256 over `"<timestamp>.<body>"` (design.md "Alerts").

The timestamp is signed with the body so a captured request cannot be replayed later with a new
timestamp; receivers reject timestamps older than their tolerance.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

SIGNATURE_HEADER = "X-Onchain-Signature"
TIMESTAMP_HEADER = "X-Onchain-Timestamp"
DELIVERY_HEADER = "X-Onchain-Delivery"
SCHEME = "sha256="


def new_secret() -> str:
    """A fresh webhook secret: 32 random bytes, hex (returned to the user once, at creation)."""
    return "whsec_" + secrets.token_hex(32)


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The `X-Onchain-Signature` value for a body sent at `timestamp` (unix seconds)."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return SCHEME + mac.hexdigest()


def headers(secret: str, timestamp: int, body: bytes, delivery_id: str) -> dict[str, str]:
    return {
        "Content-Type": "application/json",
        TIMESTAMP_HEADER: str(timestamp),
        SIGNATURE_HEADER: sign(secret, timestamp, body),
        DELIVERY_HEADER: delivery_id,
    }


def verify(secret: str, timestamp: str, body: bytes, signature: str, now: int, tolerance: int = 300) -> bool:
    """True when `signature` is ours for this body and timestamp, and the timestamp is recent enough."""
    try:
        sent = int(timestamp)
    except ValueError:
        return False
    if abs(now - sent) > tolerance:
        return False
    return hmac.compare_digest(sign(secret, sent, body), signature)
