"""Client addresses and per-key IP allowlists (CIDR lists, for enterprise keys).

The client address is the TCP peer. `X-Forwarded-For` is believed only when the peer is one of the
configured trusted proxies, and then only up to the first address that is not itself a trusted proxy
(read from the right, so a client cannot forge its way past the proxy by sending the header itself).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence

from onchain.errors import InputError

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address

MAX_CIDRS = 50


class InvalidCidr(InputError):
    """A CIDR list entry that is not a network, or too many of them."""


def parse_networks(cidrs: Iterable[str]) -> tuple[Network, ...]:
    """Networks from CIDR strings (`10.0.0.0/8`, `2001:db8::/32`, or a single address)."""
    networks = []
    for text in cidrs:
        try:
            networks.append(ipaddress.ip_network(text.strip(), strict=False))
        except ValueError as exc:
            raise InvalidCidr(f"not an IP network: {text!r}") from exc
    return tuple(networks)


def normalize_cidrs(cidrs: Sequence[str]) -> list[str]:
    """Canonical, deduplicated CIDR strings, as stored with a key."""
    if len(cidrs) > MAX_CIDRS:
        raise InvalidCidr(f"at most {MAX_CIDRS} networks per key")
    return sorted({str(network) for network in parse_networks(cidrs)})


def _address(text: str) -> Address | None:
    try:
        address = ipaddress.ip_address(text.strip())
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def in_networks(address: str, networks: Sequence[Network]) -> bool:
    parsed = _address(address)
    return parsed is not None and any(parsed in network for network in networks)


def client_address(peer: str | None, forwarded_for: Sequence[str], trusted_proxies: Sequence[Network]) -> str:
    """The address a request came from, given its TCP peer and its `X-Forwarded-For` header values."""
    current = peer or ""
    if not trusted_proxies or not in_networks(current, trusted_proxies):
        return current
    hops = [hop.strip() for value in forwarded_for for hop in value.split(",") if hop.strip()]
    for hop in reversed(hops):
        if _address(hop) is None:
            return current  # a garbled hop: stop at the last address we could trust to report it
        current = hop
        if not in_networks(hop, trusted_proxies):
            return hop
    return current
