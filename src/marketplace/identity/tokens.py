"""Access tokens (JWT), refresh tokens and API keys: minting and checking.

Access tokens are HS256 JWTs with the algorithm pinned, `kid` chosen from a keyring (so
signing keys rotate without logging everybody out), and `iss`, `aud`, `exp`, `iat`, `sub`
and `jti` required. Refresh tokens and API keys are opaque random strings; only their
SHA-256 is stored (they are high-entropy, so a slow hash adds nothing).
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt

from marketplace.platform.clock import utcnow
from marketplace.platform.ids import new_id

ALGORITHM = "HS256"
API_KEY_PREFIX = "mk_"
REQUIRED_CLAIMS = ("exp", "iat", "sub", "iss", "aud", "jti")


@dataclass(frozen=True, slots=True)
class SigningKeys:
    """HMAC keys by id; `current` signs, all verify."""

    keys: Mapping[str, bytes]
    current: str

    def __post_init__(self) -> None:
        if self.current not in self.keys:
            raise ValueError(f"current signing key {self.current!r} is not in the keyring")
        for kid, key in self.keys.items():
            if len(key) < 32:
                raise ValueError(f"signing key {kid!r} is shorter than 32 bytes")


@dataclass(frozen=True, slots=True)
class AccessClaims:
    user_id: str
    jti: str
    issued_at: datetime
    expires_at: datetime
    platform_role: str | None


class TokenError(Exception):
    """Any reason an access token is refused; deliberately not more specific to callers."""


# Access tokens verified lately, by the token's own text. A client sends the same token with
# every request until it expires, and a request may need its subject twice (the idempotency
# key's owner, then the principal): the HMAC, the base64 and the claims' checks are done
# once per token and process. What is cached is only what the signature proved; its expiry
# is checked on every use, and the user, session and role behind it are still read per
# request. The keyring is fixed for a process's life, so a cached answer cannot outlive its key.
VERIFIED_TOKENS_KEPT = 10_000


class AccessTokens:
    def __init__(self, keys: SigningKeys, *, issuer: str, audience: str, ttl: timedelta) -> None:
        self.keys = keys
        self.issuer = issuer
        self.audience = audience
        self.ttl = ttl
        self._verified: dict[str, AccessClaims] = {}

    def mint(self, *, user_id: str, platform_role: str | None) -> tuple[str, AccessClaims]:
        now = utcnow().replace(microsecond=0)
        claims = AccessClaims(
            user_id=user_id,
            jti=new_id("jti"),
            issued_at=now,
            expires_at=now + self.ttl,
            platform_role=platform_role,
        )
        payload: dict[str, Any] = {
            "iss": self.issuer,
            "aud": self.audience,
            "sub": user_id,
            "iat": int(now.timestamp()),
            "exp": int(claims.expires_at.timestamp()),
            "jti": claims.jti,
        }
        if platform_role:
            payload["role"] = platform_role
        token = jwt.encode(
            payload,
            self.keys.keys[self.keys.current],
            algorithm=ALGORITHM,
            headers={"kid": self.keys.current},
        )
        return token, claims

    def verify(self, token: str) -> AccessClaims:
        claims = self._verified.get(token)
        if claims is not None:
            # PyJWT's rule, with no leeway: expired once `exp` is not after now.
            if claims.expires_at.timestamp() > datetime.now(UTC).timestamp():
                return claims
            del self._verified[token]
            raise TokenError("ExpiredSignatureError")
        claims = self._verify_signed(token)
        if len(self._verified) >= VERIFIED_TOKENS_KEPT:
            # Oldest first (insertion order): a flood of new tokens cannot grow the cache.
            del self._verified[next(iter(self._verified))]
        self._verified[token] = claims
        return claims

    def _verify_signed(self, token: str) -> AccessClaims:
        try:
            header = jwt.get_unverified_header(token)
            kid = header.get("kid")
            if header.get("alg") != ALGORITHM or not isinstance(kid, str):
                raise TokenError("unexpected header")
            key = self.keys.keys.get(kid)
            if key is None:
                raise TokenError("unknown key id")
            payload = jwt.decode(
                token,
                key,
                algorithms=[ALGORITHM],
                audience=self.audience,
                issuer=self.issuer,
                options={"require": list(REQUIRED_CLAIMS)},
            )
        except jwt.PyJWTError as error:
            raise TokenError(type(error).__name__) from None

        role = payload.get("role")
        return AccessClaims(
            user_id=str(payload["sub"]),
            jti=str(payload["jti"]),
            issued_at=datetime.fromtimestamp(int(payload["iat"]), UTC),
            expires_at=datetime.fromtimestamp(int(payload["exp"]), UTC),
            platform_role=role if isinstance(role, str) else None,
        )

    def subject_without_lookup(self, token: str) -> str | None:
        """The verified subject, for cheap uses such as scoping idempotency keys."""
        try:
            return self.verify(token).user_id
        except TokenError:
            return None


def sha256_hex(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def new_refresh_token() -> str:
    return secrets.token_urlsafe(32)


def new_api_key() -> str:
    return API_KEY_PREFIX + secrets.token_urlsafe(32)


def looks_like_api_key(credential: str) -> bool:
    return credential.startswith(API_KEY_PREFIX)
