"""Adding and ending campaigns, the same for the command line and the dashboard.

Adding checks the fit rule against every campaign in the store and refuses, with the arithmetic,
a campaign that does not fit (a ConfigError on the file's ``quota``). Ending takes a last day
(the campaign plays all of it) or, without one, ends the campaign at the minute it is.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

from broker.campaigns.fit import refusal, shortfalls
from broker.campaigns.targets import targeted_units
from broker.store.campaigns import StoredCampaign, known_campaigns, seed
from ihanoi.contract.errors import ConfigError


def add_campaign(store, registry, campaign, play_seconds: int, now: datetime, source) -> StoredCampaign:
    seed(store.campaigns, registry, now)
    candidate = StoredCampaign(campaign, play_seconds, now, now)
    found = shortfalls(candidate, known_campaigns(store.campaigns, registry), registry)
    if found:
        raise ConfigError(source, [("quota", refusal(campaign.id, found))])
    return store.campaigns.add(campaign, play_seconds, now)


def end_campaign(store, registry, campaign_id: str, last_day: date | None, now: datetime) -> StoredCampaign:
    seed(store.campaigns, registry, now)
    tz = registry.campaign.tz
    stop = (datetime.combine(last_day + timedelta(days=1), time(0), tz) if last_day
            else now.astimezone(tz).replace(second=0, microsecond=0))
    return store.campaigns.end(campaign_id, stop, now, tz)


def units_of(registry, campaign) -> set[str]:
    """The units whose set changes with ``campaign``: those it targets."""
    return {u.id for u in targeted_units(registry, campaign)}
