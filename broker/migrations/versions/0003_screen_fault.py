"""A board may say why nothing reaches its screen: ``device_state.screen_fault``.

The agent keeps running when its LED board cannot be driven (or, for a TV, when the screen is
off) and says why in its state and health messages; the dashboard and the report show it.
Upgrading adds the column (empty: no board has said anything yet); downgrading drops it.

Revision ID: 0003
Revises: 0002
"""
from alembic import op
import sqlalchemy as sa

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("device_state", sa.Column("screen_fault", sa.String(1024), nullable=True))


def downgrade() -> None:
    # One statement on both databases (SQLite has DROP COLUMN since 3.35): no copy of the table,
    # so a later step of the same downgrade that refuses leaves nothing half done behind.
    op.execute("ALTER TABLE device_state DROP COLUMN screen_fault")
