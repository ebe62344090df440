"""PayPal's own books for reconciliation: Transaction Search rows as `ProviderRecord`s.

`GET /v1/reporting/transactions` lists every transaction of the account with its event
code (T-code), gross `transaction_amount` signed from the account's side and `fee_amount`
signed the same way (a fee PayPal keeps is negative, a fee it gives back positive). A
record's `fee` is what PayPal kept, so it is the opposite of `fee_amount`.

Which rows are which of our record kinds, and the id each is known by in our ledger:

* **charge**: T0006 (PayPal Checkout APIs, our Orders v2 captures) and T0003 (pre-approved
  payments, a vaulted wallet charged without the buyer), money received. The row's
  `transaction_id` is the capture id, our payment's provider payment id.
* **refund**: T1107 (refund initiated by the merchant); `transaction_id` is the refund id
  we store, `paypal_reference_id` the capture it refunds.
* **dispute**: T1201 (chargeback) and T1106 (payment reversal initiated by PayPal, the
  money of a buyer's claim it decided against us), keyed by their own transaction id.
  **dispute_reversal**: T1202 (chargeback reversal: a dispute won, the money back).
  The ledger does not book PayPal's disputes yet (no dispute webhook is normalised), so
  these surface as `missing_in_ledger`: money PayPal withdrew that our books do not show.
* **transfer**: T0001 (a payout item sent), keyed by its `transaction_id`. Our payouts
  store PayPal's *batch* id as their transfer id, which Transaction Search does not carry;
  the `PAYMENT.PAYOUTS-ITEM.SUCCEEDED` webhook names the item's transaction, stored as the
  payout's settlement id, and that is what a T0001 row is paired with.

Rows pending (`P`) or denied (`D`) moved no money we booked; successful (`S`), reversed
later (`V`) and partly refunded (`F`) rows did, and their reversals are rows of their own.
Other T-codes (holds, currency conversions, PayPal's own fees, top-ups) are not ours to
reconcile and are skipped.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from marketplace.payments.providers.base import ProviderError, ProviderRecord, RecordKind
from marketplace.payments.providers.paypal.answers import minor_of
from marketplace.payments.providers.units import AmountNotRepresentable

# Transaction Search answers at most 31 days per request and 500 rows per page.
MAX_WINDOW: Final = timedelta(days=31)
PAGE_SIZE: Final = 500
SEARCH_PATH: Final = "/v1/reporting/transactions"

_KINDS: Final[dict[str, RecordKind]] = {
    "T0003": "charge",
    "T0006": "charge",
    "T1107": "refund",
    "T1106": "dispute",
    "T1201": "dispute",
    "T1202": "dispute_reversal",
    "T0001": "transfer",
}
# Money comes in for a charge or a won dispute, and goes out for everything else: a T0006
# with money going out is a payment this account made (as a buyer), not one of our charges.
_INCOMING: Final = frozenset({"charge", "dispute_reversal"})
_MOVED: Final = frozenset({"S", "V", "F"})


def windows(start: datetime, end: datetime) -> Iterator[tuple[datetime, datetime]]:
    """[start, end) cut into consecutive windows of at most 31 days."""
    cursor = start
    while cursor < end:
        upper = min(cursor + MAX_WINDOW, end)
        yield cursor, upper
        cursor = upper


def query(start: datetime, end: datetime, page: int) -> dict[str, str | int]:
    """The search for one window and page. PayPal's dates are whole seconds and its end is
    inclusive: the window is asked from its first second to its last, and rows are then
    kept only inside [start, end) so none is counted in two windows."""
    last = end - timedelta(microseconds=1)
    return {
        "start_date": _stamp(start),
        "end_date": _stamp(last),
        "fields": "all",
        "page_size": PAGE_SIZE,
        "page": page,
    }


def _stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(text: str) -> datetime:
    """PayPal writes `2026-05-01T12:00:00Z` or `2026-05-01T12:00:00+0000`."""
    return datetime.fromisoformat(text).astimezone(UTC)


def record_of(row: Mapping[str, Any]) -> ProviderRecord | None:
    """The record of one `transaction_details[]` row, or None when it is not ours to
    reconcile."""
    info = row.get("transaction_info") or {}
    kind = _KINDS.get(str(info.get("transaction_event_code")))
    if kind is None or info.get("transaction_status") not in _MOVED:
        return None
    money = info.get("transaction_amount") or {}
    fee_money = info.get("fee_amount")
    if fee_money and fee_money.get("currency_code") != money.get("currency_code"):
        fee_money = None  # a fee in another currency does not move this currency's clearing
    try:
        amount = minor_of(money)
        if (amount > 0) != (kind in _INCOMING):
            return None
        return ProviderRecord(
            kind=kind,
            source_id=str(info["transaction_id"]),
            amount=amount,
            fee=-minor_of(fee_money) if fee_money else 0,
            currency=str(money["currency_code"]).upper(),
            created_at=parse_time(str(info["transaction_initiation_date"])),
        )
    except (AmountNotRepresentable, KeyError, ValueError, ArithmeticError) as error:
        # A row we cannot read is never skipped silently: the run fails, logged.
        raise ProviderError(f"paypal transaction {info.get('transaction_id')}: {error}") from None


__all__ = ["MAX_WINDOW", "PAGE_SIZE", "SEARCH_PATH", "parse_time", "query", "record_of", "windows"]
