"""The store's tables, in SQLAlchemy Core: one definition for SQLite and PostgreSQL.

Times are kept in UTC (``UTCDateTime``) because SQLite has no time zone type; ``day``,
``weekday`` and ``minute`` are the event's local date and time of day in the campaign's zone,
computed once at ingest so that the report groups by plain columns on both databases.
Changing a table here needs a new migration in ``broker/migrations/versions/``.
"""

from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy import (JSON, BigInteger, Boolean, Column, Date, DateTime, Float, Index, Integer,
                        LargeBinary, MetaData, SmallInteger, String, Table, Text, Time, UniqueConstraint)
from sqlalchemy.types import TypeDecorator

metadata = MetaData()

# SQLite only auto-increments INTEGER PRIMARY KEY; PostgreSQL wants BIGINT for big tables.
Id = BigInteger().with_variant(Integer(), "sqlite")


class UTCDateTime(TypeDecorator):
    """Aware datetimes in, aware UTC datetimes out; stored as naive UTC."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: the store keeps aware times only")
        return value.astimezone(timezone.utc).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect):
        return None if value is None else value.replace(tzinfo=timezone.utc)


def _event_columns() -> list[Column]:
    """Columns every sequenced event has: who sent it, its key, where it counts, when it came."""
    return [
        Column("id", Id, primary_key=True, autoincrement=True),
        Column("device", String(63), nullable=False),
        Column("stream", String(36), nullable=False),
        Column("seq", BigInteger, nullable=False),
        Column("unit", String(63), nullable=False),
        Column("day", Date, nullable=False),
        Column("weekday", SmallInteger, nullable=False),
        Column("minute", SmallInteger, nullable=False),
        Column("clock_synced", Boolean, nullable=False),
        Column("received_at", UTCDateTime, nullable=False),
    ]


plays = Table(
    "plays", metadata,
    *_event_columns(),
    Column("content_id", String(128), nullable=False),
    Column("content_version", String(64), nullable=False),
    Column("start", UTCDateTime, nullable=False),
    Column("end", UTCDateTime, nullable=False),
    Column("completed", Boolean, nullable=False),
    Column("audience", Integer, nullable=False),
    Column("reason", String(16), nullable=False),
    # What a TV said before the play (the message's ``screen``); NULL: an LED board, or an older board.
    Column("screen_power", String(16)),
    Column("screen_input", String(8)),
    # The campaign the play was made for; a board from before campaigns says none, and its play
    # is stored as the registry's campaign (as every play stored before campaigns existed).
    Column("campaign", String(63), nullable=False),
    UniqueConstraint("device", "stream", "seq", name="uq_plays_event"),
    Index("ix_plays_unit_day", "unit", "day"),
    Index("ix_plays_campaign_day", "campaign", "day"),
)

traffic = Table(
    "traffic", metadata,
    *_event_columns(),
    Column("bin_start", UTCDateTime, nullable=False),
    Column("bin_seconds", Integer, nullable=False),
    Column("onsets", Integer, nullable=False),
    UniqueConstraint("device", "stream", "seq", name="uq_traffic_event"),
    Index("ix_traffic_unit_day", "unit", "day"),
)

# Heartbeats sent through the outbox carry (stream, seq); live ones may not (NULLs never
# collide in a unique constraint, on either database).
health = Table(
    "health", metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("device", String(63), nullable=False),
    Column("stream", String(36)),
    Column("seq", BigInteger),
    Column("unit", String(63), nullable=False),
    Column("day", Date, nullable=False),
    Column("time", UTCDateTime, nullable=False),
    Column("uptime_s", Float, nullable=False),
    Column("outbox_depth", Integer, nullable=False),
    Column("outbox_dropped", Integer, nullable=False),
    Column("software_version", String(64), nullable=False),
    Column("content_id", String(128)),
    Column("content_version", String(64)),
    Column("cpu_temp_c", Float),
    Column("throttled", Integer),
    Column("clock_synced", Boolean, nullable=False),
    Column("details", JSON),
    Column("received_at", UTCDateTime, nullable=False),
    UniqueConstraint("device", "stream", "seq", name="uq_health_event"),
    Index("ix_health_unit_day", "unit", "day"),
)

# One row per device: the latest of what its state, health and events said.
device_state = Table(
    "device_state", metadata,
    Column("device", String(63), primary_key=True),
    Column("unit", String(63), nullable=False),
    Column("last_seen", UTCDateTime),
    Column("state", String(8)),
    Column("state_since", UTCDateTime),
    Column("state_reason", String(16)),
    Column("software_version", String(64)),
    Column("content_version", String(64)),
    Column("outbox_depth", Integer),
    Column("outbox_dropped", Integer),
    Column("clock_synced", Boolean),
    Column("last_health", UTCDateTime),
    Column("screen_fault", String(1024)),
)

quarantine = Table(
    "quarantine", metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("received_at", UTCDateTime, nullable=False),
    Column("topic", Text, nullable=False),
    Column("payload", LargeBinary, nullable=False),
    Column("reason", String(32), nullable=False),
    Column("detail", Text, nullable=False),
    Index("ix_quarantine_reason", "reason"),
)

# The district's campaigns (``ihanoi.contract.campaigns.Campaign``, one row each; the registry's
# campaign is the first). ``last_day``/``ends`` are the window as it stands: ending a campaign
# early moves them and stamps ``ended_at``. ``play_seconds``: a play's length for the fit rule.
campaigns = Table(
    "campaigns", metadata,
    Column("id", String(63), primary_key=True),
    Column("title", String(256), nullable=False),
    Column("directive_number", String(64), nullable=False),
    Column("directive_date", Date, nullable=False),
    Column("directive_issuer", String(256), nullable=False),
    Column("first_day", Date, nullable=False),
    Column("last_day", Date, nullable=False),
    Column("starts", Time),
    Column("ends", Time),
    Column("content_id", String(128), nullable=False),
    Column("bundle", String(64)),
    Column("target", JSON, nullable=False),
    Column("quota", Integer, nullable=False),
    Column("min_gap_minutes", Integer, nullable=False),
    Column("seek_peaks", Boolean, nullable=False),
    Column("play_seconds", Integer, nullable=False),
    Column("ended_at", UTCDateTime),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
)

# Per unit, the campaign set last announced to it: its version only goes up; ``digest`` tells
# whether the next announcement changes anything (a new version) or repeats this one.
campaign_sets = Table(
    "campaign_sets", metadata,
    Column("unit", String(63), primary_key=True),
    Column("version", Integer, nullable=False),
    Column("digest", String(64), nullable=False),
    Column("announced_at", UTCDateTime, nullable=False),
)

EVENT_TABLES = {"play": plays, "traffic": traffic, "health": health}
