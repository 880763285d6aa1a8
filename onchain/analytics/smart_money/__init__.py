"""Smart money: wallet trades and LP positions from decoded logs, their features, a forward-profit model, scores.

Import the modules themselves (`features`, `liquidity`, `model`, `trades`): this package re-exports nothing,
so reading features or trades never imports the model's scikit-learn.
"""
