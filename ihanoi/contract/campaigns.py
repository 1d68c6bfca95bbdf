"""Campaigns as data: what a directive asks the boards to play, and the signed set a board obeys.

A campaign is one directive of the district (the iHanoi promo is the first): its reference
(số văn bản, date, issuing body), its window (first and last day, optionally from and until a
time of day, honoured to the minute), its content (the pack id whose plays count, and the
bundle that carries it), the units it targets (all, kinds of unit, or a list), the plays per
open day per board (a unit's head may raise it for their unit, never lower it), the minimum
gap between two of its plays, and whether its plays seek the busy hours.

The server keeps the campaigns in its store and announces to each unit the set of campaigns
that target it, signed with a content key the boards trust (``ihanoi.contract.keys``), as one
retained message (``CampaignAnnouncement`` on ``unit/{unit}/campaigns``): a board obeys only a
set signed by the district, never an older one than it has (``version`` only goes up), applies
a set it missed while offline when it reconnects, and stops a campaign on its last day by
itself. Until a board has received a set, it plays the registry's campaign (``Registry.
campaign``), which is also the first entry of the server's store.
"""

from __future__ import annotations

import base64
import json
from datetime import date, datetime, time, timedelta
from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StrictInt, model_validator

from ihanoi.contract.errors import ProtocolError
from ihanoi.contract.keys import TrustedKey, key_id
from ihanoi.contract.registry import ID_PATTERN as CAMPAIGN_ID
from ihanoi.contract.registry import UnitKind

TOPIC_VERB = "campaigns"          # unit/{unit}/campaigns, retained
MAX_CAMPAIGNS = 64                # in one set; the planner is measured with 8 at once


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Directive(_Model):
    """The document behind a campaign, as the district's reply quotes it."""

    number: str = Field(min_length=1, max_length=64, description="số văn bản, e.g. 2720/UBND-TTĐT")
    date: date
    issuer: str = Field(min_length=1, max_length=256, description="cơ quan ban hành")


class Target(_Model):
    """Which units: every unit, every unit of some kinds, or a list of unit ids."""

    all: bool = False
    kinds: tuple[UnitKind, ...] = ()
    units: tuple[str, ...] = ()

    @model_validator(mode="after")
    def _one_form(self):
        forms = sum((self.all, bool(self.kinds), bool(self.units)))
        if forms != 1:
            raise ValueError("a target is exactly one of: all = true, kinds = [...], units = [...]")
        return self

    def includes(self, unit_id: str, unit_kind: str) -> bool:
        return self.all or unit_kind in self.kinds or unit_id in self.units


class Campaign(_Model):
    id: str = Field(pattern=CAMPAIGN_ID)
    title: str = Field(min_length=2, max_length=256)
    directive: Directive
    first_day: date
    last_day: date
    starts: time | None = Field(None, description="on the first day, from this time (default: the whole day)")
    ends: time | None = Field(None, description="on the last day, until this time (default: the whole day)")
    content_id: str = Field(min_length=1, max_length=128, description="the pack whose plays count")
    bundle: str | None = Field(None, max_length=64, description="the content bundle that carries the pack")
    target: Target
    quota: StrictInt = Field(10, ge=1, le=200, description="plays per open day per board")
    min_gap_minutes: StrictInt = Field(15, ge=1, le=240)
    seek_peaks: bool = True

    @model_validator(mode="after")
    def _window(self):
        if self.last_day < self.first_day:
            raise ValueError(f"last_day {self.last_day} is before first_day {self.first_day}")
        if self.first_day == self.last_day and self.starts and self.ends and self.ends <= self.starts:
            raise ValueError(f"a one-day campaign ends ({self.ends}) before it starts ({self.starts})")
        return self

    def window(self, tz) -> tuple[datetime, datetime]:
        """[start, end) of the campaign in ``tz``: to the minute when ``starts``/``ends`` are set."""
        start = datetime.combine(self.first_day, self.starts or time(0), tz)
        end = (datetime.combine(self.last_day, self.ends, tz) if self.ends
               else datetime.combine(self.last_day + timedelta(days=1), time(0), tz))
        return start, end

    def active_at(self, moment: datetime, tz) -> bool:
        start, end = self.window(tz)
        return start <= moment < end

    def active_on(self, day: date) -> bool:
        return self.first_day <= day <= self.last_day


