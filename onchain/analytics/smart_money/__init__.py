"""Smart money: wallet trades and features from decoded swaps, a model of forward profitability, scores."""

from onchain.analytics.smart_money.features import FEATURES, Sample, WalletFeatures, build_samples, wallet_features
from onchain.analytics.smart_money.model import ModelMetrics, ModelStore, SmartMoneyModel, WalletScore, train
from onchain.analytics.smart_money.trades import PoolTokens, PriceTape, Trade, fold_prices, trades_from_events

__all__ = [
    "FEATURES",
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
    "trades_from_events",
    "train",
    "wallet_features",
]
