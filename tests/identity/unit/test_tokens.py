"""Access tokens: every kind of forgery is refused; key rotation keeps valid tokens valid."""

from __future__ import annotations

import base64
import json
from datetime import timedelta

import jwt
import pytest

from marketplace.identity.tokens import AccessTokens, SigningKeys, TokenError

KEY = b"k" * 32
OTHER_KEY = b"o" * 32


def tokens(keys: dict[str, bytes] | None = None, current: str = "k1") -> AccessTokens:
    return AccessTokens(
        SigningKeys(keys=keys or {"k1": KEY}, current=current),
        issuer="marketplace",
        audience="marketplace-api",
        ttl=timedelta(minutes=15),
    )


def claims(**overrides: object) -> dict[str, object]:
    import time

    now = int(time.time())
    base: dict[str, object] = {
        "iss": "marketplace",
        "aud": "marketplace-api",
        "sub": "usr_1",
        "iat": now,
        "exp": now + 600,
        "jti": "jti_1",
    }
    base.update(overrides)
    return {k: v for k, v in base.items() if v is not None}


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def test_a_minted_token_verifies_with_its_claims() -> None:
    issuer = tokens()
    token, minted = issuer.mint(user_id="usr_1", platform_role="admin")

    verified = issuer.verify(token)

    assert verified == minted
    assert jwt.get_unverified_header(token) == {"alg": "HS256", "kid": "k1", "typ": "JWT"}


def test_alg_none_is_refused() -> None:
    header = b64(json.dumps({"alg": "none", "typ": "JWT", "kid": "k1"}).encode())
    payload = b64(json.dumps(claims()).encode())

    with pytest.raises(TokenError):
        tokens().verify(f"{header}.{payload}.")


@pytest.mark.parametrize(
    ("name", "token"),
    [
        ("signed with another key", jwt.encode(claims(), OTHER_KEY, "HS256", {"kid": "k1"})),
        ("another HMAC algorithm", jwt.encode(claims(), KEY, "HS512", {"kid": "k1"})),
        ("expired", jwt.encode(claims(exp=1_000_000), KEY, "HS256", {"kid": "k1"})),
        ("wrong audience", jwt.encode(claims(aud="someone-else"), KEY, "HS256", {"kid": "k1"})),
        ("wrong issuer", jwt.encode(claims(iss="evil"), KEY, "HS256", {"kid": "k1"})),
        ("unknown kid", jwt.encode(claims(), KEY, "HS256", {"kid": "k9"})),
        ("no kid", jwt.encode(claims(), KEY, "HS256")),
        ("missing exp", jwt.encode(claims(exp=None), KEY, "HS256", {"kid": "k1"})),
        ("missing sub", jwt.encode(claims(sub=None), KEY, "HS256", {"kid": "k1"})),
        ("missing jti", jwt.encode(claims(jti=None), KEY, "HS256", {"kid": "k1"})),
        ("not a JWT", "not-a-token"),
        ("empty", ""),
    ],
)
def test_forged_tokens_are_refused(name: str, token: str) -> None:
    with pytest.raises(TokenError):
        tokens().verify(token)


def test_a_tampered_payload_is_refused() -> None:
    token, _ = tokens().mint(user_id="usr_1", platform_role=None)
    header, _payload, signature = token.split(".")
    forged_payload = b64(json.dumps(claims(sub="usr_admin", role="admin")).encode())

    with pytest.raises(TokenError):
        tokens().verify(f"{header}.{forged_payload}.{signature}")


def test_an_asymmetric_token_signed_with_a_public_key_as_hmac_secret_is_refused() -> None:
    """The classic RS256→HS256 confusion: with the algorithm pinned, nothing but our HMAC
    keys ever verifies, whatever the header claims."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public_pem = private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    rs256 = jwt.encode(claims(), private, "RS256", {"kid": "k1"})
    header = b64(json.dumps({"alg": "HS256", "kid": "k1", "typ": "JWT"}).encode())
    payload = b64(json.dumps(claims()).encode())
    import hashlib
    import hmac

    signature = b64(hmac.new(public_pem, f"{header}.{payload}".encode(), hashlib.sha256).digest())

    with pytest.raises(TokenError):
        tokens().verify(rs256)
    with pytest.raises(TokenError):
        tokens().verify(f"{header}.{payload}.{signature}")


def test_rotating_the_signing_key_keeps_tokens_of_the_old_key_valid() -> None:
    old = tokens({"k1": KEY})
    token, minted = old.mint(user_id="usr_1", platform_role=None)
    rotated = tokens({"k1": KEY, "k2": OTHER_KEY}, current="k2")

    assert rotated.verify(token) == minted
    new_token, _ = rotated.mint(user_id="usr_1", platform_role=None)
    assert jwt.get_unverified_header(new_token)["kid"] == "k2"
    with pytest.raises(TokenError):
        old.verify(new_token)


def test_signing_keys_must_be_long_enough_and_current_must_exist() -> None:
    with pytest.raises(ValueError, match="shorter than 32 bytes"):
        SigningKeys(keys={"k1": b"short"}, current="k1")
    with pytest.raises(ValueError, match="not in the keyring"):
        SigningKeys(keys={"k1": KEY}, current="k2")


def test_a_token_verified_once_is_not_checked_again_until_it_expires(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import marketplace.identity.tokens as module

    issuer = tokens()
    token = jwt.encode(claims(exp=int(__import__("time").time()) + 2), KEY, "HS256", {"kid": "k1"})
    decoded: list[str] = []
    original = jwt.decode

    def counting(*args: object, **kwargs: object) -> object:
        decoded.append(str(args[0]))
        return original(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(module.jwt, "decode", counting)
    first = issuer.verify(token)
    assert issuer.verify(token) == first
    assert issuer.subject_without_lookup(token) == "usr_1"
    assert decoded == [token]  # the signature was checked once

    # Past its expiry the remembered answer is refused too, and forgotten.
    real_now = module.datetime.now
    later = first.expires_at + timedelta(seconds=1)

    class Later(module.datetime):  # type: ignore[misc,valid-type]
        @classmethod
        def now(cls, tz: object = None) -> module.datetime:  # type: ignore[override]
            return later if tz is not None else real_now()

    monkeypatch.setattr(module, "datetime", Later)
    with pytest.raises(TokenError):
        issuer.verify(token)
    assert token not in issuer._verified


def test_the_tokens_remembered_are_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    import marketplace.identity.tokens as module

    monkeypatch.setattr(module, "VERIFIED_TOKENS_KEPT", 3)
    issuer = tokens()
    minted = [issuer.mint(user_id=f"usr_{n}", platform_role=None)[0] for n in range(5)]
    for token in minted:
        issuer.verify(token)
    assert list(issuer._verified) == minted[2:]
