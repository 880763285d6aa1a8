"""What routes get injected: the runtime's edges and the app's own services, from `app.state`.

Routes never import globals; `create_app(settings, runtime)` puts everything on `app.state`, so each
test (or process role) runs with its own database, bus and counters.
"""

from __future__ import annotations

from typing import Annotated, Any, Protocol

from fastapi import Depends, Request

from onchain.api.telemetry import Telemetry
from onchain.api.ws_hub import Hub
from onchain.bus import Bus
from onchain.chains.registry import ChainRegistry
from onchain.config import Settings
from onchain.storage.store import Store


class EndpointReporter(Protocol):
    """A chain's JSON-RPC client as /health sees it."""

    def endpoint_status(self) -> list[dict[str, Any]]: ...


class Runtime(Protocol):
    """The wired edges the API serves from (see `onchain.runtime`)."""

    @property
    def store(self) -> Store: ...

    @property
    def bus(self) -> Bus: ...


def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def get_store(request: Request) -> Store:
    store: Store = request.app.state.runtime.store
    return store


def get_bus(request: Request) -> Bus:
    bus: Bus = request.app.state.runtime.bus
    return bus


def get_hub(request: Request) -> Hub:
    hub: Hub = request.app.state.hub
    return hub


def get_telemetry(request: Request) -> Telemetry:
    telemetry: Telemetry = request.app.state.telemetry
    return telemetry


def get_chains(request: Request) -> ChainRegistry:
    chains: ChainRegistry = request.app.state.chains
    return chains


def get_rpc_clients(request: Request) -> dict[str, EndpointReporter]:
    clients: dict[str, EndpointReporter] = request.app.state.rpc_clients
    return clients


SettingsDep = Annotated[Settings, Depends(get_settings)]
StoreDep = Annotated[Store, Depends(get_store)]
BusDep = Annotated[Bus, Depends(get_bus)]
HubDep = Annotated[Hub, Depends(get_hub)]
TelemetryDep = Annotated[Telemetry, Depends(get_telemetry)]
ChainsDep = Annotated[ChainRegistry, Depends(get_chains)]
RpcClientsDep = Annotated[dict[str, EndpointReporter], Depends(get_rpc_clients)]
