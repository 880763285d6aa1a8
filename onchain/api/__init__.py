"""The serving edge: REST, `/v2/realtime`, `/health`, `/metrics` and the dashboard."""

from onchain.api.app import create_app, uvicorn_config

__all__ = ["create_app", "uvicorn_config"]
