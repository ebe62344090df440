"""Carriers from settings: only `manual` by default; an enabled carrier without its
credentials refuses to start; enabled ones are wired with their settings."""

from __future__ import annotations

from datetime import timedelta

import pytest
from pydantic import SecretStr

from marketplace.bootstrap import build_container
from marketplace.platform.db import Database
from marketplace.settings import Settings
from marketplace.shipping.carriers import carriers_for


def test_only_manual_is_on_by_default() -> None:
    settings = Settings(_env_file=None)  # type: ignore[call-arg]

    assert settings.shipping_carriers == ["manual"]
    assert settings.shipping_problems() == []


def test_a_carrier_without_its_credentials_refuses_to_start(
    settings: Settings, db: Database
) -> None:
    broken = settings.model_copy(
        update={
            "shipping_carriers": ["manual", "easypost", "fedex"],
            "shipping_fedex_client_id": "x",
        }
    )

    assert broken.shipping_problems() == [
        "MARKETPLACE_SHIPPING_CARRIERS enables easypost without its credentials",
        "MARKETPLACE_SHIPPING_CARRIERS enables fedex without its credentials",
    ]
    with pytest.raises(ValueError, match="enables easypost without its credentials"):
        build_container(broken, db=db, inline_jobs=True)
    db.write_listeners.clear()  # installed before the carriers were refused


def test_enabled_carriers_are_wired_from_settings(settings: Settings, db: Database) -> None:
    configured = settings.model_copy(
        update={
            "shipping_carriers": ["manual", "easypost", "dhl", "fedex"],
            "shipping_easypost_api_key": SecretStr("EZTK_x"),
            "shipping_easypost_webhook_secret": SecretStr("whsec"),
            "shipping_dhl_api_key": SecretStr("dhl"),
            "shipping_fedex_client_id": "id",
            "shipping_fedex_client_secret": SecretStr("secret"),
            "shipping_poll_interval_minutes": 30,
            "shipping_max_poll_interval_hours": 12,
        }
    )

    built = build_container(configured, db=db, inline_jobs=True)
    carriers = carriers_for(built.uow_factory())

    assert carriers.enabled == ("manual", "easypost", "dhl", "fedex")
    assert (carriers.poll_interval, carriers.max_poll_interval) == (
        timedelta(minutes=30),
        timedelta(hours=12),
    )
    assert [carriers.tracker_for(c).name for c in ("dhl", "fedex", "ups", "other")] == [
        "dhl",
        "fedex",
        "easypost",
        "manual",
    ]
    db.write_listeners.clear()  # the listeners this container installed
