"""The campaign set each unit is told of (pure): every campaign that targets it and is not over.

A set changes only when its campaigns do; the version of a changed set is one more than the
last one announced to the unit, an unchanged set keeps its version (announcing it again only
restores the retained message, e.g. on a broker that lost it). A campaign withdrawn before it
started, or whose window has ended, is left out: a board that receives the set stops it.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime

from broker.campaigns.targets import targets
from ihanoi.contract.campaigns import MAX_CAMPAIGNS, CampaignSet
from ihanoi.contract.errors import StoreError


@dataclass(frozen=True)
class UnitSet:
    unit: str
    campaign_set: CampaignSet
    digest: str
    changed: bool


def digest(campaigns) -> str:
    body = json.dumps([c.model_dump(mode="json") for c in campaigns], sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(body.encode("utf-8")).hexdigest()


def unit_sets(registry, stored, announced: dict[str, tuple[int, str]], now: datetime,
              units: set[str] | None = None) -> list[UnitSet]:
    """The set of every unit (or of ``units``), versioned against ``announced`` (unit -> (version, digest))."""
    tz = registry.campaign.tz
    live = [s.campaign for s in stored if not s.withdrawn(tz) and s.campaign.window(tz)[1] > now]
    out = []
    for unit in registry.units:
        if units is not None and unit.id not in units:
            continue
        campaigns = tuple(c for c in live if targets(c, unit))
        if len(campaigns) > MAX_CAMPAIGNS:
            raise StoreError(f"unit {unit.id} is targeted by {len(campaigns)} campaigns that are not over; a board's "
                             f"set holds at most {MAX_CAMPAIGNS}: end some of them first")
        d = digest(campaigns)
        version, last = announced.get(unit.id, (0, None))
        changed = d != last
        out.append(UnitSet(unit.id, CampaignSet(version=version + 1 if changed else version, issued=now,
                                                unit=unit.id, campaigns=campaigns), d, changed))
    return out
