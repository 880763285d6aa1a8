"""What the fuzz tests feed the platform: values at the edges of every JSON type, and alert rule payloads.

Shared by the property test of the rule schema (tests/unit/alerts) and the API fuzzing of a live server
(tests/integration/test_schemathesis.py), so both try the same edges: integers around 32, 53, 63 and 64
bits and far past them, floats at the ends of the double range (and NaN/Infinity, which Python's JSON
reader accepts), long strings, control characters, bidi overrides and numbers spelled as text.
"""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

from onchain.alerts.conditions import CONDITIONS

EDGE_INTS: tuple[int, ...] = (
    0,
    1,
    -1,
    2**31 - 1,
    2**31,
    -(2**31) - 1,
    2**32,
    2**53,
    2**53 + 1,
    -(2**53) - 1,
    2**63 - 1,
    2**63,
    -(2**63),
    -(2**63) - 1,
    2**64 - 1,
    2**64,
    253402300800,  # the first second of the year 10000, past what datetime holds
    10**23,
    -(10**23),
    10**300,
    10**1000,
)
EDGE_FLOATS: tuple[float, ...] = (
    0.0,
    -0.0,
    5e-324,
    2.2250738585072014e-308,
    0.1,
    1e-7,
    1.5,
    9007199254740993.0,
    1e308,
    -1e308,
    1.7976931348623157e308,
)
NOT_FINITE: tuple[float, ...] = (float("nan"), float("inf"), float("-inf"))
EDGE_TEXT: tuple[str, ...] = (
    "",
    " ",
    "\x00",
    "a\nb\x1b[31m",
    "\r\nBcc: x@example.com",
    "\u202egnp.exe",
    "\ufeff",
    "\U0001f600" * 64,
    "ä" * 300,
    "x" * 70_000,
    "../../etc/passwd",
    "%00%2e%2e%2f",
    "' OR 1=1 --",
    "null",
    "true",
    "[]",
    "{}",
    "0x",
    "0xZZ",
    "ethereum:0x" + "0" * 40,
    "ethereum:0x" + "f" * 41,
    "http://a..b/",
    "http://" + "a" * 64 + ".example/",
    "http://x:65536/",
    ",".join(["ethereum:0x" + "0" * 40] * 500),
    "1e308",
    "1e309",
    "-1e309",
    "NaN",
    "Infinity",
    "-0",
    "0.5",
    "1_000",
    " 12 ",
    "9" * 30,
    "-" + "9" * 30,
    "1" + "0" * 5000,
)
NUMBERS_AS_TEXT: tuple[str, ...] = tuple(str(n) for n in EDGE_INTS if len(str(n)) < 400) + tuple(
    repr(x) for x in EDGE_FLOATS
)
EDGE_STRINGS: tuple[str, ...] = EDGE_TEXT + NUMBERS_AS_TEXT


def edge_numbers(*, finite: bool = True) -> st.SearchStrategy[int | float]:
    """An edge integer or float; with `finite=False` also NaN and the infinities."""
    floats = EDGE_FLOATS if finite else EDGE_FLOATS + NOT_FINITE
    return st.one_of(st.sampled_from(EDGE_INTS), st.sampled_from(floats))


def edge_strings() -> st.SearchStrategy[str]:
    return st.sampled_from(EDGE_STRINGS)


def edge_scalars(*, finite: bool = True) -> st.SearchStrategy[Any]:
    """Any edge value of any JSON scalar type (a query string carries any of them as text)."""
    return st.one_of(edge_numbers(finite=finite), edge_strings(), st.sampled_from([None, True, False]))


def near(value: Any) -> st.SearchStrategy[Any]:
    """`value`, or with its leaves replaced by edge values (mostly of their own type, sometimes of another),
    keeping the shape of lists and objects: a generated request turned towards the edges."""
    if isinstance(value, dict):
        return st.fixed_dictionaries({key: near(item) for key, item in value.items()})
    if isinstance(value, list):
        return st.tuples(*(near(item) for item in value)).map(list)
    if isinstance(value, bool) or value is None:
        own: st.SearchStrategy[Any] = st.just(value)
    elif isinstance(value, int | float):
        own = edge_numbers()
    elif isinstance(value, str):
        own = edge_strings()
    else:
        return st.just(value)
    return st.one_of(st.just(value), own, own, edge_scalars())


# Alert rule payloads: mostly well-formed, so that most reach storage and evaluation, with edge values
# in numbers always possible and odd names, subjects, channels and list sizes now and then.

WETH = "ethereum:0xc02aaa39b223fe8d0a0e5c4f27ead9083c756cc2"
PUBLIC_HOOK = "https://93.184.216.34/hook"  # a public address: accepted without a DNS lookup
SUBJECTS: dict[str, tuple[str, ...]] = {
    "coin": (WETH, "ethereum:0xa0b86991c6218b36c1d19d4a2e9eb0ce3606eb48"),
    "pool": ("ethereum:0xb4e16d0168e52d35cacd2c6185b44281ec28c9dc", "ethereum:0x" + "0" * 40),
    "wallet": ("0x" + "ab" * 20, "ethereum:0x" + "cd" * 20),
    "protocol": ("uniswap-v2", "uniswap-v3", "aave-v3"),
    "chain": ("ethereum", "devnet"),
}


