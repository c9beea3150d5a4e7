"""The App's JWT: gidgethub's claims, the key parsed once, a JWT reused until shortly
before it expires (tests/test_github_double.py checks the double refuses a bad one)."""

from __future__ import annotations

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from bot.github import app_auth
from bot.github.app_auth import AppAuth
from bot.sandbox.harness import Keys


def decode(token: str, keys: Keys) -> dict[str, object]:
    """The claims, checked against the public key (times are the test's own)."""
    unchecked = {"verify_exp": False, "verify_iat": False, "verify_nbf": False}
    claims: dict[str, object] = jwt.decode(
        token, keys.public_pem, algorithms=["RS256"], options=unchecked
    )
    return claims


def test_claims_are_gidgethubs_and_a_jwt_is_reused_until_its_refresh(
    keys: Keys, monkeypatch: pytest.MonkeyPatch
) -> None:
    parsed = []
    load = app_auth.load_pem_private_key
    monkeypatch.setattr(
        app_auth, "load_pem_private_key", lambda *a, **k: parsed.append(1) or load(*a, **k)
    )
    now = [1_800_000_000.0]
    auth = AppAuth("4242", keys.private_pem, clock=lambda: now[0])
    first = auth.jwt()
    claims = decode(first, keys)
    assert claims == {"iat": 1_800_000_000 - 60, "exp": 1_800_000_000 - 60 + 540, "iss": "4242"}
    now[0] += app_auth.REFRESH_AFTER - 1
    assert auth.jwt() == first  # still minutes from its end: the same JWT
    now[0] += 1
    second = auth.jwt()
    assert second != first
    assert decode(second, keys)["iat"] == int(now[0]) - 60
    assert len(parsed) == 1  # the PEM was parsed once for both


def test_a_key_that_is_not_an_rsa_pem_is_refused_when_used() -> None:
    ec_pem = (
        ec.generate_private_key(ec.SECP256R1())
        .private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        .decode()
    )
    with pytest.raises(ValueError, match="not an RSA key"):
        AppAuth("1", ec_pem).jwt()
    with pytest.raises(ValueError):
        AppAuth("1", "not a key").jwt()
