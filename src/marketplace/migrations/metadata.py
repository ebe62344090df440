"""The metadata Alembic compares against: every context's models, imported here."""

from marketplace.compliance import models as _compliance_models  # noqa: F401
from marketplace.identity import models as _identity_models  # noqa: F401
from marketplace.platform import models as _platform_models  # noqa: F401
from marketplace.platform.db import Base

target_metadata = Base.metadata
