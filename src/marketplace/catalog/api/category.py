"""Category routes: the public tree and the admins' additions."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header

from marketplace.catalog.domain.category import ancestors_leaf_first
from marketplace.catalog.domain.product import accepted_languages
from marketplace.catalog.repository import category as repo
from marketplace.catalog.schemas.category import CategoryCreate, CategoryNode, CategoryRead
from marketplace.catalog.service import category as service
from marketplace.identity.public import AdminWriter
from marketplace.platform.http import UoW

router = APIRouter(tags=["categories"])


@router.get("/categories", summary="The category tree, in the caller's language")
async def category_tree(
    uow: UoW, accept_language: Annotated[str | None, Header(alias="Accept-Language")] = None
) -> list[CategoryNode]:
    languages = accepted_languages(accept_language)
    return service.tree(await repo.all_categories(uow.session), languages[0] if languages else None)


@router.post("/admin/categories", status_code=201, summary="Add a category")
async def create_category(body: CategoryCreate, uow: UoW, admin: AdminWriter) -> CategoryRead:
    category = await service.create_category(
        uow, body=body, actor_id=admin.id, actor_role=admin.actor_role
    )
    return CategoryRead(
        id=category.id,
        slug=category.slug,
        name=category.name,
        parent_id=category.parent_id,
        path=ancestors_leaf_first(category.path)[::-1],
    )
