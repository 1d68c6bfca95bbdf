"""What a TV said before each play: ``plays.screen_power`` and ``plays.screen_input``.

An LCD/TV board asks its TV over HDMI-CEC before every play and says the answer in the play
message (``screen``: ``power`` and ``input``). The report counts a play only when the screen
showed it (``ihanoi.contract.protocol.screen_showed``): a TV in standby or on another input does
not count, a screen without CEC (``unmanaged``) does. Upgrading adds both columns, empty for
every play stored before (LED boards, older boards: counted as before).

Downgrading drops them, and with them the reason some plays were not counted: those plays would
then count. So it refuses while any stored play was made on a screen that did not show it,
naming how many, before changing anything.

Revision ID: 0004
Revises: 0003
"""
from alembic import op
import sqlalchemy as sa

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("plays", sa.Column("screen_power", sa.String(16), nullable=True))
    op.add_column("plays", sa.Column("screen_input", sa.String(8), nullable=True))


def downgrade() -> None:
    t = sa.table("plays", sa.column("screen_power", sa.String(16)), sa.column("screen_input", sa.String(8)))
    # the protocol's screen_showed, in SQL: no screen, unmanaged, or on and not on another input
    showed = sa.or_(t.c.screen_power.is_(None), t.c.screen_power == "unmanaged",
                    sa.and_(t.c.screen_power == "on", sa.func.coalesce(t.c.screen_input, "unknown") != "other"))
    hidden = op.get_bind().execute(sa.select(sa.func.count()).select_from(t).where(sa.not_(showed))).scalar_one()
    if hidden:
        raise RuntimeError(f"cannot downgrade below 0004: {hidden} stored play(s) were made on a TV that was off or "
                           f"on another input and are not counted; without plays.screen_power they would count. "
                           f"Stay at 0004, or delete those plays first.")
    # One statement each on both databases (SQLite has DROP COLUMN since 3.35), as 0003 does.
    op.execute("ALTER TABLE plays DROP COLUMN screen_input")
    op.execute("ALTER TABLE plays DROP COLUMN screen_power")
