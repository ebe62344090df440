"""Payments HTTP routes, one module per concern; this package composes them."""

from fastapi import APIRouter

from marketplace.payments.api.chargebacks import router as chargebacks_router
from marketplace.payments.api.ledger import router as ledger_router
from marketplace.payments.api.payouts import router as payouts_router
from marketplace.payments.api.reconciliation import router as reconciliation_router

router = APIRouter()
router.include_router(ledger_router)
router.include_router(chargebacks_router)
router.include_router(reconciliation_router)
router.include_router(payouts_router)
