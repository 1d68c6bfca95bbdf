"""Validated protocol messages -> store rows (pure: no database here).

The unit comes from the registry (the caller looks it up), never from the payload; local
day, weekday and minute of day are taken in the campaign's zone.
"""

from __future__ import annotations

from datetime import datetime, tzinfo

from ihanoi.contract import protocol
from ihanoi.contract.registry import Campaign as RegistryCampaign
from ihanoi.contract.timeofday import minute_of_day

# The registry's campaign id unless the registry names another: what a play without a campaign is for.
FIRST_CAMPAIGN = RegistryCampaign.model_fields["id"].default


# One dict literal per kind: a backlog drain builds thousands of these a second.
def event_row(message: protocol.Message, unit: str, tz: tzinfo, received_at: datetime,
              first_campaign: str = FIRST_CAMPAIGN) -> dict:
    """The row for a play, traffic or health message; a play that names no campaign (a board from
    before campaigns) is stored as ``first_campaign``'s, the registry's campaign."""
    if isinstance(message, protocol.Traffic):
        local = message.bin_start.astimezone(tz)
        return {"device": message.device, "unit": unit, "received_at": received_at,
                "clock_synced": message.clock_synced, "day": local.date(), "weekday": local.weekday(),
                "minute": minute_of_day(local), "stream": str(message.stream), "seq": message.seq,
                "bin_start": message.bin_start, "bin_seconds": message.bin_seconds, "onsets": message.onsets}
    if isinstance(message, protocol.Play):
        local = message.start.astimezone(tz)
        return {"device": message.device, "unit": unit, "received_at": received_at,
                "clock_synced": message.clock_synced, "day": local.date(), "weekday": local.weekday(),
                "minute": minute_of_day(local), "stream": str(message.stream), "seq": message.seq,
                "content_id": message.content.id, "content_version": message.content.version,
                "start": message.start, "end": message.end, "completed": message.completed,
                "audience": message.audience, "reason": message.reason,
                "screen_power": message.screen.power if message.screen else None,
                "screen_input": message.screen.input if message.screen else None,
                "campaign": message.campaign or first_campaign}
    base = {"device": message.device, "unit": unit, "received_at": received_at,
            "clock_synced": message.clock_synced}
    if isinstance(message, protocol.Health):
        return {**base, "day": message.time.astimezone(tz).date(),
                "stream": str(message.stream) if message.stream else None, "seq": message.seq,
                "time": message.time, "uptime_s": message.uptime_s, "outbox_depth": message.outbox_depth,
                "outbox_dropped": message.outbox_dropped, "software_version": message.software_version,
                "content_id": message.content_id, "content_version": message.content_version,
                "cpu_temp_c": message.cpu_temp_c, "throttled": message.throttled,
                "details": message.details or None}
    raise TypeError(f"{type(message).__name__} is not a stored event")


def state_row(message: protocol.State, unit: str) -> dict:
    return {"device": message.device, "unit": unit, "state": message.state, "state_since": message.since,
            "state_reason": message.reason, "software_version": message.software_version,
            "content_version": message.content_version, "screen_fault": message.screen_fault}


def health_state_row(message: protocol.Health, unit: str) -> dict:
    return {"device": message.device, "unit": unit, "last_health": message.time,
            "software_version": message.software_version, "content_version": message.content_version,
            "outbox_depth": message.outbox_depth, "outbox_dropped": message.outbox_dropped,
            "clock_synced": message.clock_synced, "screen_fault": message.screen_fault}
