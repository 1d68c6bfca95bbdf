"""The district's campaigns in the store, and the campaign set last announced to each unit.

A campaign is kept as ``ihanoi.contract.campaigns.Campaign`` says it, plus ``play_seconds`` (a
play's length, for the fit rule) and when it was made, changed and ended. Ending a campaign
moves the end of its window to the moment given and stamps ``ended_at`` with that moment; a
campaign ended before it started is *withdrawn*: its window stays as it was, and no board is
told of it any more.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta

from sqlalchemy import select
from sqlalchemy.engine import Engine

from broker.store import schema
from ihanoi.contract.campaigns import Campaign, Directive, Target
from ihanoi.contract.errors import StoreError

DEFAULT_PLAY_SECONDS = 60        # a promo's length, when a campaign file does not say


@dataclass(frozen=True)
class StoredCampaign:
    campaign: Campaign
    play_seconds: int
    created_at: datetime
    updated_at: datetime
    ended_at: datetime | None = None

    @property
    def id(self) -> str:
        return self.campaign.id

    def withdrawn(self, tz) -> bool:
        """Ended before it started: nothing of it is announced, planned or counted."""
        return self.ended_at is not None and self.ended_at <= self.campaign.window(tz)[0]

    def state(self, now: datetime, tz) -> str:
        """planned | active | over | ended early | withdrawn"""
        start, end = self.campaign.window(tz)
        if self.withdrawn(tz):
            return "withdrawn"
        if now >= end:
            return "ended early" if self.ended_at else "over"
        return "active" if now >= start else "planned"


def _row(c: Campaign, play_seconds: int) -> dict:
    return {"id": c.id, "title": c.title, "directive_number": c.directive.number, "directive_date": c.directive.date,
            "directive_issuer": c.directive.issuer, "first_day": c.first_day, "last_day": c.last_day,
            "starts": c.starts, "ends": c.ends, "content_id": c.content_id, "bundle": c.bundle,
            "target": c.target.model_dump(mode="json"), "quota": c.quota, "min_gap_minutes": c.min_gap_minutes,
            "seek_peaks": c.seek_peaks, "play_seconds": play_seconds}


def _stored(r) -> StoredCampaign:
    campaign = Campaign(id=r.id, title=r.title, directive=Directive(number=r.directive_number, date=r.directive_date,
                                                                   issuer=r.directive_issuer),
                        first_day=r.first_day, last_day=r.last_day, starts=r.starts, ends=r.ends,
                        content_id=r.content_id, bundle=r.bundle, target=Target.model_validate(r.target),
                        quota=r.quota, min_gap_minutes=r.min_gap_minutes, seek_peaks=r.seek_peaks)
    return StoredCampaign(campaign, r.play_seconds, r.created_at, r.updated_at, r.ended_at)


def window_ending_at(campaign: Campaign, stop: datetime) -> Campaign:
    """``campaign`` with its window ending at ``stop`` (local time): on a day boundary the day
    before is its last whole day, else it ends that day at ``stop``'s minute."""
    if stop.time() == time(0):
        return campaign.model_copy(update={"last_day": stop.date() - timedelta(days=1), "ends": None})
    return campaign.model_copy(update={"last_day": stop.date(), "ends": stop.time().replace(second=0, microsecond=0)})


