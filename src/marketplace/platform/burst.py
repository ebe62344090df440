"""Whether the marketplace is in a burst, read off the outbox: the job runtime's priority rule.

A flash sale brings more follow-up work (receipts and statements as PDFs, order e-mails)
than a worker sharing the API's host can do while checkouts run: each order's follow-ups
cost several times the CPU of the checkout itself. Run as it comes, that work takes the CPU
the API needs and every checkout slows down, while the follow-ups fall behind anyway.

So handlers that can wait are marked deferrable (`Registry.subscribe(..., deferrable=True)`),
and while a burst lasts the relay writes their deliveries without handing them to the broker;
the sweeper hands them over once the burst is over, or once they have waited
`max_deferral`, whichever comes first. Work that must not wait (payments, refunds, account
e-mails) is never held.

The measure is the rate at which outbox messages are written, from the growth of the
outbox's sequence: every process that writes commits into it, so every worker's gauge sees
the whole marketplace's rate, not only what it relayed itself. A burst starts when the rate
over the last `window` reaches `threshold` messages per second and ends after `cooldown`
below it, so that a sale's short lulls do not release the held work in the middle of it.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class BurstPolicy:
    threshold: float  # messages per second; 0 turns deferral off
    window: float = 5.0  # seconds the rate is measured over
    cooldown: float = 10.0  # seconds below the threshold before a burst is over
    max_deferral: float = 900.0  # seconds a deferrable delivery waits at most
    sample_every: float = 1.0  # seconds between two readings of the outbox's sequence

    @property
    def enabled(self) -> bool:
        return self.threshold > 0


class BurstGauge:
    """Samples of (monotonic time, highest outbox sequence) and the burst they show."""

    def __init__(self, policy: BurstPolicy) -> None:
        self.policy = policy
        self._samples: deque[tuple[float, int]] = deque()
        self._burst_until = float("-inf")
        self.rate = 0.0

    def due(self, now: float) -> bool:
        """Whether a new reading of the sequence is worth its statement."""
        if not self.policy.enabled:
            return False
        return not self._samples or now - self._samples[-1][0] >= self.policy.sample_every

    def observe(self, now: float, high_seq: int | None) -> None:
        if high_seq is None:  # an empty outbox: nothing written since it was last pruned
            high_seq = self._samples[-1][1] if self._samples else 0
        if self._samples and high_seq < self._samples[-1][1]:
            self._samples.clear()  # the sequence went back (a restored database): start over
        self._samples.append((now, high_seq))
        # Keep one sample at or before the window's start, so the rate spans the whole window.
        while len(self._samples) > 2 and self._samples[1][0] <= now - self.policy.window:
            self._samples.popleft()
        first_at, first_seq = self._samples[0]
        elapsed = now - first_at
        # Under a second of history says nothing yet (a worker that just started).
        self.rate = (high_seq - first_seq) / elapsed if elapsed >= self.policy.sample_every else 0.0
        if self.rate >= self.policy.threshold > 0:
            self._burst_until = now + self.policy.cooldown

    def active(self, now: float) -> bool:
        return self.policy.enabled and now < self._burst_until
