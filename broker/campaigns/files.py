"""A campaign file (TOML): the campaign as the contract says it, plus a play's length.

    id = "tuan-le-y-te"                        # [a-z0-9-], never reused
    title = "Tuần lễ y tế"
    first_day = 2024-09-09                     # the window, inclusive
    last_day = 2024-09-13
    starts = "13:30"                           # optional: on the first day, from this time
    ends = "10:15"                             # optional: on the last day, until this time
    content_id = "y-te-promo"                  # the pack whose plays count
    bundle = "12"                              # optional: the content bundle that carries it
    quota = 4                                  # plays per board and open day (default 10)
    min_gap_minutes = 30                       # between two of its plays (default 15)
    seek_peaks = true                          # default true
    play_seconds = 45                          # a play's length, for the fit rule (default 60)

    [directive]
    number = "15/KH-UBND"
    date = 2024-09-01
    issuer = "UBND quận Hai Bà Trưng"

    [target]                                   # exactly one of:
    kinds = ["health", "ward"]                 #   all = true | kinds = [...] | units = [...]

A wrong file is refused with the file, the key, the value and what is allowed.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

from pydantic import Field, StrictInt

from broker.store.campaigns import DEFAULT_PLAY_SECONDS
from ihanoi.contract.campaigns import Campaign
from ihanoi.contract.errors import ConfigError
from ihanoi.contract.tomlconf import load_model, read_toml


class CampaignFile(Campaign):
    play_seconds: StrictInt = Field(DEFAULT_PLAY_SECONDS, ge=1, le=3600, description="a play's length")

    def campaign(self) -> Campaign:
        return Campaign.model_validate(self.model_dump(exclude={"play_seconds"}))


def load_campaign_file(path: Path | str, registry) -> tuple[Campaign, int]:
    """The campaign in ``path`` and its play length; ConfigError naming the file and key when wrong."""
    return campaign_of(read_toml(path), path, registry)


def load_campaign_text(text: str, source: str, registry) -> tuple[Campaign, int]:
    """The same for a campaign file's text (pasted on the dashboard); ``source`` names it in errors."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(source, [("", f"not valid TOML: {exc}")]) from None
    return campaign_of(data, source, registry)


def campaign_of(data: dict, path, registry) -> tuple[Campaign, int]:
    parsed = load_model(CampaignFile, path, data)
    known = {u.id for u in registry.units}
    unknown = [u for u in parsed.target.units if u not in known]
    if unknown:
        raise ConfigError(path, [("target.units", f"= {unknown!r} is not allowed: not in the units registry; "
                                                  f"known units: {', '.join(sorted(known))}")])
    if parsed.id == registry.campaign.id:
        raise ConfigError(path, [("id", f"= {parsed.id!r} is not allowed: it is the registry's campaign, "
                                        "which is in the store already")])
    return parsed.campaign(), parsed.play_seconds
