"""The metadata Alembic compares against: every context's models, imported here."""

from marketplace.compliance import models as _compliance_models  # noqa: F401
from marketplace.identity import models as _identity_models  # noqa: F401
from marketplace.platform import models as _platform_models  # noqa: F401
from marketplace.platform.db import Base
from marketplace.vendors import models as _vendors_models  # noqa: F401

target_metadata = Base.metadata
