"""Settings from `ONCHAIN_*` environment variables and an optional `onchain.toml`.

Settings are built explicitly (`load_settings()`) and passed in, never read at import time,
so every test and every process role can run with its own database and Redis prefix.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field, PrivateAttr, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict, SettingsError

from onchain.errors import ConfigError

DEFAULT_DATA_DIR = Path("data")


class FactoryConfig(BaseModel):
    """A Uniswap V2-style factory to attribute pools to (forks are rows, not code)."""

    protocol: str
    chain: str = "ethereum"
    address: str
    init_code_hash: str


CHAIN_ENDPOINT_SUFFIXES = ("_RPC_URLS", "_WS_URLS")


def _chain_endpoint_variables() -> dict[str, str]:
    return {
        name: value
        for name, value in os.environ.items()
        if name.startswith("ONCHAIN_") and name.endswith(CHAIN_ENDPOINT_SUFFIXES)
    }


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ONCHAIN_", extra="ignore")

    data_dir: Path = DEFAULT_DATA_DIR
    database_url: str = ""
    redis_url: str = ""
    redis_prefix: str = "onchain:"
    config: Path | None = None
    jwt_secret: str = ""
    # Accounts and security (onchain/accounts): JWT verification beside the HS256 secret above, the API key
    # pepper (unset: a generated file under data_dir), proxies whose X-Forwarded-For is believed, per-tier
    # limit overrides ({"pro": {"requests_per_minute": 600}}), request and WebSocket frame size limits.
    jwt_algorithm: str = "HS256"
    jwt_public_key_file: Path | None = None
    jwt_jwks_file: Path | None = None
    jwt_audience: str = "onchain-services"
    jwt_issuer: str = ""
    api_key_pepper: str = ""
    trusted_proxies: list[str] = Field(default_factory=list)
    tiers: dict[str, dict[str, Any]] = Field(default_factory=dict)
    max_request_bytes: int = 1 << 20
    ws_max_frame_bytes: int = 64 << 10
    # Concurrent anonymous WebSocket connections per client address (keyed callers get their tier's); 0: no cap.
    ws_anonymous_connections: int = 1000
    webhook_allow_private: bool = False
    # Alert delivery: the first retry delay in seconds (doubling, with jitter, up to the cap) and how long a
    # worker leases the rows it claims (a worker killed mid-send leaves them to others after this).
    alert_retry_base_delay: float = 10.0
    alert_retry_max_delay: float = 3600.0
    alert_delivery_lease: float = 60.0
    # Alert email: no host means the email channel is not configured (deliveries wait, then dead-letter).
    smtp_host: str = ""
    smtp_port: int = 25
    smtp_from: str = "onchain-alerts@localhost"
    smtp_username: str = ""
    smtp_password: str = ""
    smtp_starttls: bool = False
    smtp_ssl: bool = False
    log_level: str = "INFO"
    cors_origins: list[str] = Field(default_factory=list)
    factories: list[FactoryConfig] = Field(default_factory=list)
    chain_overrides: dict[str, dict[str, Any]] = Field(default_factory=dict)
    # `ONCHAIN_<SLUG>_RPC_URLS` / `ONCHAIN_<SLUG>_WS_URLS` (comma lists) as the environment sets them: their
    # names follow the chains (onchain.toml may add one), so no field can declare them. Private, so no
    # setting of its own (`ONCHAIN_CHAIN_ENDPOINTS`) reads them; `ChainRegistry.load` applies them.
    _chain_endpoints: dict[str, str] = PrivateAttr(default_factory=_chain_endpoint_variables)

    @property
    def chain_endpoints(self) -> Mapping[str, str]:
        """The chain endpoint variables of the environment, by variable name."""
        return self._chain_endpoints

    @property
    def resolved_database_url(self) -> str:
        """The configured URL, else the SQLite file under the data directory."""
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{(self.data_dir / 'onchain.db').as_posix()}"


def load_settings(**overrides: Any) -> Settings:
    """Environment first, then `onchain.toml` (or `ONCHAIN_CONFIG`) fills what env left unset."""
    try:
        settings = Settings(**overrides)
    except ValidationError as exc:
        raise ConfigError(f"invalid setting: {_reasons(exc, env=True)}") from exc
    except SettingsError as exc:  # a JSON-valued variable (ONCHAIN_TIERS, ...) that is not JSON
        raise ConfigError(f"invalid setting: {exc}") from exc
    path = settings.config or (Path("onchain.toml") if Path("onchain.toml").exists() else None)
    if path is None:
        return settings
    try:
        document = tomllib.loads(Path(path).read_text())
    except FileNotFoundError as exc:
        raise ConfigError(f"config file not found: {path}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path} is not valid TOML: {exc}") from exc
    from_file: dict[str, Any] = {}
    for key, value in document.get("onchain", document).items():
        if key == "chains":
            from_file["chain_overrides"] = value
        elif f"ONCHAIN_{key.upper()}" not in os.environ and key not in overrides:
            from_file[key] = value
    merged = settings.model_dump() | from_file | overrides
    try:
        return Settings(**merged)
    except ValidationError as exc:
        raise ConfigError(f"invalid setting in {path}: {_reasons(exc, env=False)}") from exc


def _reasons(exc: ValidationError, *, env: bool) -> str:
    """Each refused setting on one line: its name (as the environment spells it, for env) and why."""
    reasons = []
    for error in exc.errors(include_url=False):
        name = ".".join(str(part) for part in error["loc"])
        reasons.append(f"{f'ONCHAIN_{name.upper()}' if env else name}: {error['msg']}")
    return "; ".join(reasons)
