"""One exception tree for every layer, sorted by what the caller does about it.

Every exception class defined in `onchain` descends from `OnchainError` (tests/unit/test_errors_tree.py
pins it), so the edges (the API's handlers, the CLI's one-line errors) can tell ours from a bug. Branches:
configuration to fix (`ConfigError`), input to fix (`InputError`), a refusal that other credentials or a
higher tier would lift (`DeniedError`), a write that collides with what is stored (`ConflictError`), and
the failing parts (RPC, decoding, storage, reorgs; the bus and the devnet beside their code).
"""

from __future__ import annotations


class OnchainError(Exception):
    """Base of every error this package raises on purpose."""


class ConfigError(OnchainError):
    """A setting is missing or invalid; the user must fix configuration."""


class InputError(OnchainError):
    """A file, argument or request the user gave cannot be used as it is; the user must change it."""


class DeniedError(OnchainError):
    """The caller may not do this: other credentials, a higher tier, fewer owned things or a pause
    before the next attempt would let it through."""


class ConflictError(OnchainError):
    """A write collides with what is stored (a unique value taken); reread and decide again."""


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
