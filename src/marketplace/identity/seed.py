"""Demo accounts for `marketplace seed-demo`: an admin, a support agent and customers.

The passwords are public on purpose (README): this data is for trying the API locally.
"""

from __future__ import annotations

from marketplace.identity import repository as repo
from marketplace.identity import service
from marketplace.identity.runtime import IdentityRuntime
from marketplace.platform.uow import UnitOfWorkFactory

DEMO_PASSWORD = "marketplace-demo"
DEMO_ACCOUNTS = (
    ("admin@demo.example.com", "Demo Admin", "admin"),
    ("support@demo.example.com", "Demo Support", "support"),
    ("ada@demo.example.com", "Ada Lovelace", None),
    ("grace@demo.example.com", "Grace Hopper", None),
    ("alan@demo.example.com", "Alan Turing", None),
    ("owner1@demo.example.com", "Astrid Nilsson", None),
    ("owner2@demo.example.com", "Kenji Sato", None),
    ("owner3@demo.example.com", "Maya Brooks", None),
)


async def seed_demo(uow_factory: UnitOfWorkFactory, rt: IdentityRuntime) -> list[str]:
    """Create the demo accounts that do not exist yet; returns the emails created."""
    created = []
    async with uow_factory() as uow:
        for email, name, role in DEMO_ACCOUNTS:
            if await repo.user_by_email(uow.session, email) is None:
                await service.register(
                    uow, rt, email=email, password=DEMO_PASSWORD, name=name, platform_role=role
                )
                created.append(email)
        await uow.commit()
    return created
