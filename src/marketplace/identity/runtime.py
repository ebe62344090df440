"""The identity context's collaborators for one process: configuration, hashing, tokens,
cache-backed lockout and rate limits, and the field cipher. Built by the composition root."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from marketplace.identity.domain import LockoutPolicy
from marketplace.identity.passwords import HashParameters, Passwords
from marketplace.identity.tokens import AccessTokens, SigningKeys
from marketplace.platform.cache import Cache
from marketplace.platform.crypto import FieldCipher
from marketplace.platform.ratelimit import RateLimit, RateLimiter


@dataclass(frozen=True)
class IdentityConfig:
    signing_keys: SigningKeys
    issuer: str = "marketplace"
    audience: str = "marketplace-api"
    access_ttl: timedelta = timedelta(minutes=15)
    refresh_ttl: timedelta = timedelta(days=30)
    hash_parameters: HashParameters = field(default_factory=HashParameters)
    lockout: LockoutPolicy = field(default_factory=LockoutPolicy)
    # Per client IP, across all emails: slows credential stuffing without locking accounts.
    auth_rate_limit: RateLimit = field(default_factory=lambda: RateLimit(30, 60))


class IdentityRuntime:
    def __init__(self, config: IdentityConfig, *, cache: Cache, cipher: FieldCipher) -> None:
        self.config = config
        self.cache = cache
        self.cipher = cipher
        self.limiter = RateLimiter(cache)
        self.passwords = Passwords(config.hash_parameters)
        self.access_tokens = AccessTokens(
            config.signing_keys,
            issuer=config.issuer,
            audience=config.audience,
            ttl=config.access_ttl,
        )
