"""Bearer token verification: HS256 secret, RS256 public key file, ES256 JWKS with key ids."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from onchain.accounts.jwt import JwtVerifier, TokenError
from onchain.config import Settings
from onchain.errors import ConfigError

SECRET = "unit-test-secret-0123456789abcdef0123456789"


def claims(**overrides: Any) -> dict[str, Any]:
    return {"sub": "user-1", "aud": "onchain-services", "exp": int(time.time()) + 600} | overrides


def _b64(document: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(document).encode()).rstrip(b"=").decode()


def verifier(**settings: Any) -> JwtVerifier:
    built = JwtVerifier.from_settings(Settings(**settings))
    assert built is not None
    return built


def test_hs256_checks_signature_expiry_audience_issuer_and_subject() -> None:
    check = verifier(jwt_secret=SECRET, jwt_issuer="https://id.example")
    good = claims(iss="https://id.example", tier="pro")
    verified = check.verify(jwt.encode(good, SECRET, algorithm="HS256"))
    assert (verified.subject, verified.tier) == ("user-1", "pro")
    cases = {
        "token_expired": claims(iss="https://id.example", exp=int(time.time()) - 120),
        "invalid_token": claims(iss="https://id.example", aud="other"),
    }
    for code, bad in cases.items():
        with pytest.raises(TokenError) as refused:
            check.verify(jwt.encode(bad, SECRET, algorithm="HS256"))
        assert refused.value.code == code
    for bad in (claims(iss="https://evil.example"), claims(), claims(iss="https://id.example", sub="a b")):
        with pytest.raises(TokenError):
            check.verify(jwt.encode(bad, SECRET, algorithm="HS256"))
    with pytest.raises(TokenError):
        check.verify(jwt.encode(good, "another-secret-0123456789abcdef0123456", algorithm="HS256"))
    with pytest.raises(TokenError):  # "alg": "none" never passes
        check.verify(jwt.encode(good, None, algorithm="none"))
    with pytest.raises(TokenError):
        check.verify("not.a.token")


def test_unconfigured_or_weak_configuration() -> None:
    assert JwtVerifier.from_settings(Settings()) is None
    with pytest.raises(ConfigError):
        JwtVerifier.from_settings(Settings(jwt_secret="short"))


def test_rs256_public_key_file_refuses_hs256_signed_with_the_public_key(tmp_path: Path) -> None:
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    (tmp_path / "pub.pem").write_bytes(pem)
    check = verifier(jwt_public_key_file=tmp_path / "pub.pem", jwt_algorithm="RS256")
    assert check.verify(jwt.encode(claims(), private, algorithm="RS256")).subject == "user-1"
    # The classic confusion: an HS256 token whose HMAC key is the (public) PEM. Only RS256 is accepted.
    signing_input = f"{_b64({'alg': 'HS256', 'typ': 'JWT'})}.{_b64(claims())}"
    mac = base64.urlsafe_b64encode(hmac.new(pem, signing_input.encode(), hashlib.sha256).digest()).rstrip(b"=")
    with pytest.raises(TokenError):
        check.verify(f"{signing_input}.{mac.decode()}")
    with pytest.raises(TokenError):
        check.verify(jwt.encode(claims(), SECRET, algorithm="HS256"))
    with pytest.raises(ConfigError):
        JwtVerifier.from_settings(Settings(jwt_public_key_file=tmp_path / "pub.pem", jwt_algorithm="HS256"))


def test_es256_jwks_picks_the_key_by_kid(tmp_path: Path) -> None:
    keys = {kid: ec.generate_private_key(ec.SECP256R1()) for kid in ("a", "b")}
    documents = []
    for kid, private in keys.items():
        jwk = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(private.public_key()))
        documents.append(jwk | {"kid": kid, "alg": "ES256", "use": "sig"})
    (tmp_path / "jwks.json").write_text(json.dumps({"keys": documents}))
    check = verifier(jwt_jwks_file=tmp_path / "jwks.json")
    for kid, private in keys.items():
        token = jwt.encode(claims(sub=f"user-{kid}"), private, algorithm="ES256", headers={"kid": kid})
        assert check.verify(token).subject == f"user-{kid}"
    wrong_kid = jwt.encode(claims(), keys["a"], algorithm="ES256", headers={"kid": "b"})
    unknown_kid = jwt.encode(claims(), keys["a"], algorithm="ES256", headers={"kid": "zzz"})
    for token in (wrong_kid, unknown_kid):
        with pytest.raises(TokenError):
            check.verify(token)
