"""PayPal adapter: Orders v2 and refunds on the official `paypal-server-sdk`; Payouts,
webhook verification and Transaction Search (reconciliation), which that SDK does not
cover, on PayPal's REST endpoints over httpx with the SDK's OAuth token.

The SDK is synchronous (requests), so its calls run in a worker thread; the REST calls are
async. No database transaction is open during any of them.

* **What checkout passes as `payment_method`**: either the id of a PayPal order the buyer
  approved in PayPal's checkout (17 upper-case letters and digits, e.g. `5O190127TN364715T`),
  or `vault_<payment token id>` for a PayPal wallet the buyer saved with PayPal's vault.
* **Charge, approved order**: `GET /v2/checkout/orders/{id}` refuses (uncaptured) an order
  whose amount or currency is not the payment's or that the buyer has not approved; `PATCH`
  writes our payment id as the purchase unit's `custom_id` (so the capture's webhooks name
  our payment even if our call's answer is lost); `POST .../capture` with our persisted key
  as `PayPal-Request-Id`. An order already captured answers with its capture if it carries
  our payment id (a retry), and is refused otherwise (`order_already_used`): an approved
  order cannot pay for two purchases one after the other.
* **Charge, vault token**: one `POST /v2/checkout/orders` with `intent=CAPTURE`, the
  vault id as `payment_source.paypal.vault_id`, our ids as `custom_id` / `invoice_id`, and
  `PayPal-Request-Id`; PayPal captures at once.
  Either way the provider payment id is the **capture** id (refunds act on captures), the
  fee is the capture's `seller_receivable_breakdown.paypal_fee`, a `PENDING` capture is not
  final (`ProviderUnavailable`, `PAYMENT.CAPTURE.COMPLETED` settles it) and a declined
  instrument is a failed charge (`instrument_declined`).
* **Refund**: `POST /v2/payments/captures/{id}/refund` with the amount, our refund id as
  `custom_id` and `PayPal-Request-Id`.
* **Transfer** (vendor payout): `POST /v1/payments/payouts`, one item to
  `destination["paypal_email"]` (or `paypal_payer_id`), our key as `sender_batch_id` and
  `PayPal-Request-Id`; the batch is `pending` until `PAYMENT.PAYOUTS-ITEM.*` webhooks.
* **Webhooks** are verified by PayPal (`POST /v1/notifications/verify-webhook-signature`
  with the five `PayPal-*` transmission headers, our webhook id and the event exactly as
  received); anything but `SUCCESS` is `InvalidSignature`. We also refuse a transmission
  time outside the tolerance, so a captured delivery cannot be replayed later.
  `PAYMENT.CAPTURE.COMPLETED` / `DENIED` / `DECLINED` / `REFUNDED`, and `PAYMENT.PAYOUTS-ITEM.*`
  are normalised.
* **Reconciliation**: Transaction Search (`GET /v1/reporting/transactions`, at most 31
  days a request, 500 rows a page, every page) with the same OAuth token; event codes map
  to our record kinds in `records.py`, which says which ids match the ledger's.
* **Errors**: timeouts, connection errors, 409, 429 and 5xx are `ProviderUnavailable`;
  refused credentials and requests PayPal rejects are `ProviderError`.

Amounts are decimal strings; PayPal has no decimals for HUF, JPY and TWD.
"""

from marketplace.payments.providers.paypal.adapter import PayPalProvider
from marketplace.payments.providers.paypal.answers import TRANSMISSION_HEADERS, exponent

__all__ = ["TRANSMISSION_HEADERS", "PayPalProvider", "exponent"]
