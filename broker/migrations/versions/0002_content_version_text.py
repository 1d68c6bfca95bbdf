"""Content versions are text: plays, health and device_state keep ``content_version`` as String(64).

The protocol has always said a content version is text ("2024.08.1" for a pack, "7" for
bundle 7), but 0001 made the column INTEGER: PostgreSQL refused such a play (and the
collector retried its batch for ever), SQLite kept the text among integers. Upgrading keeps
every stored value, integers become their decimal text ("3").

Downgrading turns the column back into INTEGER and so works only while every stored version
is a whole number: it stops with an error naming the table and the versions that are not,
before changing anything (SQLite's CAST would otherwise turn "2024.08.1" into 2024 silently).

Revision ID: 0002
Revises: 0001
"""
import re

from alembic import op
import sqlalchemy as sa

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

# (table, nullable) of every content_version column.
COLUMNS = (("plays", False), ("health", True), ("device_state", True))


def upgrade() -> None:
    for table, nullable in COLUMNS:
        with op.batch_alter_table(table) as batch:
            batch.alter_column("content_version", type_=sa.String(64), existing_type=sa.Integer(),
                               existing_nullable=nullable, postgresql_using="content_version::text")


def _not_integers(table: str) -> list[str]:
    t = sa.table(table, sa.column("content_version", sa.String(64)))
    rows = op.get_bind().execute(sa.select(t.c.content_version).where(t.c.content_version.is_not(None)).distinct())
    return sorted(str(v) for (v,) in rows if not re.fullmatch(r"-?[0-9]+", str(v)))


def downgrade() -> None:
    for table, _ in COLUMNS:
        bad = _not_integers(table)
        if bad:
            shown = ", ".join(repr(v) for v in bad[:5]) + (f" and {len(bad) - 5} more" if len(bad) > 5 else "")
            raise RuntimeError(f"cannot downgrade below 0002: {table}.content_version holds versions that are not "
                               f"integers ({shown}); an INTEGER column cannot keep them. Delete or rewrite those "
                               f"rows first, or stay at 0002.")
    for table, nullable in COLUMNS:
        with op.batch_alter_table(table) as batch:
            batch.alter_column("content_version", type_=sa.Integer(), existing_type=sa.String(64),
                               existing_nullable=nullable, postgresql_using="content_version::integer")
