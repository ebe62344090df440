"""Payments: providers, customer payments split across vendor orders, webhooks, refunds and
the double-entry ledger that is the source of truth for every amount of money."""
