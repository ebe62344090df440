"""Category use cases: admins grow the tree; anyone reads it."""

from __future__ import annotations

from collections.abc import Sequence

from marketplace.catalog.domain.category import MAX_DEPTH, child_path
from marketplace.catalog.models import Category
from marketplace.catalog.repository import category as repo
from marketplace.catalog.schemas.category import CategoryCreate, CategoryNode
from marketplace.compliance.public import record_audit
from marketplace.platform.clock import utcnow
from marketplace.platform.errors import ValidationFailed
from marketplace.platform.ids import new_id
from marketplace.platform.uow import UnitOfWork


async def create_category(
    uow: UnitOfWork, *, body: CategoryCreate, actor_id: str, actor_role: str
) -> Category:
    parent = None
    if body.parent_id is not None:
        parent = await repo.category(uow.session, body.parent_id)
        if parent is None:
            raise ValidationFailed.on_field(
                ["body", "parent_id"], "no such category", "unknown_category"
            )
        if parent.depth + 1 >= MAX_DEPTH:
            raise ValidationFailed.on_field(
                ["body", "parent_id"], f"categories nest at most {MAX_DEPTH} deep", "too_deep"
            )
    if await repo.by_slug(uow.session, body.slug) is not None:
        raise ValidationFailed.on_field(["body", "slug"], "this slug is taken", "slug_taken")
    category_id = new_id("cat")
    category = Category(
        id=category_id,
        parent_id=body.parent_id,
        slug=body.slug,
        name=body.name.strip(),
        translations=dict(body.translations),
        path=child_path(parent.path if parent else None, category_id),
        depth=(parent.depth + 1) if parent else 0,
        position=body.position,
        created_at=utcnow(),
    )
    uow.session.add(category)
    record_audit(
        uow,
        actor_id=actor_id,
        actor_role=actor_role,
        action="category.created",
        resource_type="category",
        resource_id=category.id,
        after={"name": category.name, "slug": category.slug, "parent_id": category.parent_id},
    )
    return category


def tree(categories: Sequence[Category], language: str | None) -> list[CategoryNode]:
    nodes = {
        c.id: CategoryNode(
            id=c.id,
            slug=c.slug,
            name=(c.translations.get(language, c.name) if language else c.name),
            parent_id=c.parent_id,
            children=[],
        )
        for c in categories
    }
    roots: list[CategoryNode] = []
    for category in categories:  # parents come first: ordered by depth
        node = nodes[category.id]
        if category.parent_id and category.parent_id in nodes:
            nodes[category.parent_id].children.append(node)
        else:
            roots.append(node)
    return roots
