"""One exception tree for every layer, sorted by what the caller does about it."""

from __future__ import annotations


class OnchainError(Exception):
    """Base of every error this package raises on purpose."""


class ConfigError(OnchainError):
    """A setting is missing or invalid; the user must fix configuration."""


class InputError(OnchainError):
    """A file or argument the user gave cannot be used as it is."""


class UnknownChainError(ConfigError):
    """A chain name or id that is not in the registry."""


class RpcError(OnchainError):
    """A JSON-RPC call failed."""


class RetriableRpcError(RpcError):
    """Transient: timeout, connection refused, 429/5xx. Another try or endpoint may succeed."""


class RpcTimeoutError(RetriableRpcError):
    """The endpoint did not answer in time."""


class RateLimitedError(RetriableRpcError):
    """The endpoint said we are calling too often."""


class NodeError(RpcError):
    """The node answered with a JSON-RPC error object (code, message)."""

    def __init__(self, code: int, message: str, data: object = None) -> None:
        super().__init__(f"node error {code}: {message}")
        self.code = code
        self.rpc_message = message
        self.data = data


class MalformedResponseError(RpcError):
    """The answer is not what JSON-RPC or the method promises (bad JSON, wrong id, missing fields)."""


class InconsistentDataError(RpcError):
    """Answers contradict each other (a log whose block hash is not the block's)."""


class AllEndpointsFailedError(RpcError):
    """Every endpoint of a chain failed for one request."""


class DecodeError(OnchainError):
    """A log matched an event signature but its topics or data do not fit the ABI."""


class StorageError(OnchainError):
    """The database refused or failed a write or read."""


class ReorgError(OnchainError):
    """A reorganisation deeper than we can roll back."""
