"""Which units a campaign asks to play, and how often (pure: the registry and the campaigns in).

A campaign's quota is per board and open day. A unit's head may raise the quota of the registry's
campaign for their unit (``quota`` in the units registry, as before campaigns existed); every
other campaign asks its own quota of every unit it targets.
"""

from __future__ import annotations

from datetime import date


def targets(campaign, unit) -> bool:
    return campaign.target.includes(unit.id, unit.kind)


def targeted_units(registry, campaign) -> list:
    return [u for u in registry.units if targets(campaign, u)]


def quota_for(registry, unit, campaign) -> int:
    """Plays per board and open day ``campaign`` asks of ``unit``."""
    if campaign.id == registry.campaign.id:
        return max(registry.quota_of(unit), campaign.quota)
    return campaign.quota


def active_for(stored, unit, day: date, tz) -> list:
    """The campaigns of ``stored`` (``StoredCampaign``) that ``unit`` plays on ``day``."""
    return [s for s in stored if not s.withdrawn(tz) and s.campaign.active_on(day) and targets(s.campaign, unit)]
