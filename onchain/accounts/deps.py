"""FastAPI dependencies for routes that need to know the caller.

`CurrentUser` is what every user-owned resource (alerts, keys, preferences) takes: it answers 401
unless the request carried a valid API key or bearer token, and gives the `Principal` whose
`user_id` must appear in every query for that resource. `Caller` also accepts anonymous callers.
The security parameters only document the two schemes in OpenAPI; the middleware has already
checked the credentials.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request, Security
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from onchain.accounts.middleware import DECISION_SCOPE_KEY, PRINCIPAL_SCOPE_KEY
from onchain.accounts.ratelimit import Decision
from onchain.accounts.service import AccountsService, AuthError, Principal, QuotaError

api_key_scheme = APIKeyHeader(name="X-API-Key", auto_error=False, scheme_name="ApiKey")
bearer_scheme = HTTPBearer(auto_error=False, scheme_name="Bearer", bearerFormat="JWT")

def get_accounts(request: Request) -> AccountsService:
    accounts: AccountsService = request.app.state.accounts
    return accounts


def caller(request: Request) -> Principal:
    principal: Principal | None = request.scope.get(PRINCIPAL_SCOPE_KEY)
    if principal is None:
        raise RuntimeError("the accounts middleware is not installed (see onchain.accounts.install)")
    return principal


def require_user(
    principal: Annotated[Principal, Depends(caller)],
    _api_key: Annotated[str | None, Security(api_key_scheme)] = None,
    _bearer: Annotated[HTTPAuthorizationCredentials | None, Security(bearer_scheme)] = None,
) -> Principal:
    if not principal.authenticated:
        raise AuthError(401, "unauthorized", "this endpoint needs an API key (X-API-Key) or a bearer token")
    return principal


def rate_decision(request: Request) -> Decision | None:
    decision: Decision | None = request.scope.get(DECISION_SCOPE_KEY)
    return decision


def quota_error(exc: QuotaError) -> AuthError:
    return AuthError(403, "tier_limit", str(exc))


async def check_alert_quota(
    principal: Annotated[Principal, Depends(require_user)],
    accounts: Annotated[AccountsService, Depends(get_accounts)],
) -> Principal:
    """For alert creation: the user, once it is clear the tier allows one more active alert (else 403)."""
    try:
        await accounts.check_alert_quota(principal)
    except QuotaError as exc:
        raise quota_error(exc) from exc
    return principal


AccountsDep = Annotated[AccountsService, Depends(get_accounts)]
Caller = Annotated[Principal, Depends(caller)]
CurrentUser = Annotated[Principal, Depends(require_user)]
AlertQuotaUser = Annotated[Principal, Depends(check_alert_quota)]
RateDecision = Annotated[Decision | None, Depends(rate_decision)]
