"""The metadata Alembic compares against: every context's models, imported here."""

from marketplace.catalog import models as _catalog_models  # noqa: F401
from marketplace.compliance import models as _compliance_models  # noqa: F401
from marketplace.identity import models as _identity_models  # noqa: F401
from marketplace.inventory import models as _inventory_models  # noqa: F401
from marketplace.orders import models as _orders_models  # noqa: F401
from marketplace.payments import models as _payments_models  # noqa: F401
from marketplace.platform import models as _platform_models  # noqa: F401
from marketplace.platform.db import Base
from marketplace.shipping import models as _shipping_models  # noqa: F401
from marketplace.vendors import models as _vendors_models  # noqa: F401

target_metadata = Base.metadata

# Full-text search and category-array structures exist on one backend only and are
# maintained with SQL (or generated), so they are not in the models: comparisons leave them out.
_BACKEND_SPECIFIC_TABLES = ("catalog_product_fts",)
_BACKEND_SPECIFIC_COLUMNS = {
    ("catalog_product", "search_vector"),
    ("catalog_product", "category_ids"),
}
_BACKEND_SPECIFIC_INDEXES = {
    "ix_catalog_product_search_vector",
    "ix_catalog_product_category_ids",
    "ix_catalog_product_category_prefix",
}


def include_object(
    obj: object, name: str | None, type_: str, reflected: bool, compare_to: object
) -> bool:
    if type_ == "table" and name and name.startswith(_BACKEND_SPECIFIC_TABLES):
        return False
    if type_ == "column":
        table = getattr(getattr(obj, "table", None), "name", None)
        if (table, name) in _BACKEND_SPECIFIC_COLUMNS:
            return False
    return not (type_ == "index" and name in _BACKEND_SPECIFIC_INDEXES)
