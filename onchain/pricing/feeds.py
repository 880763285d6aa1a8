"""Which price feeds and which anchor coins the engine trusts, kept as data.

Chainlink's `AnswerUpdated` is emitted by the feed's current aggregator, not by the proxy
users read, and a feed moves to a new aggregator from time to time; so every aggregator a
feed has had is listed. Addresses are Ethereum mainnet's (the ETH/USD phases and the asset
feeds as published on chain). Devnet feeds are added at run time from the deployment.
"""

from __future__ import annotations

from dataclasses import dataclass

from onchain.domain.ids import coin_id
from onchain.pricing.types import Quote

DAY = 86_400
HOUR = 3_600


@dataclass(frozen=True, slots=True)
class FeedSpec:
    """A feed aggregator and what its answer means."""

    chain: str
    aggregator: str
    coin: str
    quote: Quote
    decimals: int
    heartbeat: int = HOUR

    @property
    def id(self) -> str:
        return f"{self.chain}:{self.aggregator}"


@dataclass(frozen=True, slots=True)
class ChainAnchors:
    """Per chain: coins worth one US dollar unless a feed says otherwise; wrapped ether and the native coin."""

    stablecoins: frozenset[str]
    weth: str | None
    native: str | None = None


def _eth(address: str) -> str:
    return coin_id("ethereum", address)


WETH = _eth("0xc02aaa39b223fe8d0a0e5c4f27ead9083c756cc2")
USDC = _eth("0xa0b86991c6218b36c1d19d4a2e9eb0ce3606eb48")
USDT = _eth("0xdac17f958d2ee523a2206206994597c13d831ec7")
DAI = _eth("0x6b175474e89094c44da98b954eedeac495271d0f")

# (asset address, quote, decimals, heartbeat, aggregators)
_MAINNET_FEEDS: tuple[tuple[str, Quote, int, int, tuple[str, ...]], ...] = (
    (
        "0xc02aaa39b223fe8d0a0e5c4f27ead9083c756cc2",  # ETH / USD, phases 1, 3-7
        "USD",
        8,
        HOUR,
        (
            "0xf79d6afbb6da890132f9d7c355e3015f15f3406f",
            "0x00c7a37b03690fb9f41b5c5af8131735c7275446",
            "0xd3fcd40153e56110e6eeae13e12530e26c9cb4fd",
            "0x37bc7498f4ff12c19678ee8fe19d713b87f6a9e6",
            "0xe62b71cf983019bff55bc83b48601ce8419650cc",
            "0x7d4e742018fb52e48b08be73d041c18b21de6fb5",
        ),
    ),
    ("0x2260fac5e5542a773aa44fbcfedf7c193bc2c599", "USD", 8, HOUR, ("0xae74faa92cb67a95ebcab07358bc222e33a34da7",)),
    ("0xdac17f958d2ee523a2206206994597c13d831ec7", "USD", 8, DAY, ("0xa964273552c1dba201f5f000215f5bd5576e8f93",)),
    (
        "0xa0b86991c6218b36c1d19d4a2e9eb0ce3606eb48",
        "USD",
        8,
        DAY,
        (
            "0x789190466e21a8b78b8027866cbbdc151542a26c",
            "0x3b15a92872435c01c27201aae0968839fb45217d",
            "0x3660827eb8856f4a2eec9713fc6e09f5ad9e405c",
        ),
    ),
    (
        "0x6b175474e89094c44da98b954eedeac495271d0f",
        "USD",
        8,
        HOUR,
        ("0xdec0a100ead1faa37407f0edc76033426cf90b82", "0x4588ec4ddcf1d8dbcb5a1273d22f8485885c45a4"),
    ),
    (
        "0x514910771af9ca656af840dff83e8264ecf986ca",
        "USD",
        8,
        HOUR,
        (
            "0xdfd03bfc3465107ce570a0397b247f546a42d0fa",
            "0xbd11bc57fc140614190cabc1b4c316aba220bae4",
            "0x6bde934047162b87a09b5a3d2f81f3f9173c3237",
            "0xda4c3024236e7055491e7d7b68663e8450ba9bba",
        ),
    ),
    ("0x514910771af9ca656af840dff83e8264ecf986ca", "ETH", 18, DAY, ("0xbba12740de905707251525477bad74985dec46d2",)),
    (
        "0x1f9840a85d5af5bf1d1762f925bdaddc4201f984",
        "USD",
        8,
        HOUR,
        (
            "0x68577f915131087199fe48913d8b416b3984fd38",
            "0xd6947812a94e323608dcd4f84b835a586baf21eb",
            "0x5b0e9ff11aae806067787d380967900551919c0d",
            "0xfceeea703896d85cc80de59ae3b5c0c036a0cf05",
        ),
    ),
    (
        "0x7fc66500c84a76ad7e9c93437bfc5ac33e2ddae9",
        "USD",
        8,
        HOUR,
        ("0xe3f0dede4b499c07e12475087ab1a084b5f93bc0", "0xc8f8d8d5ab0f874f00d74b1ef448151631bc3473"),
    ),
    (
        "0x9f8f72aa9304c8b593d555f12ef6589cc3a579a2",
        "USD",
        8,
        HOUR,
        ("0x908edc7e1974ecab1ca7164424bc4cac287d83ad", "0xffe4b3e69fb463455faa535e7fdbc35bdb3c08fa"),
    ),
    (
        "0xd533a949740bb3306d119cc777fa900ba034cd52",
        "USD",
        8,
        HOUR,
        (
            "0xb4c4a493ab6356497713a78ffa6c60fb53517c63",
            "0xafed606bd2cab6983fc6f10167c98aac2173d77f",
            "0x5ea974a35c37e42dfb91004cfe2b8aab9210f772",
        ),
    ),
    ("0xba100000625a3754423978a60c9317c58a424e3d", "ETH", 18, DAY, ("0x2f2c0c1727ce8c429a237ddfbbb87357893fbd5d",)),
)


