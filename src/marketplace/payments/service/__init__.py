"""Payments use cases (payments, refunds, webhooks, the ledger); none of them commits,
except where a provider is called: the read transaction ends before the call."""