class CampaignBook:
    """Reads and writes ``campaigns`` and ``campaign_sets``; each call is one transaction."""

    def __init__(self, engine: Engine):
        self.engine = engine

    def all(self) -> list[StoredCampaign]:
        t = schema.campaigns
        with self.engine.connect() as conn:
            rows = conn.execute(select(t).order_by(t.c.first_day, t.c.created_at, t.c.id)).all()
        return [_stored(r) for r in rows]

    def get(self, campaign_id: str) -> StoredCampaign:
        t = schema.campaigns
        with self.engine.connect() as conn:
            row = conn.execute(select(t).where(t.c.id == campaign_id)).first()
        if row is None:
            known = ", ".join(c.id for c in self.all()) or "none"
            raise StoreError(f"no campaign {campaign_id!r} in the store (known: {known}); "
                             "list them with: ihanoi-broker campaign list")
        return _stored(row)

    def add(self, campaign: Campaign, play_seconds: int, now: datetime) -> StoredCampaign:
        t = schema.campaigns
        with self.engine.begin() as conn:
            if conn.execute(select(t.c.id).where(t.c.id == campaign.id)).first() is not None:
                raise StoreError(f"a campaign {campaign.id!r} is already in the store; an id is never reused "
                                 "(give the new campaign another id, or end this one)")
            conn.execute(t.insert().values(**_row(campaign, play_seconds), created_at=now, updated_at=now))
        return StoredCampaign(campaign, play_seconds, now, now)

    def ensure(self, campaign: Campaign, play_seconds: int, now: datetime) -> bool:
        """Add ``campaign`` unless its id is there (the registry's campaign, seeded once); True when added."""
        t = schema.campaigns
        with self.engine.begin() as conn:
            if conn.execute(select(t.c.id).where(t.c.id == campaign.id)).first() is not None:
                return False
            conn.execute(t.insert().values(**_row(campaign, play_seconds), created_at=now, updated_at=now))
        return True

    def end(self, campaign_id: str, stop: datetime, now: datetime, tz) -> StoredCampaign:
        """End the campaign at ``stop``: it plays until then; before its start it is withdrawn."""
        stored = self.get(campaign_id)
        start, end = stored.campaign.window(tz)
        if stored.withdrawn(tz):
            raise StoreError(f"campaign {campaign_id!r} was withdrawn already (ended before it started)")
        if stop >= end:
            raise StoreError(f"campaign {campaign_id!r} ends already at {end:%Y-%m-%d %H:%M}, before "
                             f"{stop:%Y-%m-%d %H:%M}; a campaign can be ended early, not extended")
        campaign = stored.campaign if stop <= start else window_ending_at(stored.campaign, stop.astimezone(tz))
        t = schema.campaigns
        with self.engine.begin() as conn:
            conn.execute(t.update().where(t.c.id == campaign_id).values(
                last_day=campaign.last_day, ends=campaign.ends, ended_at=stop, updated_at=now))
        return StoredCampaign(campaign, stored.play_seconds, stored.created_at, now, stop)

    # --- announcements --------------------------------------------------------------------------
    def announced(self) -> dict[str, tuple[int, str]]:
        """Per unit, the version and digest of the set last announced to it."""
        t = schema.campaign_sets
        with self.engine.connect() as conn:
            return {r.unit: (r.version, r.digest) for r in conn.execute(select(t))}

    def record_announced(self, unit: str, version: int, digest: str, now: datetime) -> None:
        t = schema.campaign_sets
        with self.engine.begin() as conn:
            done = conn.execute(t.update().where(t.c.unit == unit).values(version=version, digest=digest,
                                                                            announced_at=now)).rowcount
            if not done:
                conn.execute(t.insert().values(unit=unit, version=version, digest=digest, announced_at=now))


def first_campaign(registry) -> StoredCampaign:
    """The registry's campaign as the store's first entry (``ihanoi.contract.campaigns.from_registry``)."""
    from ihanoi.contract.campaigns import from_registry

    epoch = datetime.combine(registry.campaign.first_day, time(0), registry.campaign.tz)
    return StoredCampaign(from_registry(registry), DEFAULT_PLAY_SECONDS, epoch, epoch)


def seed(book: CampaignBook, registry, now: datetime) -> bool:
    """Write the registry's campaign into the store unless it is there; True when written."""
    return book.ensure(first_campaign(registry).campaign, DEFAULT_PLAY_SECONDS, now)


def known_campaigns(book: CampaignBook, registry) -> list[StoredCampaign]:
    """The store's campaigns, the registry's first even when a read-only verb finds it not yet written."""
    stored = book.all()
    if any(s.id == registry.campaign.id for s in stored):
        return stored
    return [first_campaign(registry)] + stored
