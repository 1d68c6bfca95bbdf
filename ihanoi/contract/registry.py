"""The units registry: which organisational units exist, their hours and quota, their devices.

One TOML file (``ihanoi/contract/units.toml``, shipped in the package, by default, or ``$IHANOI_REGISTRY``) read by every
part. The collector attributes a device to its unit from here, never from a payload.
"""

from __future__ import annotations

import os
from datetime import date
from functools import cached_property
from importlib.resources import files
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field, model_validator

from ihanoi.contract.errors import RegistryError
from ihanoi.contract.hours import OpeningHours
from ihanoi.contract.tomlconf import load_model, read_toml

DEFAULT_PATH = Path(str(files(__package__) / "units.toml"))   # the district's registry, shipped here
ID_PATTERN = r"^[a-z0-9][a-z0-9-]{1,62}$"
UnitKind = Literal["ward", "department", "health", "education", "organisation"]
KIND_LABELS_VI = {
    "ward": "Phường",
    "department": "Phòng, ban, ngành",
    "health": "Y tế",
    "education": "Giáo dục",
    "organisation": "Đoàn thể",
}


class DirectiveRef(BaseModel):
    """The document behind the registry's campaign (số văn bản, its date, the body that issued it)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    number: str = Field(min_length=1, max_length=64)
    date: date
    issuer: str = Field(min_length=1, max_length=256)


class Campaign(BaseModel):
    """The registry's campaign: the first entry of the campaigns store, and what a board plays
    until it has received a signed campaign set (``ihanoi.contract.campaigns``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field("ihanoi", pattern=ID_PATTERN)
    name: str
    directive: DirectiveRef | None = None
    content_id: str = Field(pattern=ID_PATTERN)
    first_day: date
    last_day: date
    district_quota: int = Field(10, ge=1, le=200)
    min_gap_minutes: int = Field(15, ge=1, le=240)
    timezone: str = "Asia/Ho_Chi_Minh"
    days_off: tuple[date, ...] = ()

    @model_validator(mode="after")
    def _window(self):
        if self.last_day < self.first_day:
            raise ValueError(f"last_day {self.last_day} is before first_day {self.first_day}")
        try:
            ZoneInfo(self.timezone)
        except Exception:
            raise ValueError(f"unknown time zone {self.timezone!r} (an IANA name such as Asia/Ho_Chi_Minh)") from None
        return self

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def contains(self, day: date) -> bool:
        return self.first_day <= day <= self.last_day


ScreenKind = Literal["led", "lcd"]
SCREEN_LABELS_VI = {"led": "Bảng LED", "lcd": "Màn hình LCD/TV"}


class Device(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=ID_PATTERN)
    location: str = ""
    # What the board drives: a HUB75 LED board (rpi-rgb-led-matrix) or an LCD/TV screen over
    # HDMI (mpv, edge/hdmi). Decides how ansible sets the Pi up and which content it plays.
    screen: ScreenKind = "led"
    panel: str | None = None

    @model_validator(mode="after")
    def _panel_is_for_led(self):
        if self.screen == "lcd" and self.panel is not None:
            raise ValueError(f"device {self.id!r}: panel = {self.panel!r} is a HUB75 panel profile, but screen = "
                             f"\"lcd\" drives a TV over HDMI; drop panel or set screen = \"led\"")
        return self


class Unit(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=ID_PATTERN)
    name: str = Field(min_length=2)
    kind: UnitKind
    hours: str | OpeningHours
    quota: int | None = Field(None, ge=1, le=200)
    days_off: tuple[date, ...] = ()
    devices: tuple[Device, ...] = ()


class Registry(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    campaign: Campaign
    hours: dict[str, OpeningHours] = {}
    units: tuple[Unit, ...]

    @model_validator(mode="after")
    def _consistent(self):
        seen_units: set[str] = set()
        owner: dict[str, str] = {}
        for i, unit in enumerate(self.units):
            if unit.id in seen_units:
                raise ValueError(f"units[{i}].id: unit id {unit.id!r} appears twice")
            seen_units.add(unit.id)
            if isinstance(unit.hours, str) and unit.hours not in self.hours:
                raise ValueError(f"units[{i}].hours: {unit.hours!r} is not a named hours table; "
                                 f"known: {', '.join(sorted(self.hours))}")
            if unit.quota is not None and unit.quota < self.campaign.district_quota:
                raise ValueError(f"units[{i}].quota: {unit.quota} is below the district's quota of "
                                 f"{self.campaign.district_quota}; a unit may raise it, never lower it")
            for device in unit.devices:
                if device.id in owner:
                    raise ValueError(f"device {device.id!r} is listed under both {owner[device.id]!r} and {unit.id!r}")
                owner[device.id] = unit.id
        return self

    # --- look-ups -------------------------------------------------------------------------
    @cached_property
    def _unit_by_id(self) -> dict[str, Unit]:
        return {u.id: u for u in self.units}

    @cached_property
    def _unit_of_device(self) -> dict[str, Unit]:
        return {d.id: u for u in self.units for d in u.devices}

    def unit(self, unit_id: str) -> Unit:
        try:
            return self._unit_by_id[unit_id]
        except KeyError:
            raise KeyError(f"unit {unit_id!r} is not in the registry") from None

    def unit_of(self, device_id: str) -> Unit | None:
        return self._unit_of_device.get(device_id)

    def knows_device(self, device_id: str) -> bool:
        return device_id in self._unit_of_device

    def devices(self) -> list[tuple[Unit, Device]]:
        return [(u, d) for u in self.units for d in u.devices]

    def device(self, device_id: str) -> Device | None:
        return self._device_by_id.get(device_id)

    @cached_property
    def _device_by_id(self) -> dict[str, Device]:
        return {d.id: d for u in self.units for d in u.devices}

    def screens(self, kind: str) -> list[tuple[Unit, Device]]:
        """The devices that drive ``kind`` screens (``led`` or ``lcd``)."""
        return [(u, d) for u, d in self.devices() if d.screen == kind]

    def hours_of(self, unit: Unit | str) -> OpeningHours:
        unit = self.unit(unit) if isinstance(unit, str) else unit
        return self.hours[unit.hours] if isinstance(unit.hours, str) else unit.hours

    def quota_of(self, unit: Unit | str) -> int:
        unit = self.unit(unit) if isinstance(unit, str) else unit
        return max(unit.quota or 0, self.campaign.district_quota)

    def days_off_of(self, unit: Unit | str) -> frozenset[date]:
        unit = self.unit(unit) if isinstance(unit, str) else unit
        return frozenset(self.campaign.days_off) | frozenset(unit.days_off)


def registry_path(path: Path | str | None = None) -> Path:
    if path:
        return Path(path)
    env = os.environ.get("IHANOI_REGISTRY")
    return Path(env) if env else DEFAULT_PATH


def load_registry(path: Path | str | None = None) -> Registry:
    path = registry_path(path)
    data = read_toml(path, RegistryError)
    return load_model(Registry, path, data, error=RegistryError)
