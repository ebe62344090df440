"""Pure rules of payments: the ledger's postings and the payment's own rules."""
