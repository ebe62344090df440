"""The `vendor_members` facade: every member of a vendor with its role, oldest membership
first, read with its users in one query (notifications and receipts call it per event)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import event

from factories.identity import add_member, create_user
from factories.vendors import create_vendor
from marketplace.bootstrap import Container
from marketplace.identity import public as identity
from marketplace.identity.public import UserSummary


async def test_a_vendors_members_come_with_their_users_and_roles_in_one_query(
    container: Container,
) -> None:
    owner = await create_user(container, email="own@shop.example", name="Olga", locale="de")
    vendor = await create_vendor(container, owner=owner)
    other = await create_vendor(container)
    manager = await create_user(container, email="man@shop.example", name="Max")
    staff = await create_user(container, email="sta@shop.example", name="Sia", locale="fr")
    await add_member(container, vendor_id=vendor.id, user=manager, role="manager")
    await add_member(container, vendor_id=vendor.id, user=staff, role="staff")
    await add_member(container, vendor_id=other.id, user=staff, role="manager")
    statements: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if statement.lstrip().upper().startswith("SELECT"):
            statements.append(statement)

    engine = container.db.engine.sync_engine
    async with container.uow_factory() as uow:
        event.listen(engine, "before_cursor_execute", count)
        try:
            members = await identity.vendor_members(uow, vendor.id)
        finally:
            event.remove(engine, "before_cursor_execute", count)

    assert members == [
        (UserSummary(owner.id, "own@shop.example", "Olga", "de"), "owner"),
        (UserSummary(manager.id, "man@shop.example", "Max", None), "manager"),
        (UserSummary(staff.id, "sta@shop.example", "Sia", "fr"), "staff"),
    ]
    assert len(statements) == 1
