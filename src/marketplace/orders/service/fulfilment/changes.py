"""How a vendor order is changed after payment: who changes it (`Actor`), its row lock, the
state machine's guard, and the timeline entry and audit record every change leaves.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal

from marketplace.compliance.public import record_audit
from marketplace.orders.domain.status import IllegalTransition, check_transition
from marketplace.orders.errors import InvalidTransition, VendorOrderNotFound
from marketplace.orders.models.order import TimelineEntry, VendorOrder
from marketplace.orders.repository import order as repo
from marketplace.platform.clock import utcnow
from marketplace.platform.uow import UnitOfWork

ActorRole = Literal["customer", "vendor", "admin", "system"]
REASON_MAX: Final = 500


@dataclass(frozen=True, slots=True)
class Actor:
    """Who changes an order: the customer, a vendor's team member, an admin or the system."""

    id: str | None
    role: ActorRole
    audit_role: str  # as the audit log names it ("vendor:owner", "admin", ...)


def _entry(
    vendor_order: VendorOrder,
    kind: str,
    actor: Actor,
    *,
    from_status: str | None,
    to_status: str | None,
    note: str | None = None,
) -> TimelineEntry:
    return TimelineEntry.new(
        order_id=vendor_order.order_id,
        vendor_order_id=vendor_order.id,
        kind=kind,
        from_status=from_status,
        to_status=to_status,
        actor_id=actor.id,
        actor_role=actor.role,
        note=note,
        created_at=utcnow(),
    )


def _audit(
    uow: UnitOfWork, actor: Actor, action: str, vendor_order: VendorOrder, **after: object
) -> None:
    if actor.role in ("customer", "system") or actor.id is None:
        return
    record_audit(
        uow,
        actor_id=actor.id,
        actor_role=actor.audit_role,
        action=action,
        resource_type="vendor_order",
        resource_id=vendor_order.id,
        after=dict(after),
    )


def _guard(vendor_order: VendorOrder, target: str) -> None:
    try:
        check_transition(vendor_order.status, target)  # type: ignore[arg-type]
    except IllegalTransition as refused:
        raise InvalidTransition(str(refused), status=vendor_order.status) from None


async def locked_vendor_order(
    uow: UnitOfWork, vendor_order_id: str, *, vendor_id: str | None = None
) -> VendorOrder:
    found = await repo.vendor_order(uow.session, vendor_order_id, vendor_id=vendor_id, lock=True)
    if found is None:
        raise VendorOrderNotFound()
    return found
