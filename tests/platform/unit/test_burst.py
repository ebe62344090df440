"""The burst gauge: when deferrable work is held, and when it is released."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from marketplace.platform.burst import BurstGauge, BurstPolicy

POLICY = BurstPolicy(threshold=100, window=5, cooldown=10, sample_every=1)


def feed(gauge: BurstGauge, readings: list[tuple[float, int | None]]) -> None:
    for now, seq in readings:
        gauge.observe(now, seq)


def test_a_rate_at_the_threshold_starts_a_burst_and_the_cooldown_ends_it() -> None:
    gauge = BurstGauge(POLICY)
    feed(gauge, [(0, 1_000), (1, 1_050), (2, 1_100)])  # 50 messages/s
    assert not gauge.active(2)

    feed(gauge, [(3, 1_250), (4, 1_500)])  # 500 in the last 4 s: 125/s
    assert gauge.rate == 125
    assert gauge.active(4)

    # The sale pauses. At 5 s the window still spans it (500 in 5 s: 100/s); from then on
    # the rate falls, and the burst outlasts its last reading at the threshold by the cooldown.
    feed(gauge, [(t, 1_500) for t in range(5, 16)])
    assert gauge.rate == 0
    assert gauge.active(14.9)
    assert not gauge.active(15)


def test_a_short_lull_inside_the_cooldown_keeps_the_burst() -> None:
    gauge = BurstGauge(POLICY)
    feed(gauge, [(0, 0), (1, 200)])  # 200/s
    feed(gauge, [(t, 200) for t in range(2, 8)])  # six quiet seconds, still in the cooldown
    assert gauge.active(7)
    feed(gauge, [(8, 400), (9, 700)])  # the sale goes on: 500 over the 5 s window
    assert gauge.active(18.9)
    assert not gauge.active(19)


def test_the_rate_is_measured_over_the_window_only() -> None:
    gauge = BurstGauge(POLICY)
    feed(gauge, [(0, 0), (1, 1_000)])  # a spike long ago
    feed(gauge, [(t, 1_000 + 10 * (t - 1)) for t in range(2, 30)])  # then 10/s for a while
    assert gauge.rate == 10
    assert not gauge.active(30)


def test_a_first_reading_or_an_empty_outbox_is_no_burst() -> None:
    gauge = BurstGauge(POLICY)
    gauge.observe(0, 50_000)  # a worker starting on a long-lived outbox
    assert gauge.rate == 0
    assert not gauge.active(0)
    gauge.observe(0.5, 50_400)  # half a second of history says nothing yet
    assert not gauge.active(0.5)
    gauge.observe(1.5, None)  # pruned empty since: counts as nothing new
    gauge.observe(2.5, None)
    assert gauge.rate == 400 / 2.5
    assert gauge.active(2.5)  # the 400 in half a second were a burst after all
    empty = BurstGauge(POLICY)
    feed(empty, [(0, None), (1, None), (2, None)])
    assert empty.rate == 0
    assert not empty.active(2)


def test_a_sequence_that_goes_back_starts_the_measure_over() -> None:
    gauge = BurstGauge(POLICY)
    feed(gauge, [(0, 90_000), (1, 10), (2, 20)])
    assert gauge.rate == 10
    assert not gauge.active(2)


def test_a_threshold_of_zero_never_holds_anything() -> None:
    gauge = BurstGauge(BurstPolicy(threshold=0))
    assert not gauge.due(0)
    feed(gauge, [(0, 0), (1, 1_000_000)])
    assert not gauge.active(1)


@given(
    steps=st.lists(
        st.tuples(st.floats(min_value=0.2, max_value=3.0), st.integers(0, 400)),
        min_size=1,
        max_size=60,
    )
)
def test_a_burst_is_on_exactly_when_the_window_rate_reached_the_threshold_within_the_cooldown(
    steps: list[tuple[float, int]],
) -> None:
    gauge = BurstGauge(POLICY)
    now, seq = 0.0, 0
    gauge.observe(now, seq)
    last_reached: float | None = None
    for gap, written in steps:
        now, seq = now + gap, seq + written
        gauge.observe(now, seq)
        assert gauge.rate >= 0
        if gauge.rate >= POLICY.threshold:
            last_reached = now
        expected = last_reached is not None and now < last_reached + POLICY.cooldown
        assert gauge.active(now) is expected