class CampaignSet(_Model):
    """Every campaign that targets one unit, as the district announces it (signed)."""

    schema_: Literal["ihanoi.campaigns/1"] = Field("ihanoi.campaigns/1", alias="schema")
    version: StrictInt = Field(ge=1, description="only goes up: a board never applies an older set")
    issued: AwareDatetime
    unit: str = Field(pattern=CAMPAIGN_ID)
    campaigns: tuple[Campaign, ...] = Field((), max_length=MAX_CAMPAIGNS)

    @model_validator(mode="after")
    def _unique(self):
        ids = [c.id for c in self.campaigns]
        if len(ids) != len(set(ids)):
            raise ValueError("a campaign id appears twice in the set")
        return self


class CampaignAnnouncement(_Model):
    """The retained message on ``unit/{unit}/campaigns``: the set's exact bytes and their signature."""

    schema_: Literal["ihanoi.campaign-announcement/1"] = Field("ihanoi.campaign-announcement/1", alias="schema")
    key_id: str = Field(pattern=r"^[0-9a-f]{16}$")
    body: str = Field(max_length=512 * 1024, description="the CampaignSet's JSON, base64")
    signature: str = Field(max_length=128, description="Ed25519 over the decoded body, base64")


def from_registry(registry) -> Campaign:
    """The registry's campaign as a campaign of the store: every unit, the district quota and gap.

    A unit's own higher quota stays the registry's (``Registry.quota_of``); a campaign's quota is the
    district's. Without a directive in the registry, the campaign's name stands for its reference.
    """
    rc = registry.campaign
    ref = rc.directive
    directive = (Directive(number=ref.number, date=ref.date, issuer=ref.issuer) if ref
                 else Directive(number=rc.name[:64], date=rc.first_day, issuer="—"))
    return Campaign(id=rc.id, title=rc.name, directive=directive, first_day=rc.first_day, last_day=rc.last_day,
                    content_id=rc.content_id, target=Target(all=True), quota=rc.district_quota,
                    min_gap_minutes=rc.min_gap_minutes, seek_peaks=True)


def sign(campaign_set: CampaignSet, private_key) -> bytes:
    """The announcement's payload for ``campaign_set``, signed with ``private_key`` (Ed25519)."""
    body = json.dumps(campaign_set.model_dump(mode="json", by_alias=True), ensure_ascii=False,
                      separators=(",", ":"), sort_keys=True).encode("utf-8")
    announcement = CampaignAnnouncement(key_id=key_id(private_key.public_key()),
                                        body=base64.b64encode(body).decode(),
                                        signature=base64.b64encode(private_key.sign(body)).decode())
    return json.dumps(announcement.model_dump(mode="json", by_alias=True), separators=(",", ":")).encode()


def verify(payload: bytes, trusted: tuple[TrustedKey, ...], unit: str) -> CampaignSet:
    """The campaign set of an announcement, if a trusted key signed it and it is for ``unit``.

    Raises ProtocolError: ``bad-json``/``invalid`` (not an announcement), ``unsigned`` (no trusted
    key: a board without content keys obeys no announcement), ``bad-signature``, ``wrong-target``.
    """
    try:
        announcement = CampaignAnnouncement.model_validate_json(payload)
        body = base64.b64decode(announcement.body, validate=True)
        signature = base64.b64decode(announcement.signature, validate=True)
    except ValueError as exc:
        raise ProtocolError("invalid", f"not a campaign announcement: {str(exc).splitlines()[0]}") from None
    if not trusted:
        raise ProtocolError("unsigned", "this board trusts no content key (content.trusted_keys is empty)")
    if not any(len(signature) == 64 and key.verifies(signature, body) for key in trusted):
        raise ProtocolError("bad-signature", f"signed with key {announcement.key_id}, which does not verify against "
                                             f"the trusted keys ({', '.join(k.id for k in trusted)})")
    try:
        campaign_set = CampaignSet.model_validate_json(body)
    except ValueError as exc:
        raise ProtocolError("invalid", f"the signed campaign set is not valid: {str(exc).splitlines()[0]}") from None
    if campaign_set.unit != unit:
        raise ProtocolError("wrong-target", f"the set is for unit {campaign_set.unit!r}, this board is of {unit!r}")
    return campaign_set


__all__ = ["Campaign", "CampaignAnnouncement", "CampaignSet", "Directive", "MAX_CAMPAIGNS", "TOPIC_VERB", "Target",
           "from_registry", "sign", "verify"]
