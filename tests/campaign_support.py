"""Plays of several campaigns as boards send them, for the report, dashboard and metrics tests."""

from __future__ import annotations

import uuid
from collections import Counter
from datetime import datetime, timedelta

from broker.store.rows import event_row
from ihanoi.contract import protocol
from ihanoi.contract.clock import CAMPAIGN_TZ


class Boards:
    """Each board's play messages as stored rows (``rows``), and each board's own record of what it
    played per campaign (``records``: (campaign, device, day) -> plays; no campaign named is iHanoi's)."""

    def __init__(self, unit_of: dict[str, str], received: datetime):
        self.unit_of = unit_of
        self.received = received
        self.streams = {d: uuid.uuid4() for d in unit_of}
        self.seq = Counter()
        self.rows = []
        self.records = Counter()

    def play(self, device, start, campaign=None, content="ihanoi-promo", screen=None):
        self.seq[device] += 1
        msg = protocol.Play(device=device, stream=self.streams[device], seq=self.seq[device],
                            content={"id": content, "version": 1, "sha256": "0" * 64}, start=start,
                            end=start + timedelta(seconds=40), completed=True, audience=2, reason="peak",
                            clock_synced=True, campaign=campaign, screen=screen)
        self.rows.append(event_row(msg, self.unit_of[device], CAMPAIGN_TZ, self.received))
        self.records[(campaign or "ihanoi", device, start.date())] += 1
