"""The caller's own API keys: list, create (the key is in the answer, this once), revoke.

Another user's key id answers 404, exactly like an id that does not exist.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Path, Response
from pydantic import BaseModel, ConfigDict, Field

from onchain.accounts.allowlist import MAX_CIDRS, InvalidCidr
from onchain.accounts.deps import AccountsDep, CurrentUser, quota_error
from onchain.accounts.names import MAX_NAME, InvalidName
from onchain.accounts.service import QuotaError
from onchain.accounts.store import KeyRecord
from onchain.api.errors import ApiError

router = APIRouter(prefix="/v2/users/me/keys", tags=["users"])

KeyId = Annotated[str, Path(pattern=r"^[0-9a-f-]{36}$", description="the key's id (not the key)")]


class KeyOut(BaseModel):
    id: str
    prefix: str = Field(description="the key's first characters, to tell keys apart")
    name: str
    allowedCidrs: list[str]
    createdAt: float
    lastUsedAt: float | None
    revokedAt: float | None
    active: bool

    @classmethod
    def of(cls, record: KeyRecord) -> KeyOut:
        return cls(**record.to_json())


class CreatedKeyOut(KeyOut):
    key: str = Field(description="the API key itself; shown only in this answer")


class KeysOut(BaseModel):
    keys: list[KeyOut]


class KeyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(default="default", min_length=1, max_length=MAX_NAME, pattern=r"^[\w .:@/-]+$")
    allowedCidrs: list[str] = Field(
        default_factory=list,
        max_length=MAX_CIDRS,
        description="networks (CIDR) this key may be used from; empty means anywhere (enterprise tier)",
    )


@router.get("")
async def list_keys(principal: CurrentUser, accounts: AccountsDep) -> KeysOut:
    assert principal.user_id is not None
    return KeysOut(keys=[KeyOut.of(record) for record in await accounts.store.keys(principal.user_id)])


@router.post("", status_code=201)
async def create_key(
    principal: CurrentUser,
    accounts: AccountsDep,
    body: Annotated[KeyIn, Body(examples=[{"name": "ci", "allowedCidrs": []}])] | None = None,
) -> CreatedKeyOut:
    """A new key for the caller, at the caller's tier. Keep it: only its hash is stored."""
    request = body or KeyIn()
    user = await accounts.user_for(principal)
    try:
        key, record = await accounts.create_key(user, request.name, request.allowedCidrs)
    except InvalidCidr as exc:
        raise ApiError(422, "invalid_cidr", str(exc)) from exc
    except InvalidName as exc:
        raise ApiError(422, "invalid_name", str(exc)) from exc
    except QuotaError as exc:
        raise quota_error(exc) from exc
    return CreatedKeyOut(key=key, **record.to_json())


@router.delete("/{key_id}", status_code=204)
async def revoke_key(key_id: KeyId, principal: CurrentUser, accounts: AccountsDep) -> Response:
    """Revoke one of the caller's keys; it stops working in every api process at once."""
    assert principal.user_id is not None
    if await accounts.revoke_key(key_id, principal.user_id, actor=principal.user_id) is None:
        raise ApiError.not_found(f"no key {key_id}", "key_not_found")
    return Response(status_code=204)
