"""Payments settings: the sandbox is the default everywhere except production, where it
stops the process from starting; an unknown provider, or an enabled gateway without its
credentials, is refused at bootstrap; production also refuses gateways in test mode."""

from __future__ import annotations

import pytest

from marketplace.bootstrap import build_container
from marketplace.payments.providers.paypal import PayPalProvider
from marketplace.payments.providers.razorpay import RazorpayProvider
from marketplace.payments.providers.stripe import StripeProvider
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


MEMORY = "sqlite+aiosqlite:///:memory:"
LIVE_GATEWAYS = {
    "stripe_secret_key": "sk_live_51Mzq2mLkdIwHu7ix",
    "stripe_webhook_secret": "whsec_live_0123",
    "paypal_client_id": "AYSq3RDGsmBLJE-otTkBtM",
    "paypal_client_secret": "EGnHDxD_qRPdaLdZz8iCr8N7",
    "paypal_webhook_id": "4JH86294D6297924G",
    "paypal_environment": "production",
    "razorpay_key_id": "rzp_live_1DP5mmOlF5G5ag",
    "razorpay_key_secret": "thisisasecret",
    "razorpay_webhook_secret": "whsec_rzp",
}


def test_an_unknown_provider_is_refused_at_bootstrap() -> None:
    with pytest.raises(ValueError, match="unknown payment provider 'square'"):
        build_container(Settings(database_url=MEMORY, payment_providers=["square"]))


def test_an_enabled_gateway_without_credentials_is_refused_at_bootstrap() -> None:
    settings = Settings(
        database_url=MEMORY,
        payment_providers=["stripe", "razorpay"],
        stripe_secret_key="sk_test_x",  # type: ignore[arg-type]
        razorpay_key_id="rzp_test_x",
    )
    with pytest.raises(ValueError, match="payment providers are not configured") as refused:
        build_container(settings)
    assert str(refused.value).split(": ", 1)[1].split("; ") == [
        "MARKETPLACE_STRIPE_WEBHOOK_SECRET is not set (stripe is enabled)",
        "MARKETPLACE_RAZORPAY_KEY_SECRET is not set (razorpay is enabled)",
        "MARKETPLACE_RAZORPAY_WEBHOOK_SECRET is not set (razorpay is enabled)",
    ]


def test_configured_gateways_are_built_from_settings() -> None:
    container = build_container(
        Settings(
            database_url=MEMORY,
            payment_providers=["stripe", "paypal", "razorpay"],
            **LIVE_GATEWAYS,  # type: ignore[arg-type]
        )
    )
    gateways = container.payment_gateways
    assert gateways.enabled == ("stripe", "paypal", "razorpay")
    assert isinstance(gateways["stripe"], StripeProvider)
    assert isinstance(gateways["paypal"], PayPalProvider)
    assert isinstance(gateways["razorpay"], RazorpayProvider)


def test_production_refuses_unconfigured_or_test_mode_gateways() -> None:
    enabled = ["stripe", "paypal", "razorpay"]
    unconfigured = Settings(**PRODUCTION, payment_providers=enabled)  # type: ignore[arg-type]
    test_mode = Settings(
        **PRODUCTION,  # type: ignore[arg-type]
        payment_providers=enabled,
        **(LIVE_GATEWAYS | {
            "stripe_secret_key": "sk_test_51Mzq2m",
            "paypal_environment": "sandbox",
            "razorpay_key_id": "rzp_test_1DP5mm",
        }),
    )  # fmt: skip
    live = Settings(**PRODUCTION, payment_providers=enabled, **LIVE_GATEWAYS)  # type: ignore[arg-type]

    assert unconfigured.production_problems() == [
        "MARKETPLACE_STRIPE_SECRET_KEY is not set (stripe is enabled)",
        "MARKETPLACE_STRIPE_WEBHOOK_SECRET is not set (stripe is enabled)",
        "MARKETPLACE_PAYPAL_CLIENT_ID is not set (paypal is enabled)",
        "MARKETPLACE_PAYPAL_CLIENT_SECRET is not set (paypal is enabled)",
        "MARKETPLACE_PAYPAL_WEBHOOK_ID is not set (paypal is enabled)",
        "MARKETPLACE_RAZORPAY_KEY_ID is not set (razorpay is enabled)",
        "MARKETPLACE_RAZORPAY_KEY_SECRET is not set (razorpay is enabled)",
        "MARKETPLACE_RAZORPAY_WEBHOOK_SECRET is not set (razorpay is enabled)",
        "MARKETPLACE_PAYPAL_ENVIRONMENT is not production",
    ]
    assert test_mode.production_problems() == [
        "MARKETPLACE_STRIPE_SECRET_KEY is a test-mode key",
        "MARKETPLACE_PAYPAL_ENVIRONMENT is not production",
        "MARKETPLACE_RAZORPAY_KEY_ID is a test-mode key",
    ]
    assert live.production_problems() == []
    with pytest.raises(RuntimeError, match="refusing to start in production"):
        build_container(unconfigured.model_copy(update={"database_url": MEMORY}))
