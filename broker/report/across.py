"""The district summary across campaigns: which units comply with all their directives (pure).

A unit complies with a directive over a report's period when it meets the directive's own measure
(its boards' average plays per open day reach the quota); a campaign the unit had no open day of
in the period says nothing either way. A unit complies with all its directives when none says no.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class UnitAcross:
    unit: str
    name: str
    kind: str
    verdicts: dict[str, bool | None]         # campaign id -> meets its measure (None: no open day)

    @property
    def complies_with_all(self) -> bool | None:
        said = [v for v in self.verdicts.values() if v is not None]
        return None if not said else all(said)


@dataclass
class Across:
    campaigns: list[str]
    units: list[UnitAcross]
    unknown: dict[str, int] = field(default_factory=dict)   # plays naming a campaign the store does not have

    @property
    def complying(self) -> int:
        return sum(u.complies_with_all is True for u in self.units)


def across(registry, reports, unknown: dict[str, int] | None = None) -> Across:
    rows = []
    for unit in registry.units:
        verdicts = {r.campaign.id: s.meets_average for r in reports for s in r.units if s.unit == unit.id}
        if verdicts:
            first = next(s for r in reports for s in r.units if s.unit == unit.id)
            rows.append(UnitAcross(unit.id, unit.name, first.kind, verdicts))
    return Across([r.campaign.id for r in reports], rows, dict(unknown or {}))
