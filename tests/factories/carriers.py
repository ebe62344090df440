"""Carrier responses shaped exactly like each carrier's public API reference (EasyPost
Tracker and Event objects, DHL Shipment Tracking - Unified, FedEx Track API and OAuth), with
the parts a test varies as parameters, and EasyPost's webhook signature."""

from __future__ import annotations

import hashlib
import hmac
import unicodedata
from collections.abc import Sequence
from typing import Any

import orjson

EASYPOST_SECRET = "s\u00e9cret-\u212b"  # non-ASCII on purpose: EasyPost normalises it (NFKD)


def easypost_detail(status: str, at: str, message: str, city: str | None = None) -> dict[str, Any]:
    return {
        "object": "TrackingDetail",
        "message": message,
        "description": "",
        "status": status,
        "status_detail": "status_update",
        "datetime": at,
        "source": "UPS",
        "carrier_code": "",
        "tracking_location": {
            "object": "TrackingLocation",
            "city": city,
            "state": "CA" if city else None,
            "country": "US" if city else None,
            "zip": None,
        },
    }


def easypost_tracker(
    tracker_id: str,
    tracking_code: str,
    status: str,
    details: Sequence[dict[str, Any]] = (),
    carrier: str = "UPS",
) -> dict[str, Any]:
    return {
        "id": tracker_id,
        "object": "Tracker",
        "mode": "test",
        "tracking_code": tracking_code,
        "status": status,
        "status_detail": "status_update",
        "created_at": "2026-12-01T09:00:00Z",
        "updated_at": "2026-12-01T09:00:00Z",
        "signed_by": None,
        "weight": None,
        "est_delivery_date": "2026-12-04T09:00:00Z",
        "shipment_id": None,
        "carrier": carrier,
        "tracking_details": list(details),
        "carrier_detail": {
            "object": "CarrierDetail",
            "service": "Ground",
            "container_type": None,
            "est_delivery_date_local": None,
            "est_delivery_time_local": None,
            "origin_location": "SAN FRANCISCO CA, 94107",
            "destination_location": "OAKLAND CA, 94612",
        },
        "finalized": status in ("delivered", "return_to_sender"),
        "is_return": False,
        "public_url": f"https://track.easypost.com/{tracker_id}",
        "fees": [],
    }


def easypost_event(event_id: str, tracker: dict[str, Any]) -> bytes:
    return orjson.dumps(
        {
            "object": "Event",
            "id": event_id,
            "mode": "test",
            "description": "tracker.updated",
            "previous_attributes": {"status": "unknown"},
            "created_at": "2026-12-02T10:00:00Z",
            "updated_at": "2026-12-02T10:00:00Z",
            "pending_urls": [],
            "completed_urls": [],
            "user_id": "user_060ab38db3c04ffaa60f262e5781a9be",
            "status": "pending",
            "result": tracker,
        }
    )


def easypost_signature(body: bytes, secret: str = EASYPOST_SECRET) -> str:
    key = unicodedata.normalize("NFKD", secret).encode()
    return "hmac-sha256-hex=" + hmac.new(key, body, hashlib.sha256).hexdigest()


def dhl_event(code: str, at: str, description: str, city: str = "Bonn") -> dict[str, Any]:
    return {
        "timestamp": at,
        "location": {
            "address": {"countryCode": "DE", "postalCode": "53113", "addressLocality": city}
        },
        "statusCode": code,
        "status": description,
        "description": description,
    }


def dhl_shipments(tracking_number: str, events: Sequence[dict[str, Any]]) -> dict[str, Any]:
    latest = events[0] if events else {}
    return {
        "shipments": [
            {
                "id": tracking_number,
                "service": "express",
                "origin": {"address": {"addressLocality": "Bonn, DE"}},
                "destination": {"address": {"addressLocality": "Berlin, DE"}},
                "status": latest,
                "details": {"proofOfDeliverySignedAvailable": False, "totalNumberOfPieces": 1},
                "events": list(events),  # newest first, as DHL lists them
            }
        ]
    }


DHL_NOT_FOUND = {
    "title": "No result found",
    "status": 404,
    "detail": "No shipment with given tracking number found.",
}


FEDEX_TOKEN = {
    "access_token": "eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.fedex-test",
    "token_type": "bearer",
    "expires_in": 3599,
    "scope": "CXS",
}


def fedex_scan(code: str, at: str, description: str, city: str = "MEMPHIS") -> dict[str, Any]:
    return {
        "date": at,
        "eventType": code,
        "eventDescription": description,
        "exceptionCode": "",
        "exceptionDescription": "",
        "scanLocation": {
            "streetLines": [""],
            "city": city,
            "stateOrProvinceCode": "TN",
            "postalCode": "38118",
            "countryCode": "US",
            "residential": False,
            "countryName": "United States",
        },
        "locationType": "SORT_FACILITY",
        "derivedStatusCode": code,
        "derivedStatus": description,
    }


def fedex_track(tracking_number: str, scans: Sequence[dict[str, Any]]) -> dict[str, Any]:
    return {
        "transactionId": "624deea6-b709-470c-8c39-4b5511281492",
        "customerTransactionId": "AnyCo_order123456789",
        "output": {
            "completeTrackResults": [
                {
                    "trackingNumber": tracking_number,
                    "trackResults": [
                        {
                            "trackingNumberInfo": {
                                "trackingNumber": tracking_number,
                                "carrierCode": "FDXE",
                                "trackingNumberUniqueId": "245822~123456789012~FDEG",
                            },
                            "latestStatusDetail": {
                                "code": scans[0]["eventType"] if scans else "OC",
                                "derivedCode": scans[0]["derivedStatusCode"] if scans else "IN",
                                "statusByLocale": scans[0]["derivedStatus"] if scans else "",
                                "description": scans[0]["eventDescription"] if scans else "",
                            },
                            "scanEvents": list(scans),
                        }
                    ],
                }
            ]
        },
    }
