"""The board's campaign set: what the district asked this board to play, kept across restarts.

The district announces every campaign that targets a unit as one signed, retained message on
``unit/{unit}/campaigns`` (``ihanoi.contract.campaigns``). ``CampaignBook.offer`` takes that
message's bytes and applies the set only when a content key this board trusts signed it, it is
for this board's unit and its version is newer than the one the board has; anything else is
refused with a reason (``ProtocolError``), counted and kept in ``figures()`` for health. The same
set arriving again (the broker re-delivers a retained message on every reconnect) is not news
and is neither applied nor refused again; nor is a refused announcement arriving again.

An applied set is written to the board's SQLite file (``edge.localdb``) before it is used, so a
board that restarts without network keeps obeying it, and a campaign's last day and minute are
known offline: ``active_at`` answers from the set alone. Until a set has been received, the
board plays the registry's campaign (``campaigns.from_registry``), as it always has.
"""

from __future__ import annotations

import logging
from collections import Counter
from datetime import date, datetime

from edge.localdb import LocalDB
from ihanoi.contract import campaigns
from ihanoi.contract.campaigns import Campaign, CampaignSet
from ihanoi.contract.errors import ProtocolError

log = logging.getLogger(__name__)

SCHEMA = """
CREATE TABLE IF NOT EXISTS campaign_set (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    version INTEGER NOT NULL, body TEXT NOT NULL, applied TEXT NOT NULL
);
"""


class CampaignBook:
    def __init__(self, db: LocalDB, trusted: tuple, unit: str, default: Campaign, tz, clock):
        """``trusted``: the content keys (``TrustedKey``) a set must be signed with; ``default``: what
        the board plays until it has a set (the registry's campaign)."""
        self.db = db
        self.trusted = tuple(trusted)
        self.unit = unit
        self.default = default
        self.tz = tz
        self.clock = clock
        self.refused: Counter[str] = Counter()
        self.last_refusal: str | None = None
        self._refused_payload: bytes | None = None     # the last one refused: its re-deliveries are not news
        db.declare(SCHEMA)
        self.current: CampaignSet | None = self._load()

    def _load(self) -> CampaignSet | None:
        rows = self.db.query("SELECT body FROM campaign_set WHERE id = 1")
        if not rows:
            return None
        try:
            return CampaignSet.model_validate_json(rows[0][0])
        except ValueError as exc:        # written by this code, so only a damaged file gets here
            log.error("the stored campaign set cannot be read (%s); playing the registry's campaign until the "
                      "district's set arrives again", str(exc).splitlines()[0])
            return None

    # --- what the board plays -------------------------------------------------------------------
    @property
    def version(self) -> int | None:
        return self.current.version if self.current else None

    @property
    def campaigns(self) -> tuple[Campaign, ...]:
        """Every campaign of the set (any day), or the registry's one before any set arrived."""
        return self.current.campaigns if self.current is not None else (self.default,)

    def active_at(self, moment: datetime) -> list[Campaign]:
        """The campaigns that may play at this minute (their window, to the minute)."""
        return [c for c in self.campaigns if c.active_at(moment, self.tz)]

    def active_on(self, day: date) -> list[Campaign]:
        """The campaigns whose window touches ``day`` (a part of it, when it starts or ends that day)."""
        return [c for c in self.campaigns if c.active_on(day)]

    # --- the district's announcement --------------------------------------------------------------
    def offer(self, payload: bytes) -> CampaignSet | None:
        """Apply an announcement; returns the new set, or None when it is not news (the set already
        applied, the announcement last refused).

        Raises ProtocolError (and counts it) for anything the board must not obey: ``invalid``,
        ``unsigned``, ``bad-signature``, ``wrong-target`` (from ``campaigns.verify``) and ``stale``
        (a version not newer than the board's). An empty message (the retained announcement withdrawn)
        changes nothing: the board keeps the set it has, with its campaigns' last days.
        """
        if not payload:
            log.info("the campaign announcement was withdrawn; keeping set version %s", self.version)
            return None
        if payload == self._refused_payload:
            return None
        try:
            offered = campaigns.verify(payload, self.trusted, self.unit)
            if self.current is not None and offered.version <= self.current.version:
                if offered == self.current:
                    return None
                raise ProtocolError("stale", f"version {offered.version} is not newer than version "
                                             f"{self.current.version}, which this board already obeys")
        except ProtocolError as exc:
            self.refused[exc.reason] += 1
            self._refused_payload = payload
            self.last_refusal = f"{self.clock.now().isoformat(timespec='seconds')} {exc.reason}: {exc.detail}"
            log.warning("refused a campaign set: %s: %s", exc.reason, exc.detail)
            raise
        with self.db.transaction() as tx:
            tx.execute("INSERT OR REPLACE INTO campaign_set VALUES (1, ?, ?, ?)",
                       (offered.version, offered.model_dump_json(by_alias=True),
                        self.clock.now().isoformat()))
        self.current = offered
        log.info("campaign set version %d applied: %s", offered.version,
                 ", ".join(c.id for c in offered.campaigns) or "no campaigns")
        return offered

    def figures(self) -> dict:
        """What health says about the set: its version, the campaigns in it, the refusals."""
        return {"campaign_set": self.version, "campaigns": [c.id for c in self.campaigns],
                "campaign_set_refused": dict(self.refused), "campaign_set_last_refusal": self.last_refusal}
