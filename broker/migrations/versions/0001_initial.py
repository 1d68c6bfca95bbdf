"""Initial schema: plays, traffic, health, device_state, quarantine.

Revision ID: 0001
Revises:
"""
from alembic import op
import sqlalchemy as sa

from broker.store.schema import UTCDateTime

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _event_columns():
    return [
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("device", sa.String(63), nullable=False),
        sa.Column("stream", sa.String(36), nullable=False),
        sa.Column("seq", sa.BigInteger, nullable=False),
        sa.Column("unit", sa.String(63), nullable=False),
        sa.Column("day", sa.Date, nullable=False),
        sa.Column("weekday", sa.SmallInteger, nullable=False),
        sa.Column("minute", sa.SmallInteger, nullable=False),
        sa.Column("clock_synced", sa.Boolean, nullable=False),
        sa.Column("received_at", UTCDateTime, nullable=False),
    ]


def upgrade() -> None:
    op.create_table(
        "plays", *_event_columns(),
        sa.Column("content_id", sa.String(128), nullable=False),
        sa.Column("content_version", sa.Integer, nullable=False),
        sa.Column("start", UTCDateTime, nullable=False),
        sa.Column("end", UTCDateTime, nullable=False),
        sa.Column("completed", sa.Boolean, nullable=False),
        sa.Column("audience", sa.Integer, nullable=False),
        sa.Column("reason", sa.String(16), nullable=False),
        sa.UniqueConstraint("device", "stream", "seq", name="uq_plays_event"),
    )
    op.create_index("ix_plays_unit_day", "plays", ["unit", "day"])
    op.create_table(
        "traffic", *_event_columns(),
        sa.Column("bin_start", UTCDateTime, nullable=False),
        sa.Column("bin_seconds", sa.Integer, nullable=False),
        sa.Column("onsets", sa.Integer, nullable=False),
        sa.UniqueConstraint("device", "stream", "seq", name="uq_traffic_event"),
    )
    op.create_index("ix_traffic_unit_day", "traffic", ["unit", "day"])
    op.create_table(
        "health",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("device", sa.String(63), nullable=False),
        sa.Column("stream", sa.String(36)),
        sa.Column("seq", sa.BigInteger),
        sa.Column("unit", sa.String(63), nullable=False),
        sa.Column("day", sa.Date, nullable=False),
        sa.Column("time", UTCDateTime, nullable=False),
        sa.Column("uptime_s", sa.Float, nullable=False),
        sa.Column("outbox_depth", sa.Integer, nullable=False),
        sa.Column("outbox_dropped", sa.Integer, nullable=False),
        sa.Column("software_version", sa.String(64), nullable=False),
        sa.Column("content_id", sa.String(128)),
        sa.Column("content_version", sa.Integer),
        sa.Column("cpu_temp_c", sa.Float),
        sa.Column("throttled", sa.Integer),
        sa.Column("clock_synced", sa.Boolean, nullable=False),
        sa.Column("details", sa.JSON),
        sa.Column("received_at", UTCDateTime, nullable=False),
        sa.UniqueConstraint("device", "stream", "seq", name="uq_health_event"),
    )
    op.create_index("ix_health_unit_day", "health", ["unit", "day"])
    op.create_table(
        "device_state",
        sa.Column("device", sa.String(63), primary_key=True),
        sa.Column("unit", sa.String(63), nullable=False),
        sa.Column("last_seen", UTCDateTime),
        sa.Column("state", sa.String(8)),
        sa.Column("state_since", UTCDateTime),
        sa.Column("state_reason", sa.String(16)),
        sa.Column("software_version", sa.String(64)),
        sa.Column("content_version", sa.Integer),
        sa.Column("outbox_depth", sa.Integer),
        sa.Column("outbox_dropped", sa.Integer),
        sa.Column("clock_synced", sa.Boolean),
        sa.Column("last_health", UTCDateTime),
    )
    op.create_table(
        "quarantine",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("received_at", UTCDateTime, nullable=False),
        sa.Column("topic", sa.Text, nullable=False),
        sa.Column("payload", sa.LargeBinary, nullable=False),
        sa.Column("reason", sa.String(32), nullable=False),
        sa.Column("detail", sa.Text, nullable=False),
    )
    op.create_index("ix_quarantine_reason", "quarantine", ["reason"])


def downgrade() -> None:
    for table in ("quarantine", "device_state", "health", "traffic", "plays"):
        op.drop_table(table)
