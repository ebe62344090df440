"""Payments HTTP routes, one module per concern; this package composes them."""

from fastapi import APIRouter

from marketplace.payments.api.ledger import router as ledger_router
from marketplace.payments.api.payouts import router as payouts_router

router = APIRouter()
router.include_router(ledger_router)
router.include_router(payouts_router)
