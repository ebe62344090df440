"""Payments settings: the sandbox is the default everywhere except production, where it
stops the process from starting; an unknown provider is refused at bootstrap."""

from __future__ import annotations

import pytest

from marketplace.bootstrap import build_container
from marketplace.settings import Settings

PRODUCTION = {
    "env": "production",
    "secret_key": "a-production-secret-of-enough-length-0123456789",
    "jwt_signing_keys": {"k1": "x" * 40},
    "encryption_keys": {"e1": "MDEyMzQ1Njc4OTAxMjM0NTY3ODkwMTIzNDU2Nzg5MDE="},
    "encryption_current_key": "e1",
}


def test_the_sandbox_is_the_default_provider_and_blocks_production() -> None:
    assert Settings(env="development").payment_providers == ["sandbox"]
    problems = Settings(**PRODUCTION).production_problems()  # type: ignore[arg-type]
    assert problems == ["MARKETPLACE_PAYMENT_PROVIDERS enables the sandbox provider"]
    assert Settings(**PRODUCTION, payment_providers=[]).production_problems() == []  # type: ignore[arg-type]


def test_a_provider_without_an_adapter_is_refused_at_bootstrap() -> None:
    with pytest.raises(ValueError, match="'stripe' has no adapter yet"):
        build_container(
            Settings(database_url="sqlite+aiosqlite:///:memory:", payment_providers=["stripe"])
        )
