"""Smart money: wallet trades and LP positions from decoded logs, their features, a forward-profit model, scores."""

from onchain.analytics.smart_money.features import FEATURES, Sample, WalletFeatures, build_samples, wallet_features
from onchain.analytics.smart_money.liquidity import LiquidityAction, LiquidityBook, liquidity_from_events
from onchain.analytics.smart_money.model import ModelMetrics, ModelStore, SmartMoneyModel, WalletScore, train
from onchain.analytics.smart_money.trades import PoolTokens, PriceTape, Trade, fold_prices, trades_from_events

__all__ = [
    "FEATURES",
    "LiquidityAction",
    "LiquidityBook",
    "ModelMetrics",
    "ModelStore",
    "PoolTokens",
    "PriceTape",
    "Sample",
    "SmartMoneyModel",
    "Trade",
    "WalletFeatures",
    "WalletScore",
    "build_samples",
    "fold_prices",
    "liquidity_from_events",
    "trades_from_events",
    "train",
    "wallet_features",
]
