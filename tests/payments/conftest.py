"""Payments fixtures: a container with every gateway adapter enabled on test credentials
(their HTTP is intercepted by each test)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from pydantic import SecretStr

from factories.payments import RAZORPAY_WHSEC, STRIPE_WHSEC
from marketplace.bootstrap import Container, build_container
from marketplace.platform.db import Database
from marketplace.settings import Settings


@pytest.fixture
async def gateways_container(settings: Settings, db: Database) -> AsyncIterator[Container]:
    # model_copy does not validate: secrets are given as SecretStr, as settings parse them.
    configured = settings.model_copy(
        update={
            "payment_providers": ["sandbox", "stripe", "paypal", "razorpay"],
            "stripe_secret_key": SecretStr("sk_test_51Mzq2mLkdIwHu7ix"),
            "stripe_webhook_secret": SecretStr(STRIPE_WHSEC),
            "paypal_client_id": "AYSq3RDGsmBLJE-otTkBtM",
            "paypal_client_secret": SecretStr("EGnHDxD_qRPdaLdZz8iCr8N7"),
            "paypal_webhook_id": "4JH86294D6297924G",
            "razorpay_key_id": "rzp_test_1DP5mmOlF5G5ag",
            "razorpay_key_secret": SecretStr("thisisasecret"),
            "razorpay_webhook_secret": SecretStr(RAZORPAY_WHSEC),
        }
    )
    built = build_container(configured, db=db, inline_jobs=True)
    await built.jobs.startup()
    yield built
    await built.jobs.stop()
    await built.cache.close()
    db.write_listeners.clear()