def mostly(usual: st.SearchStrategy[Any], odd: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """`usual` nine times in ten, `odd` otherwise (`one_of` would favour the simpler branch)."""
    return st.sampled_from([usual] * 9 + [odd]).flatmap(lambda chosen: chosen)


def names() -> st.SearchStrategy[Any]:
    plain = st.sampled_from(["fuzzed rule", "WETH under 1800", "ä" * 200, "x"])
    return mostly(plain, st.one_of(edge_strings(), st.text(max_size=40), edge_numbers(), st.none()))


def subject_for(condition: str) -> st.SearchStrategy[dict[str, Any]]:
    """A subject the condition applies to, now and then one it does not or an odd id."""
    fitting = sorted(CONDITIONS[condition].subjects) if condition in CONDITIONS else sorted(SUBJECTS)
    usual = st.sampled_from(fitting).flatmap(
        lambda kind: st.fixed_dictionaries({"type": st.just(kind), "id": st.sampled_from(SUBJECTS[kind])})
    )
    odd = st.fixed_dictionaries(
        {"type": st.sampled_from([*SUBJECTS, "planet"]), "id": st.one_of(edge_strings(), st.just("../../etc"))}
    )
    return mostly(usual, odd)


def thresholds(finite: bool) -> st.SearchStrategy[Any]:
    usual = st.one_of(
        edge_numbers(), st.floats(min_value=-1e9, max_value=1e9), st.integers(min_value=-(2**70), max_value=2**70)
    )
    odd = (
        st.one_of(st.none(), edge_strings())
        if finite
        else st.one_of(st.none(), st.sampled_from(NOT_FINITE), edge_strings())
    )
    return mostly(usual, odd)  # None: as if left out


def durations(finite: bool) -> st.SearchStrategy[Any]:
    spelled = st.sampled_from(
        ["1h", "15m", "7d", "2w", "0", "0s", "-1", "-1h", "1e3", " 5 s ", "1.5h", "h", "9" * 25 + "w"]
    )
    usual = st.one_of(st.sampled_from(EDGE_INTS), st.integers(min_value=-1, max_value=2**66), spelled)
    return mostly(usual, st.one_of(st.none(), edge_numbers(finite=finite), edge_strings()))


def conditions(finite: bool) -> st.SearchStrategy[dict[str, Any]]:
    name = mostly(st.sampled_from(sorted(CONDITIONS)), edge_strings())
    return st.fixed_dictionaries(
        {"condition": name, "threshold": thresholds(finite)}, optional={"window": durations(finite)}
    )


WEBHOOK_URLS = (
    PUBLIC_HOOK,
    "http://a..b/",
    "http://" + "a" * 64 + ".example/",
    "http://x:65536/",
    "http://x:99999999999999999999/",
    "http://[::1/",
    "http://[::7f00:1]/",
    "http://127.0.0.1/",
    "ftp://example.com/",
)


def channels() -> st.SearchStrategy[dict[str, Any]]:
    usual = st.sampled_from(
        [
            {"type": "websocket"},
            {"type": "webhook", "url": PUBLIC_HOOK},
            {"type": "email", "to": "ops@example.com"},
        ]
    )
    odd = st.one_of(
        st.fixed_dictionaries(
            {"type": st.just("webhook"), "url": st.one_of(st.sampled_from(WEBHOOK_URLS), edge_strings())}
        ),
        st.fixed_dictionaries({"type": st.just("email"), "to": st.one_of(st.just("a@b\r\nBcc: c@d"), edge_strings())}),
        st.fixed_dictionaries({"type": edge_strings()}),
    )
    return mostly(usual, odd)


def many(item: st.SearchStrategy[Any], most: int) -> st.SearchStrategy[list[Any]]:
    """A short list of varied items, or one item repeated up to `most` times (huge lists, cheaply drawn)."""
    repeated = st.tuples(item, st.sampled_from([0, 100, most])).map(lambda pair: [pair[0]] * pair[1])
    return mostly(st.lists(item, min_size=1, max_size=4), repeated)


def rule_payloads(*, finite: bool = False) -> st.SearchStrategy[dict[str, Any]]:
    """A `POST /v2/alerts` body: one condition or `all`/`any` of several, with edge values throughout;
    `finite=True` leaves out NaN and the infinities (strict JSON writers refuse them)."""
    optional = {"cooldown": durations(finite), "channels": many(channels(), 5000), "active": st.booleans()}

    def single(condition: str) -> st.SearchStrategy[dict[str, Any]]:
        return st.fixed_dictionaries(
            {
                "name": names(),
                "subject": subject_for(condition),
                "condition": st.just(condition),
                "threshold": thresholds(finite),
            },
            optional={**optional, "window": durations(finite)},
        )

    def composite(mode: str, subject: dict[str, Any]) -> st.SearchStrategy[dict[str, Any]]:
        return st.fixed_dictionaries(
            {"name": names(), "subject": st.just(subject), mode: many(conditions(finite), 10_000)}, optional=optional
        )

    one = st.sampled_from(sorted(CONDITIONS)).flatmap(single)
    several = st.tuples(st.sampled_from(["all", "any"]), subject_for("")).flatmap(lambda pair: composite(*pair))
    return st.one_of(one, one, several)
