"""`onchain analytics train` and `onchain analytics evaluate`: the smart-money model, fitted and measured.

The analytics, devnet, storage and scikit-learn modules are imported inside the functions that use them,
so `onchain --help` and every other command start without them.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from onchain.cli import app
from onchain.errors import InputError

if TYPE_CHECKING:
    from onchain.analytics.smart_money.model import SmartMoneyModel
    from onchain.config import Settings
    from onchain.devnet.scenario import Evaluation, ScenarioConfig

analytics_app = typer.Typer(help="Smart-money model: train it, evaluate it on planted traders.",
                            no_args_is_help=True)
app.add_typer(analytics_app, name="analytics")


def _summary(model: SmartMoneyModel) -> dict[str, Any]:
    metrics = model.metrics
    return {"version": model.version, "auc": metrics.auc, "precision_at_k": metrics.precision_at_k, "k": metrics.k,
            "train_samples": metrics.train_samples, "test_samples": metrics.test_samples,
            "feature_importances": metrics.feature_importances, "window": model.window, "horizon": model.horizon,
            "trained_on": model.trained_on}


def _print_model(model: SmartMoneyModel, path: Path) -> None:
    metrics = model.metrics
    auc = "n/a (one class in the test windows)" if metrics.auc is None else f"{metrics.auc:.3f}"
    precision = "n/a" if metrics.precision_at_k is None else f"{metrics.precision_at_k:.3f}"
    typer.echo(f"model v{model.version} saved to {path}")
    typer.echo(f"trained on {model.trained_on}")
    typer.echo(f"test windows {metrics.test_windows} ({metrics.test_samples} samples, "
               f"{metrics.positive_rate:.0%} profitable), trained on {metrics.train_windows} windows "
               f"({metrics.train_samples} samples)")
    typer.echo(f"AUC (forward profitability, test windows): {auc}")
    typer.echo(f"precision at {metrics.k}: {precision}")
    typer.echo("feature importances:")
    for name, value in metrics.feature_importances.items():
        typer.echo(f"  {name:<20} {value:.3f}")


async def _stored_model(settings: Settings, chain: str | None, window: int, horizon: int) -> SmartMoneyModel:
    """Fit on the configured database: its blocks folded through the market for prices, its swaps as trades."""
    from onchain.analytics.smart_money.features import build_samples, windows
    from onchain.analytics.smart_money.liquidity import LP_KINDS, liquidity_from_events
    from onchain.analytics.smart_money.model import train
    from onchain.analytics.smart_money.trades import fold_prices, pool_tokens, trades_from_events
    from onchain.domain.chain import Block
    from onchain.metrics.pools import TokenSpec
    from onchain.metrics.service import MARKET_KINDS, MarketService
    from onchain.protocols.tokens import TokenDirectory
    from onchain.storage.store import Store

    store = await Store.open(settings.resolved_database_url)
    try:
        heads = await store.heads()
        if not heads:
            raise InputError("the database holds no blocks; ingest or replay some, or use --scenario")
        chain = chain or max(heads, key=lambda c: heads[c].number)
        if chain not in heads:
            raise InputError(f"the database holds no blocks of {chain}; it has {', '.join(sorted(heads))}")
        market = MarketService(None)
        market.add_pools(await store.pools(chain))
        directory = TokenDirectory.default()
        for record in await store.tokens(chain):
            if record.decimals is not None:
                market.state.add_token(TokenSpec(f"{chain}:{record.address}", record.symbol or "", record.decimals))
        for pool in list(market.state.pools.values()):
            for coin in (pool.spec.token0, pool.spec.token1):
                info = directory.get(chain, coin.split(":", 1)[1])
                if coin not in market.state.tokens and info is not None:
                    market.state.add_token(TokenSpec(coin, info.symbol, info.decimals))
        records = await store.blocks(chain)
        blocks = [Block(r.number, r.hash, r.parent_hash, r.timestamp) for r in records]
        events = await store.events(chain, kinds=MARKET_KINDS)
        lp_events = await store.events(chain, kinds=LP_KINDS)
    finally:
        await store.close()
    tape = fold_prices(market.state, chain, blocks, events)
    pools = pool_tokens(market.state)
    trades = trades_from_events(events, pools)
    liquidity = liquidity_from_events([*events, *lp_events], pools)
    swaps = sum(1 for e in events if e.name == "Swap")
    if not trades or not tape.coins():
        raise InputError(f"{chain} blocks {blocks[0].number}..{blocks[-1].number} hold {swaps} swaps but no trade "
                         "with known token decimals and USD prices to learn from")
    spans = windows(blocks[0].number, blocks[-1].number, window)
    samples = build_samples(trades, tape, spans, horizon, liquidity)
    model = train(samples, window=window, horizon=horizon)
    model.trained_on = {"source": "database", "chain": chain, "from_block": blocks[0].number,
                        "to_block": blocks[-1].number, "trades": len(trades),
                        "wallets": len({t.wallet for t in trades})}
    return model


def _scenario_config(blocks: int, informed: bool, seed: int) -> ScenarioConfig:
    from onchain.devnet.scenario import ScenarioConfig

    if blocks < 60:
        raise InputError("a scenario needs at least 60 blocks (three windows to train on, some to score)")
    return ScenarioConfig(blocks=blocks, informed_behaviour=informed, seed=seed)


def _scenario_evaluation(config: ScenarioConfig, window: int, horizon: int) -> Evaluation:
    from onchain.devnet.scenario import evaluate, run_scenario

    data = asyncio.run(run_scenario(config))
    evaluation = evaluate(data, window=window, horizon=horizon)
    evaluation.model.trained_on = {"source": "devnet scenario", "informed_behaviour": config.informed_behaviour,
                                   "seed": config.seed, "from_block": data.first_block, "to_block": data.last_block,
                                   "planted_auc": evaluation.auc, "planted_precision_at_10": evaluation.precision_at_10}
    return evaluation


@analytics_app.command("train")
def train_command(
    scenario: bool = typer.Option(False, "--scenario", help="Train on a fresh devnet scenario with planted "
                                  "informed traders instead of the configured database."),
    blocks: int = typer.Option(240, "--blocks", min=1, help="Scenario length in blocks (with --scenario)."),
    no_informed: bool = typer.Option(False, "--no-informed", help="Scenario: marked wallets trade like noise."),
    chain: str | None = typer.Option(None, "--chain", help="Chain to train on (database; default: the longest)."),
    window: int = typer.Option(20, "--window", min=2, help="Blocks per feature/label window."),
    horizon: int = typer.Option(1, "--horizon", min=1, help="Blocks after a trade at which it is marked to market."),
    seed: int = typer.Option(7, "--seed", help="Scenario seed."),
    as_json: bool = typer.Option(False, "--json", help="Print the figures as JSON."),
) -> None:
    """Retrain the smart-money model, store it as the next version, and print AUC, precision at k and
    the feature importances (out of sample: the newest windows are held out)."""
    from onchain.analytics.service import model_store
    from onchain.config import load_settings

    settings = load_settings()
    evaluation = None
    if scenario:
        evaluation = _scenario_evaluation(_scenario_config(blocks, not no_informed, seed), window, horizon)
        model = evaluation.model
    else:
        model = asyncio.run(_stored_model(settings, chain, window, horizon))
    path = model_store(settings).save(model)
    if as_json:
        typer.echo(json.dumps(_summary(model)))
        return
    _print_model(model, path)
    if evaluation is not None:
        auc = "n/a" if evaluation.auc is None else f"{evaluation.auc:.3f}"
        typer.echo(f"planted informed traders, later part of the run: AUC {auc}, "
                   f"precision at 10 {evaluation.precision_at_10:.2f} ({evaluation.wallets} wallets)")


@analytics_app.command("evaluate")
def evaluate_command(
    blocks: int = typer.Option(240, "--blocks", min=1, help="Scenario length in blocks."),
    no_informed: bool = typer.Option(False, "--no-informed", help="Marked wallets trade like noise traders."),
    window: int = typer.Option(20, "--window", min=2, help="Blocks per feature/label window."),
    horizon: int = typer.Option(1, "--horizon", min=1, help="Blocks after a trade at which it is marked to market."),
    seed: int = typer.Option(7, "--seed", help="Scenario seed."),
    as_json: bool = typer.Option(False, "--json", help='Print {"auc", "precision_at_10", "wallets", "blocks"}.'),
) -> None:
    """Run a fresh devnet scenario, train on its first half, and rank the planted informed traders on the
    second half: ROC AUC and precision at 10 against the marks the model never saw."""
    evaluation = _scenario_evaluation(_scenario_config(blocks, not no_informed, seed), window, horizon)
    if as_json:
        typer.echo(json.dumps(evaluation.as_json()))
        return
    auc = "n/a" if evaluation.auc is None else f"{evaluation.auc:.3f}"
    typer.echo(f"{evaluation.blocks} blocks, {evaluation.wallets} wallets "
               f"({'informed' if not no_informed else 'no informed'} behaviour)")
    typer.echo(f"AUC {auc}, precision at 10 {evaluation.precision_at_10:.2f}")
