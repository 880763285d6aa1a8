"""Bearer tokens: JWTs verified with PyJWT against the configured key, audience and issuer.

Three ways to configure the key, first one set wins: a JWKS file (`ONCHAIN_JWT_JWKS_FILE`, keys picked
by the token's `kid`, RS256/ES256), a PEM public key (`ONCHAIN_JWT_PUBLIC_KEY_FILE` with
`ONCHAIN_JWT_ALGORITHM` RS256 or ES256), or a shared secret (`ONCHAIN_JWT_SECRET`, HS256). The accepted
algorithms come from configuration only, never from the token header, so a token cannot pick a
weaker check (the classic "alg: none" and HS256-with-the-public-key confusions).

Claims: `sub` (the user id, required), `exp` (required), `aud` (must name our audience), `iss` (must
match when an issuer is configured), optional `tier` (the identity provider's word on the plan).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt

from onchain.config import Settings
from onchain.errors import ConfigError, DeniedError

ASYMMETRIC = ("RS256", "ES256")
MIN_SECRET_BYTES = 32
LEEWAY_SECONDS = 30
# A subject becomes the owner id of rows (user_alerts.user_id is 36 characters).
_SUBJECT_RE = re.compile(r"^[A-Za-z0-9._:@|-]{1,36}$")


class TokenError(DeniedError):
    """A bearer token we refuse; `code` says why (`token_expired`, `invalid_token`, `jwt_not_configured`)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True, slots=True)
class Claims:
    subject: str
    tier: str | None
    expires_at: int


class JwtVerifier:
    """Checks bearer tokens. Build with `JwtVerifier.from_settings`; `None` there means JWT is off."""

    def __init__(
        self,
        *,
        algorithms: tuple[str, ...],
        audience: str,
        issuer: str | None,
        key: Any = None,
        jwks: jwt.PyJWKSet | None = None,
    ) -> None:
        self.algorithms = algorithms
        self.audience = audience
        self.issuer = issuer
        self._key = key
        self._jwks = jwks

    @classmethod
    def from_settings(cls, settings: Settings) -> JwtVerifier | None:
        common: dict[str, Any] = {"audience": settings.jwt_audience, "issuer": settings.jwt_issuer or None}
        if not settings.jwt_audience:
            raise ConfigError("ONCHAIN_JWT_AUDIENCE must not be empty")
        if settings.jwt_jwks_file is not None:
            try:
                document = json.loads(Path(settings.jwt_jwks_file).read_text())
                jwks = jwt.PyJWKSet.from_dict(document)
            except (OSError, ValueError, jwt.PyJWKSetError, jwt.PyJWKError) as exc:
                raise ConfigError(f"cannot load JWKS from {settings.jwt_jwks_file}: {exc}") from exc
            return cls(algorithms=ASYMMETRIC, jwks=jwks, **common)
        if settings.jwt_public_key_file is not None:
            if settings.jwt_algorithm not in ASYMMETRIC:
                raise ConfigError(f"ONCHAIN_JWT_ALGORITHM must be one of {ASYMMETRIC} with a public key file")
            try:
                pem = Path(settings.jwt_public_key_file).read_bytes()
                key = jwt.get_algorithm_by_name(settings.jwt_algorithm).prepare_key(pem)
            except (OSError, ValueError, jwt.InvalidKeyError) as exc:
                raise ConfigError(f"cannot load the JWT public key {settings.jwt_public_key_file}: {exc}") from exc
            return cls(algorithms=(settings.jwt_algorithm,), key=key, **common)
        if settings.jwt_secret:
            if len(settings.jwt_secret.encode()) < MIN_SECRET_BYTES:
                raise ConfigError(f"ONCHAIN_JWT_SECRET must be at least {MIN_SECRET_BYTES} bytes for HS256")
            return cls(algorithms=("HS256",), key=settings.jwt_secret.encode(), **common)
        return None

    def _key_for(self, token: str) -> Any:
        if self._jwks is None:
            return self._key
        try:
            kid = jwt.get_unverified_header(token).get("kid")
        except jwt.InvalidTokenError as exc:
            raise TokenError("invalid_token", f"malformed token: {exc}") from exc
        for candidate in self._jwks.keys:
            if candidate.key_id == kid and candidate.algorithm_name in self.algorithms:
                return candidate.key
        raise TokenError("invalid_token", "token signed by a key this server does not know")

    def verify(self, token: str) -> Claims:
        key = self._key_for(token)
        required = ["exp", "sub", "aud"] + (["iss"] if self.issuer else [])
        try:
            claims = jwt.decode(
                token,
                key,
                algorithms=list(self.algorithms),
                audience=self.audience,
                issuer=self.issuer,
                leeway=LEEWAY_SECONDS,
                options={"require": required},
            )
        except jwt.ExpiredSignatureError as exc:
            raise TokenError("token_expired", "the token has expired") from exc
        except jwt.InvalidAudienceError as exc:
            raise TokenError("invalid_token", "the token is not meant for this service (audience)") from exc
        except jwt.InvalidIssuerError as exc:
            raise TokenError("invalid_token", "the token comes from an issuer this server does not trust") from exc
        except jwt.InvalidTokenError as exc:
            raise TokenError("invalid_token", f"invalid token: {exc}") from exc
        subject = claims.get("sub")
        if not isinstance(subject, str) or not _SUBJECT_RE.match(subject):
            raise TokenError("invalid_token", "the token's subject is not a valid user id")
        tier = claims.get("tier")
        return Claims(subject, tier if isinstance(tier, str) else None, int(claims["exp"]))
