"""Each carrier adapter at its HTTP boundary: the requests it sends (paths, headers,
credentials, bodies) and how it reads the carrier's recorded answers and signatures.

EasyPost goes through its official SDK (requests: mocked with `responses`), DHL and FedEx
through httpx (mocked with respx). Nothing reaches the network.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime

import httpx
import pytest
import responses
import respx

from factories.carriers import (
    DHL_NOT_FOUND,
    EASYPOST_SECRET,
    FEDEX_TOKEN,
    dhl_event,
    dhl_shipments,
    easypost_detail,
    easypost_event,
    easypost_signature,
    easypost_tracker,
    fedex_scan,
    fedex_track,
)
from marketplace.shipping.carriers import Carriers
from marketplace.shipping.carriers.dhl import DhlAdapter
from marketplace.shipping.carriers.easypost import EasyPostAdapter
from marketplace.shipping.carriers.fedex import FedexAdapter
from marketplace.shipping.domain.adapter import (
    CarrierUnavailable,
    InvalidSignature,
    TrackRequest,
)
from marketplace.shipping.domain.tracking import CarrierEvent

NOW = datetime(2026, 12, 3, tzinfo=UTC)
UPS_NUMBER = "1Z999AA10123456784"
EASYPOST_BASE = "https://api.easypost.com/v2"
DHL_BASE = "https://api-eu.dhl.com"
FEDEX_BASE = "https://apis-sandbox.fedex.com"


def easypost() -> EasyPostAdapter:
    return EasyPostAdapter(
        api_key="EZTK_test_key", webhook_secret=EASYPOST_SECRET, api_base=EASYPOST_BASE
    )


def ups_request(ref: str | None = None) -> TrackRequest:
    return TrackRequest("shp_1", "ups", UPS_NUMBER, ref)


DETAILS = [
    easypost_detail("pre_transit", "2026-12-01T09:00:00Z", "Label created"),
    easypost_detail("in_transit", "2026-12-01T18:30:00Z", "Departed facility", "San Francisco"),
    easypost_detail("unknown", "2026-12-01T19:00:00Z", "Information unavailable"),
]
EXPECTED = [
    CarrierEvent("label_created", datetime(2026, 12, 1, 9, 0, tzinfo=UTC), "Label created"),
    CarrierEvent(
        "in_transit",
        datetime(2026, 12, 1, 18, 30, tzinfo=UTC),
        "Departed facility",
        "San Francisco, CA, US",
    ),
]


async def test_easypost_creates_a_tracker_per_shipment_with_the_sdk() -> None:
    tracker = easypost_tracker("trk_0a1b2c", UPS_NUMBER, "in_transit", DETAILS)
    with responses.RequestsMock() as mock:
        mock.add(responses.POST, f"{EASYPOST_BASE}/trackers", json=tracker, status=201)
        registration = await easypost().register(ups_request())
        sent = mock.calls[0].request

    assert registration.carrier_ref == "trk_0a1b2c"
    assert list(registration.events) == EXPECTED
    assert sent.headers["Authorization"] == "Bearer EZTK_test_key"
    assert json.loads(sent.body) == {"tracker": {"tracking_code": UPS_NUMBER, "carrier": "UPS"}}


async def test_easypost_errors_are_carrier_unavailable() -> None:
    with responses.RequestsMock() as mock:
        mock.add(
            responses.POST,
            f"{EASYPOST_BASE}/trackers",
            json={"error": {"code": "INTERNAL_SERVER_ERROR", "message": "oops", "errors": []}},
            status=500,
        )
        with pytest.raises(CarrierUnavailable, match="easypost"):
            await easypost().register(ups_request())


def test_easypost_webhook_signed_with_the_nfkd_secret_is_read() -> None:
    tracker = easypost_tracker("trk_0a1b2c", UPS_NUMBER, "in_transit", DETAILS)
    body = easypost_event("evt_1", tracker)

    update = easypost().parse_webhook(body, {"x-hmac-signature": easypost_signature(body)}, NOW)

    assert (update.event_id, update.tracking_number, update.carrier_ref) == (
        "evt_1",
        UPS_NUMBER,
        "trk_0a1b2c",
    )
    assert list(update.events) == EXPECTED


@pytest.mark.parametrize(
    "sign",
    [
        lambda body: {},
        lambda body: {"x-hmac-signature": "hmac-sha256-hex=" + "0" * 64},
        lambda body: {"x-hmac-signature": easypost_signature(body + b" ")},
        lambda body: {"x-hmac-signature": easypost_signature(body, secret="another secret")},
        lambda body: {"x-hmac-signature": easypost_signature(body).split("=", 1)[1]},
    ],
    ids=["missing", "zeros", "other body", "other secret", "no scheme prefix"],
)
def test_easypost_webhook_with_a_bad_signature_is_refused(
    sign: Callable[[bytes], dict[str, str]],
) -> None:
    body = easypost_event("evt_1", easypost_tracker("trk_1", UPS_NUMBER, "delivered"))
    with pytest.raises(InvalidSignature):
        easypost().parse_webhook(body, sign(body), NOW)


def test_easypost_secret_is_normalised_before_signing() -> None:
    body = easypost_event("evt_1", easypost_tracker("trk_1", UPS_NUMBER, "delivered"))
    import hashlib
    import hmac

    raw_key = EASYPOST_SECRET.encode()  # the composed form, not NFKD
    unnormalised = "hmac-sha256-hex=" + hmac.new(raw_key, body, hashlib.sha256).hexdigest()

    with pytest.raises(InvalidSignature):
        easypost().parse_webhook(body, {"x-hmac-signature": unnormalised}, NOW)


@respx.mock(base_url=DHL_BASE, assert_all_called=True)
async def test_dhl_is_asked_with_its_api_key_and_its_events_are_read(
    respx_mock: respx.MockRouter,
) -> None:
    route = respx_mock.get("/track/shipments", params={"trackingNumber": "1234567890"}).respond(
        200,
        json=dhl_shipments(
            "1234567890",
            [
                dhl_event("delivered", "2026-12-02T11:04:00+01:00", "Delivered", "Berlin"),
                dhl_event("transit", "2026-12-02T07:30:00+01:00", "Shipment is out for delivery"),
                dhl_event("transit", "2026-12-01T20:00:00", "Processed at parcel center"),
                dhl_event("pre-transit", "2026-12-01T10:00:00Z", "Shipment information received"),
                dhl_event("unknown", "2026-12-01T09:00:00Z", "Status unknown"),
            ],
        ),
    )

    events = await DhlAdapter(api_key="dhl-key", base_url=DHL_BASE).track(
        TrackRequest("shp_1", "dhl", "1234567890")
    )

    assert route.calls.last.request.headers["DHL-API-Key"] == "dhl-key"
    assert [(e.status, e.occurred_at, e.description, e.location) for e in events] == [
        ("delivered", datetime(2026, 12, 2, 10, 4, tzinfo=UTC), "Delivered", "Berlin, DE"),
        (
            "out_for_delivery",
            datetime(2026, 12, 2, 6, 30, tzinfo=UTC),
            "Shipment is out for delivery",
            "Bonn, DE",
        ),
        (
            "in_transit",
            datetime(2026, 12, 1, 20, 0, tzinfo=UTC),
            "Processed at parcel center",
            "Bonn, DE",
        ),
        (
            "label_created",
            datetime(2026, 12, 1, 10, 0, tzinfo=UTC),
            "Shipment information received",
            "Bonn, DE",
        ),
    ]


@respx.mock(base_url=DHL_BASE)
async def test_dhl_unknown_number_is_no_news_and_errors_are_unavailable(
    respx_mock: respx.MockRouter,
) -> None:
    adapter = DhlAdapter(api_key="dhl-key", base_url=DHL_BASE)
    request = TrackRequest("shp_1", "dhl", "1234567890")
    respx_mock.get("/track/shipments").mock(
        side_effect=[
            httpx.Response(404, json=DHL_NOT_FOUND),
            httpx.Response(429, json={"title": "Too many requests", "status": 429}),
            httpx.ConnectTimeout("timed out"),
        ]
    )

    assert list(await adapter.track(request)) == []
    with pytest.raises(CarrierUnavailable, match="429"):
        await adapter.track(request)
    with pytest.raises(CarrierUnavailable, match="ConnectTimeout"):
        await adapter.track(request)


@respx.mock(base_url=FEDEX_BASE, assert_all_called=True)
async def test_fedex_gets_a_token_once_then_tracks(respx_mock: respx.MockRouter) -> None:
    token = respx_mock.post("/oauth/token").respond(200, json=FEDEX_TOKEN)
    track = respx_mock.post("/track/v1/trackingnumbers").respond(
        200,
        json=fedex_track(
            "123456789012",
            [
                fedex_scan("DL", "2026-12-02T12:01:00-07:00", "Delivered", "NORTON"),
                fedex_scan("OD", "2026-12-02T08:00:00-07:00", "On FedEx vehicle for delivery"),
                fedex_scan("AR", "2026-12-01T22:10:00-06:00", "Arrived at FedEx location"),
                fedex_scan("OC", "2026-12-01T10:00:00-06:00", "Shipment information sent to FedEx"),
            ],
        ),
    )
    adapter = FedexAdapter(client_id="fx-id", client_secret="fx-secret", base_url=FEDEX_BASE)
    request = TrackRequest("shp_1", "fedex", "123456789012")

    first = await adapter.track(request)
    await adapter.track(request)

    assert token.call_count == 1
    assert dict(httpx.QueryParams(token.calls.last.request.content.decode())) == {
        "grant_type": "client_credentials",
        "client_id": "fx-id",
        "client_secret": "fx-secret",
    }
    assert track.call_count == 2
    sent = track.calls.last.request
    assert sent.headers["Authorization"] == f"Bearer {FEDEX_TOKEN['access_token']}"
    assert json.loads(sent.content) == {
        "includeDetailedScans": True,
        "trackingInfo": [{"trackingNumberInfo": {"trackingNumber": "123456789012"}}],
    }
    assert [(e.status, e.occurred_at, e.location) for e in first] == [
        ("delivered", datetime(2026, 12, 2, 19, 1, tzinfo=UTC), "NORTON, TN, US"),
        ("out_for_delivery", datetime(2026, 12, 2, 15, 0, tzinfo=UTC), "MEMPHIS, TN, US"),
        ("in_transit", datetime(2026, 12, 2, 4, 10, tzinfo=UTC), "MEMPHIS, TN, US"),
        ("label_created", datetime(2026, 12, 1, 16, 0, tzinfo=UTC), "MEMPHIS, TN, US"),
    ]


@respx.mock(base_url=FEDEX_BASE)
async def test_fedex_rejected_token_is_renewed_once(respx_mock: respx.MockRouter) -> None:
    token = respx_mock.post("/oauth/token").respond(200, json=FEDEX_TOKEN)
    track = respx_mock.post("/track/v1/trackingnumbers").mock(
        side_effect=[
            httpx.Response(401, json={"errors": [{"code": "NOT.AUTHORIZED.ERROR"}]}),
            httpx.Response(200, json=fedex_track("123456789012", [])),
            httpx.Response(503, json={"errors": [{"code": "SERVICE.UNAVAILABLE.ERROR"}]}),
        ]
    )
    adapter = FedexAdapter(client_id="fx-id", client_secret="fx-secret", base_url=FEDEX_BASE)
    request = TrackRequest("shp_1", "fedex", "123456789012")

    assert list(await adapter.track(request)) == []
    with pytest.raises(CarrierUnavailable, match="503"):
        await adapter.track(request)
    assert (token.call_count, track.call_count) == (2, 3)


def test_the_carrier_own_api_is_preferred_then_easypost_then_manual() -> None:
    carriers = Carriers(
        [easypost(), DhlAdapter(api_key="k", base_url=DHL_BASE)],
    )
    only_manual = Carriers([])

    assert [carriers.tracker_for(c).name for c in ("dhl", "fedex", "ups", "usps", "other")] == [
        "dhl",
        "easypost",
        "easypost",
        "easypost",
        "manual",
    ]
    assert {only_manual.tracker_for(c).name for c in ("dhl", "fedex", "ups", "other")} == {"manual"}
