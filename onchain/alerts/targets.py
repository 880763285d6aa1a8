"""Where a webhook may go: the URL's shape and the public-address policy, pure (no lookups, no I/O).

An IPv6 address can carry an IPv4 one that a translator or tunnel on the path will reach: IPv4-mapped
(`::ffff:a.b.c.d`), IPv4-compatible (`::a.b.c.d`), SIIT-translated (`::ffff:0:a.b.c.d`), NAT64
(`64:ff9b::a.b.c.d`), 6to4 (`2002:aabb:ccdd::`) and Teredo (`2001::/32`, server and client). Python's
`is_global` judges only the IPv6 form (and calls most of these global), so when an IPv6 address
embeds IPv4 ones, those decide: it is public only when every one of them is. The local-use NAT64
prefix `64:ff9b:1::/48` (RFC 8215) is never public: where the IPv4 address sits in it depends on the
operator's prefix length, and it leads into the operator's own network.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv6Address
from urllib.parse import urlsplit

from onchain.errors import InputError

IPV4_COMPATIBLE = ipaddress.ip_network("::/96")
IPV4_TRANSLATED = ipaddress.ip_network("::ffff:0:0:0/96")
NAT64_WELL_KNOWN = ipaddress.ip_network("64:ff9b::/96")
NAT64_LOCAL_USE = ipaddress.ip_network("64:ff9b:1::/48")

# A host name label after IDNA encoding (RFC 1035 lengths; `_` occurs in real DNS names).
_LABEL = re.compile(r"^[a-z0-9_-]{1,63}$")
MAX_HOST_NAME = 253
# Longer URLs are not webhooks anyone runs; every delivery row and attempt stores the URL again.
MAX_URL_CHARS = 2048


class RefusedTarget(InputError, ValueError):
    """A webhook URL we will not call (malformed, a private address, an unresolvable host).

    Also a ValueError: the rule schema's URL validator raises it, and pydantic turns only ValueError
    (and AssertionError) into a validation error, the 422 naming the problem."""


@dataclass(frozen=True, slots=True)
class WebhookTarget:
    """What a webhook URL connects to: scheme, host (an IP literal without brackets, or a name) and port."""

    scheme: str
    host: str
    port: int


def parse_webhook_url(url: str) -> WebhookTarget:
    """The target of an absolute http(s) URL; RefusedTarget for anything a connection could not be made to
    (port out of range, an empty or over-long host label, a host that is neither an IP nor a DNS name)."""
    if len(url) > MAX_URL_CHARS:
        raise RefusedTarget(f"webhook url is longer than {MAX_URL_CHARS} characters: {_shown(url)}")
    try:
        parts = urlsplit(url)
        host, explicit_port = parts.hostname, parts.port
    except ValueError as exc:  # a port out of range or not a number, a bad IPv6 literal
        raise RefusedTarget(f"webhook url is malformed ({exc}): {_shown(url)}") from None
    if parts.scheme not in ("http", "https") or not host:
        raise RefusedTarget(f"webhook url must be an absolute http(s) URL, got {_shown(url)}")
    if explicit_port == 0:
        raise RefusedTarget(f"webhook url port must be 1-65535, got {_shown(url)}")
    if not _is_ip_literal(host) and not _is_host_name(host):
        raise RefusedTarget(f"webhook url host {_shown(host)} is not a valid host name or IP address")
    return WebhookTarget(parts.scheme, host, explicit_port or (443 if parts.scheme == "https" else 80))


def _shown(text: str) -> str:
    """The caller's input in a message: its first 80 characters."""
    return repr(text) if len(text) <= 80 else f"{text[:80]!r}... ({len(text)} characters)"


def _is_ip_literal(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _is_host_name(host: str) -> bool:
    try:
        encoded = host.encode("idna").decode("ascii")
    except UnicodeError:  # an empty label, a label over 63 characters, a character IDNA refuses
        return False
    name = encoded.removesuffix(".")
    return len(name) <= MAX_HOST_NAME and all(_LABEL.match(label) for label in name.split("."))


def embedded_ipv4(ip: IPv6Address) -> list[IPv4Address]:
    """The IPv4 addresses an IPv6 address leads to through mapping, translation or tunnelling."""
    low32 = IPv4Address(int(ip) & 0xFFFFFFFF)
    if ip.ipv4_mapped is not None:
        return [ip.ipv4_mapped]
    if ip in IPV4_COMPATIBLE or ip in IPV4_TRANSLATED or ip in NAT64_WELL_KNOWN:
        return [low32]
    if ip.sixtofour is not None:
        return [ip.sixtofour]
    if ip.teredo is not None:
        return list(ip.teredo)
    return []


def is_public_address(address: str) -> bool:
    """True when `address` (a resolved IP, possibly with an IPv6 zone) reaches only the public internet."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    if isinstance(ip, IPv4Address):
        return ip.is_global and not ip.is_multicast
    if ip in NAT64_LOCAL_USE or ip.scope_id:
        return False
    embedded = embedded_ipv4(ip)
    if embedded:  # the IPv6 wrapper itself is often "global" to Python; what it leads to decides
        return all(v4.is_global and not v4.is_multicast for v4 in embedded)
    return ip.is_global and not ip.is_multicast
