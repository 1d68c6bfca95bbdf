"""Campaigns as data: the ``campaigns`` table, the set announced to each unit, ``plays.campaign``.

A campaign is one directive of the district (``ihanoi.contract.campaigns.Campaign``); the
registry's campaign is its first entry (the store writes it when it opens: it needs the
registry, which a migration does not read). Every play names its campaign: the plays stored
before this revision were all of the registry's campaign, and are given its id (``ihanoi``
unless the caller says otherwise: ``broker.migrations.upgrade(first_campaign=...)``).

Downgrading drops the tables and the column, and with them which campaign a play was for: it
refuses while any stored play is of another campaign than the first, naming how many.

Revision ID: 0005
Revises: 0004
"""
from alembic import context, op
import sqlalchemy as sa

from broker.store.rows import FIRST_CAMPAIGN
from broker.store.schema import UTCDateTime

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

def _first_campaign() -> str:
    return context.config.attributes.get("first_campaign") or FIRST_CAMPAIGN


def upgrade() -> None:
    op.create_table(
        "campaigns",
        sa.Column("id", sa.String(63), primary_key=True),
        sa.Column("title", sa.String(256), nullable=False),
        sa.Column("directive_number", sa.String(64), nullable=False),
        sa.Column("directive_date", sa.Date, nullable=False),
        sa.Column("directive_issuer", sa.String(256), nullable=False),
        sa.Column("first_day", sa.Date, nullable=False),
        sa.Column("last_day", sa.Date, nullable=False),
        sa.Column("starts", sa.Time),
        sa.Column("ends", sa.Time),
        sa.Column("content_id", sa.String(128), nullable=False),
        sa.Column("bundle", sa.String(64)),
        sa.Column("target", sa.JSON, nullable=False),
        sa.Column("quota", sa.Integer, nullable=False),
        sa.Column("min_gap_minutes", sa.Integer, nullable=False),
        sa.Column("seek_peaks", sa.Boolean, nullable=False),
        sa.Column("play_seconds", sa.Integer, nullable=False),
        sa.Column("ended_at", UTCDateTime),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("updated_at", UTCDateTime, nullable=False),
    )
    op.create_table(
        "campaign_sets",
        sa.Column("unit", sa.String(63), primary_key=True),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("digest", sa.String(64), nullable=False),
        sa.Column("announced_at", UTCDateTime, nullable=False),
    )
    op.add_column("plays", sa.Column("campaign", sa.String(63), nullable=True))
    plays = sa.table("plays", sa.column("campaign", sa.String(63)))
    op.execute(plays.update().values(campaign=_first_campaign()))
    with op.batch_alter_table("plays") as batch:
        batch.alter_column("campaign", existing_type=sa.String(63), nullable=False)
    op.create_index("ix_plays_campaign_day", "plays", ["campaign", "day"])


def downgrade() -> None:
    plays = sa.table("plays", sa.column("campaign", sa.String(63)))
    first = _first_campaign()
    others = op.get_bind().execute(
        sa.select(sa.func.count()).select_from(plays).where(plays.c.campaign != first)).scalar_one()
    if others:
        raise RuntimeError(f"cannot downgrade below 0005: {others} stored play(s) are of another campaign than "
                           f"{first!r}; without plays.campaign they could not be told apart. Stay at 0005, or "
                           f"delete those plays first.")
    op.drop_index("ix_plays_campaign_day", table_name="plays")
    # One statement on both databases (SQLite has DROP COLUMN since 3.35), as 0003 does.
    op.execute("ALTER TABLE plays DROP COLUMN campaign")
    op.drop_table("campaign_sets")
    op.drop_table("campaigns")