def mainnet_feeds() -> dict[str, FeedSpec]:
    """Feed specs keyed by `ethereum:<aggregator>`, the emitter of `AnswerUpdated`."""
    specs: dict[str, FeedSpec] = {}
    for asset, quote, decimals, heartbeat, aggregators in _MAINNET_FEEDS:
        for aggregator in aggregators:
            spec = FeedSpec("ethereum", aggregator, _eth(asset), quote, decimals, heartbeat)
            specs[spec.id] = spec
    return specs


def default_anchors() -> dict[str, ChainAnchors]:
    """USD stablecoins and wrapped ether of the chains we price out of the box."""

    def ids(chain: str, *addresses: str) -> frozenset[str]:
        return frozenset(coin_id(chain, a) for a in addresses)

    return {
        "ethereum": ChainAnchors(
            stablecoins=frozenset({USDC, USDT, DAI}), weth=WETH, native=_eth("0x" + "0" * 40)
        ),
        "polygon": ChainAnchors(
            stablecoins=ids(
                "polygon",
                "0x2791bca1f2de4661ed88a30c99a7a9449aa84174",
                "0x3c499c542cef5e3811e1192ce70d8cc03d5c3359",
                "0xc2132d05d31c914a87c6611c10748aeb04b58e8f",
                "0x8f3cf7ad23cd3cadbd9735aff958023239c6a063",
            ),
            weth=coin_id("polygon", "0x7ceb23fd6bc0add59e62ac25578270cff1b9f619"),
        ),
        "arbitrum": ChainAnchors(
            stablecoins=ids(
                "arbitrum",
                "0xaf88d065e77c8cc2239327c5edb3a432268e5831",
                "0xff970a61a04b1ca14834a43f5de4533ebddb5cc8",
                "0xfd086bc7cd5c481dcc9c85ebe478a1c0b69fcbb9",
                "0xda10009cbd5d07dd0cecc66161fc93d7c9000da1",
            ),
            weth=coin_id("arbitrum", "0x82af49447d8a07e3bd95bd0d56f35241523fbab1"),
        ),
    }
