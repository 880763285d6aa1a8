"""The webhook target policy: URL shapes a connection can be made to, and addresses that reach only the
public internet, whatever IPv6 form carries a private IPv4 address."""

from __future__ import annotations

import pytest

from onchain.alerts.targets import RefusedTarget, WebhookTarget, is_public_address, parse_webhook_url

# IPv4 addresses behind the wrappers: loopback, the cloud metadata service, RFC 1918, CGNAT, "this network".
PRIVATE_V4 = ("127.0.0.1", "169.254.169.254", "10.1.2.3", "192.168.0.1", "100.64.0.1", "0.0.0.0")
PUBLIC_V4 = "8.8.8.8"


def wrapped(v4: str) -> list[str]:
    """`v4` in every IPv6 form a host, translator or tunnel maps back to it."""
    a, b, c, d = (int(part) for part in v4.split("."))
    hi, lo = f"{a << 8 | b:x}", f"{c << 8 | d:x}"
    inverted = f"{(a << 8 | b) ^ 0xFFFF:x}:{(c << 8 | d) ^ 0xFFFF:x}"
    return [
        f"::ffff:{v4}",  # IPv4-mapped
        f"::{hi}:{lo}",  # IPv4-compatible, hex
        f"::{v4}",  # IPv4-compatible, dotted
        f"::ffff:0:{hi}:{lo}",  # SIIT translated
        f"64:ff9b::{hi}:{lo}",  # NAT64 well-known prefix
        f"64:ff9b::{v4}",
        f"2002:{hi}:{lo}::",  # 6to4
        f"2002:{hi}:{lo}:1::1",
        f"2001:0:{hi}:{lo}::",  # Teredo: the server address
        f"2001:0:4136:e378:8000:63bf:{inverted}",  # Teredo: the client address (inverted bits)
    ]


@pytest.mark.parametrize("address", [form for v4 in PRIVATE_V4 for form in wrapped(v4)] + list(PRIVATE_V4))
def test_private_ipv4_in_any_form_is_not_public(address: str) -> None:
    assert not is_public_address(address)


def test_the_issue_forms_are_refused() -> None:
    for address in ("::7f00:1", "::127.0.0.1", "64:ff9b::7f00:1", "2002:7f00:1::", "64:ff9b::a9fe:a9fe"):
        assert not is_public_address(address), address


@pytest.mark.parametrize("address", [f"::ffff:{PUBLIC_V4}", f"64:ff9b::{PUBLIC_V4}", "2002:808:808::1",
                                     "2001:0:4136:e378:8000:63bf:f7f7:f7f7", PUBLIC_V4, "2606:4700::1111"])
def test_public_addresses_in_any_form_stay_public(address: str) -> None:
    assert is_public_address(address)


@pytest.mark.parametrize("address", ["64:ff9b:1::808:808", "64:ff9b:1:ff00::7f00:1", "::1", "::", "fe80::1",
                                     "fe80::1%eth0", "fc00::1", "ff0e::1", "2001:db8::1", "224.0.0.1",
                                     "not an address"])
def test_local_special_and_malformed_addresses_are_not_public(address: str) -> None:
    assert not is_public_address(address)


def test_urls_name_their_target() -> None:
    assert parse_webhook_url("https://hooks.example.com/x") == WebhookTarget("https", "hooks.example.com", 443)
    assert parse_webhook_url("http://[2606:4700::1111]:8080/") == WebhookTarget("http", "2606:4700::1111", 8080)
    assert parse_webhook_url("http://bücher.example/").host == "bücher.example"
    assert parse_webhook_url("http://my_host.example.:81/").port == 81


@pytest.mark.parametrize("url", ["http://a..b/", f"http://{'a' * 64}.example/", "http://x:65536/",
                                 "http://x:99999999999999999999999/", "http://x:0/", "http://x:-1/",
                                 "http://x:port/", "http://[::1/", "http://a b/", "http://.example/",
                                 "http://" + "a." * 127 + "com/", "ftp://example.com/", "http:///x", "example.com",
                                 "https://example.com/" + "x" * 2048])
def test_urls_no_connection_can_be_made_to_are_refused(url: str) -> None:
    with pytest.raises(RefusedTarget):
        parse_webhook_url(url)


def test_refusals_quote_at_most_80_characters_of_the_url() -> None:
    with pytest.raises(RefusedTarget) as refused:
        parse_webhook_url("ftp://" + "x" * 60_000)
    assert len(str(refused.value)) < 200 and "60006 characters" in str(refused.value)
