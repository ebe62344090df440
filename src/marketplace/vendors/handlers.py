"""What the vendors context does when other contexts report something."""

from __future__ import annotations

from marketplace.identity.events import UserRegistered
from marketplace.platform.messaging import Message, Registry
from marketplace.platform.uow import UnitOfWork
from marketplace.vendors.service import store


async def accept_staff_invitations(uow: UnitOfWork, message: Message) -> None:
    event = UserRegistered.model_validate(message.payload)
    await store.accept_invitations(uow, user_id=event.user_id, email=event.email)


def register(registry: Registry) -> None:
    registry.subscribe(UserRegistered, name="vendors.accept_staff_invitations")(
        accept_staff_invitations
    )
