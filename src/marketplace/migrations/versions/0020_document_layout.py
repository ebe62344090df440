"""document layout: how each receipt and statement was rendered, to render it again

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-10 09:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0020"
down_revision: str | None = "0019"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Documents issued so far embed their fonts subset to the glyphs they draw: layout 1.
    # The default stays for the processes of the previous version a deployment still runs,
    # which render layout 1 and do not name the column.
    with op.batch_alter_table("orders_document", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("layout", sa.Integer(), server_default=sa.text("1"), nullable=False)
        )


def downgrade() -> None:
    with op.batch_alter_table("orders_document", schema=None) as batch_op:
        batch_op.drop_column("layout")
