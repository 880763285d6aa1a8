"""The edge middleware's redirect rewriting: Locations become paths on this server."""

from __future__ import annotations

from onchain.api.app import relative_locations


def location(value: str) -> str:
    [(name, rewritten)] = relative_locations([(b"location", value.encode())])
    assert name == b"location"
    return rewritten.decode()


def test_locations_lose_scheme_and_host_and_keep_path_and_query() -> None:
    assert location("http://evil.example/v2/protocols") == "/v2/protocols"
    assert location("https://evil.example:8443/v2/chains?x=1&y=%20") == "/v2/chains?x=1&y=%20"
    assert location("/v2/protocols") == "/v2/protocols"
    assert location("http://evil.example") == "/"


def test_a_path_never_becomes_a_scheme_relative_url() -> None:
    assert location("http://127.0.0.1:8000//evil.example/x") == "/evil.example/x"
    assert location("///evil.example/x") == "/evil.example/x"


def test_other_headers_pass_unchanged() -> None:
    headers = [(b"content-type", b"application/json"), (b"x-location", b"http://a.example/")]
    assert relative_locations(headers) == headers
