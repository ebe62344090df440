"""How a shipment's status follows from its events (any order, duplicates, late arrivals),
and which tracking numbers each carrier accepts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from marketplace.shipping.domain.numbers import (
    BadTrackingNumber,
    UnknownCarrier,
    normalise,
)
from marketplace.shipping.domain.tracking import (
    STATUSES,
    CarrierEvent,
    deciding_event,
    derive_status,
)

T0 = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)


def at(hours: float) -> datetime:
    return T0 + timedelta(hours=hours)


def test_no_events_is_label_created() -> None:
    assert derive_status([]) == "label_created"
    assert deciding_event([]) is None


def test_delivered_before_an_older_in_transit_arriving_late_stays_delivered() -> None:
    delivered = CarrierEvent("delivered", at(30), "Delivered", "Berlin")
    late_scan = CarrierEvent("in_transit", at(5), "Departed facility", "Leipzig")

    assert derive_status([delivered, late_scan]) == "delivered"
    assert deciding_event([delivered, late_scan]) == delivered


def test_a_final_status_outranks_a_newer_non_final_one() -> None:
    delivered = CarrierEvent("delivered", at(30))
    newer_scan = CarrierEvent("in_transit", at(31))

    assert derive_status([newer_scan, delivered]) == "delivered"


def test_among_non_final_events_the_latest_wins() -> None:
    events = [
        CarrierEvent("label_created", at(0)),
        CarrierEvent("out_for_delivery", at(20)),
        CarrierEvent("exception", at(22), "Recipient not home"),
        CarrierEvent("in_transit", at(10)),
    ]

    assert derive_status(events) == "exception"


def test_among_final_events_the_latest_wins() -> None:
    events = [CarrierEvent("delivered", at(10)), CarrierEvent("returned", at(40))]

    assert derive_status(events) == "returned"


def test_at_the_same_instant_the_higher_rank_wins() -> None:
    assert derive_status(
        [CarrierEvent("out_for_delivery", at(1)), CarrierEvent("in_transit", at(1))]
    ) == ("out_for_delivery")
    assert derive_status([CarrierEvent("delivered", at(1)), CarrierEvent("returned", at(1))]) == (
        "returned"
    )


def test_the_same_report_has_the_same_key_and_another_report_another() -> None:
    one = CarrierEvent("in_transit", at(1), "Departed", "Leipzig, DE")
    again = CarrierEvent("in_transit", at(1), "Departed", "Leipzig, DE")
    other = CarrierEvent("in_transit", at(1), "Arrived", "Leipzig, DE")

    assert one.key == again.key
    assert one.key != other.key
    assert len(one.key) == 40


events_strategy = st.lists(
    st.builds(
        CarrierEvent,
        status=st.sampled_from(STATUSES),
        occurred_at=st.integers(min_value=0, max_value=48).map(at),
        description=st.sampled_from([None, "scan", "Delivered", "Depot"]),
        location=st.sampled_from([None, "Bonn, DE", "Berlin, DE"]),
    ),
    min_size=1,
    max_size=12,
)


@given(events=events_strategy, data=st.data())
def test_any_permutation_with_duplicates_gives_the_same_status(
    events: list[CarrierEvent], data: st.DataObject
) -> None:
    shuffled = data.draw(st.permutations(events))
    repeated = data.draw(st.lists(st.sampled_from(events), max_size=6))

    assert derive_status(shuffled + repeated) == derive_status(events)
    assert deciding_event(shuffled + repeated) == deciding_event(events)


@given(events=events_strategy)
def test_a_final_event_is_never_undone(events: list[CarrierEvent]) -> None:
    finals = [e for e in events if e.status in ("delivered", "returned")]
    status = derive_status(events)

    if finals:
        latest = max(e.occurred_at for e in finals)
        assert status in ("delivered", "returned")
        assert deciding_event(events).occurred_at == latest  # type: ignore[union-attr]
    else:
        assert status == deciding_event(events).status  # type: ignore[union-attr]
        assert deciding_event(events).occurred_at == max(e.occurred_at for e in events)  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("carrier", "number", "stored"),
    [
        ("dhl", "1234567890", ("dhl", "1234567890")),
        ("DHL", " jjd0146000061012345678 ", ("dhl", "JJD0146000061012345678")),
        ("dhl", "00340434161094022115", ("dhl", "00340434161094022115")),
        ("dhl", "GM2951173225174494", ("dhl", "GM2951173225174494")),
        ("dhl", "RR123456785DE", ("dhl", "RR123456785DE")),
        ("fedex", "123456789012", ("fedex", "123456789012")),
        ("fedex", "1234 5678 9012 345", ("fedex", "123456789012345")),
        ("ups", "1z999aa10123456784", ("ups", "1Z999AA10123456784")),
        ("usps", "9400110898825022579493", ("usps", "9400110898825022579493")),
        ("usps", "EC123456789US", ("usps", "EC123456789US")),
        ("other", " Parcel 42/B ", ("other", "Parcel 42/B")),
    ],
)
def test_numbers_of_each_carrier_are_accepted_and_normalised(
    carrier: str, number: str, stored: tuple[str, str]
) -> None:
    assert normalise(carrier, number) == stored


@pytest.mark.parametrize(
    ("carrier", "number"),
    [
        ("dhl", "12345"),
        ("dhl", "JD01"),
        ("fedex", "12345678901"),
        ("fedex", "1Z999AA10123456784"),
        ("ups", "1Z999AA1012345678"),
        ("ups", "123456789012"),
        ("usps", "1234567890"),
        ("other", "-starts-with-dash"),
    ],
)
def test_numbers_of_the_wrong_shape_are_refused(carrier: str, number: str) -> None:
    with pytest.raises(BadTrackingNumber, match=f"not a {carrier} tracking number"):
        normalise(carrier, number)


def test_an_unknown_carrier_is_refused() -> None:
    with pytest.raises(UnknownCarrier, match="one of: dhl, fedex, ups, usps, other"):
        normalise("pigeon", "1234567890")
