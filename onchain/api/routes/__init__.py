"""Every REST router the app includes, one module per resource of design.md."""

from fastapi import APIRouter

from onchain.api.routes import alerts, analytics, chains, health, keys, market, mev, users

ROUTERS: list[APIRouter] = [
    health.router,
    chains.router,
    market.router,
    alerts.router,
    users.router,
    keys.router,
    analytics.router,
    mev.router,
]
