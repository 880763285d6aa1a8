"""Client addresses behind proxies, and CIDR allowlists."""

from __future__ import annotations

import pytest

from onchain.accounts.allowlist import InvalidCidr, client_address, in_networks, normalize_cidrs, parse_networks

PROXIES = parse_networks(["10.0.0.0/8"])


def test_forwarded_for_is_ignored_without_trusted_proxies() -> None:
    assert client_address("203.0.113.5", ["198.51.100.1"], ()) == "203.0.113.5"
    assert client_address("203.0.113.5", ["198.51.100.1"], PROXIES) == "203.0.113.5"  # peer is not a proxy


def test_forwarded_for_is_read_from_the_right_up_to_the_first_untrusted_hop() -> None:
    assert client_address("10.0.0.2", ["198.51.100.1"], PROXIES) == "198.51.100.1"
    # A client sending its own header cannot pick its address: the proxy appended the real one.
    assert client_address("10.0.0.2", ["1.1.1.1, 198.51.100.1, 10.0.0.3"], PROXIES) == "198.51.100.1"
    assert client_address("10.0.0.2", ["10.0.0.9"], PROXIES) == "10.0.0.9"
    assert client_address("10.0.0.2", ["garbage, 198.51.100.1"], PROXIES) == "198.51.100.1"
    assert client_address("10.0.0.2", ["198.51.100.1, garbage"], PROXIES) == "10.0.0.2"


def test_allowlists() -> None:
    networks = parse_networks(normalize_cidrs(["192.0.2.7", "2001:db8::/32", "192.0.2.7/32"]))
    assert [str(n) for n in networks] == ["192.0.2.7/32", "2001:db8::/32"]
    assert in_networks("192.0.2.7", networks) and in_networks("::ffff:192.0.2.7", networks)
    assert in_networks("2001:db8::1", networks) and not in_networks("192.0.2.8", networks)
    assert not in_networks("", networks) and not in_networks("nonsense", networks)
    with pytest.raises(InvalidCidr):
        normalize_cidrs(["10.0.0.0/33"])
    with pytest.raises(InvalidCidr):
        normalize_cidrs(["10.0.0.1"] * 51)
