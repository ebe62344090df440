"""Every query of the payments context (payments, refunds, holds, webhooks; the ledger)."""
