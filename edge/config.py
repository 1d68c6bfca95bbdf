"""The device config: one TOML file per Pi, validated with messages that say what to fix.

``ihanoi-edge check-config FILE`` runs ``load_config`` plus the cross-checks that need other
files: the unit and device in the registry, the screen the registry says the device drives
(``[panel]`` for an LED board, ``[hdmi]`` for an LCD/TV board, never both), the panel profile,
and the PIR pin against the pins the profile's HUB75 hardware mapping drives.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from edge.hdmi.settings import HdmiSettings
from edge.panel import OUTPUT_NAMES, output_name
from edge.panel.hostcheck import GPIO_ACCESS
from edge.panel.hub75 import HEADER_GPIOS, board_pins
from edge.panel.pimodel import PI_MODELS
from ihanoi.contract.errors import ConfigError
from ihanoi.contract.hours import OpeningHours
from ihanoi.contract.protocol import DEFAULT_PREFIX, DEVICE_ID
from ihanoi.contract.tomlconf import load_model, read_toml

# The allowed values come from the one list of outputs and of Raspberry Pi models.
PanelOutput = Literal[OUTPUT_NAMES]
PiModel = Literal[PI_MODELS]
GpioAccess = Literal[GPIO_ACCESS]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class MqttSettings(_Section):
    host: str = Field("localhost", min_length=1)
    port: int = Field(1883, ge=1, le=65535)
    username: str | None = Field(None, description="defaults to the device id, which the broker's ACL expects")
    password_file: Path | None = None
    tls: bool = False
    ca_file: Path | None = None
    cert_file: Path | None = None
    key_file: Path | None = None
    keepalive: int = Field(30, ge=5, le=600)
    topic_prefix: str = Field(DEFAULT_PREFIX, pattern=r"^[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)*$")
    reconnect_min_s: float = Field(1.0, gt=0, le=60)
    reconnect_max_s: float = Field(60.0, gt=0, le=3600)


class PanelSettings(_Section):
    profile: str = Field(min_length=1, description="profile name in edge/panel/profiles, or a path to one")
    output: PanelOutput = "rgbmatrix"
    brightness: int = Field(80, ge=1, le=100)
    off_hours: Literal["on", "dim", "off"] = "dim"
    off_hours_brightness: int = Field(10, ge=0, le=100)
    pi_model: PiModel = "pi4"
    gpio_access: GpioAccess = Field("auto", description="how the LED library reaches the GPIOs (edge/panel/hostcheck.py); "
                                                        "the unit's sandbox must allow the same")


class PirSettings(_Section):
    enabled: bool = True
    pin: int = Field(5, description="BCM GPIO number of the PIR sensor's output")
    hold_seconds: float = Field(8.0, ge=0, le=600, description="re-trigger hold: motion within this counts once")
    pull_up: bool = False

    @field_validator("pin")
    @classmethod
    def _header_pin(cls, pin: int) -> int:
        if pin not in HEADER_GPIOS:
            raise ValueError(f"GPIO {pin} is not on the 40-pin header; allowed: BCM 2..27")
        return pin


class PlannerSettings(_Section):
    quota: int | None = Field(None, ge=1, le=200, description="plays per open day; never below the district's quota")
    min_gap_minutes: int | None = Field(None, ge=1, le=240)
    hours: OpeningHours | None = Field(None, description="overrides the unit's opening hours from the registry")
    days_off: tuple[date, ...] = ()
    bin_seconds: int = Field(300, ge=60, le=3600)


class OutboxSettings(_Section):
    max_events: int = Field(200_000, ge=100, le=10_000_000,
                            description="beyond this the oldest traffic and health are dropped (and counted), then plays")
    window: int = Field(200, ge=1, le=65_535, description="events in flight awaiting PUBACK")
    receipts: Literal["collector", "broker"] = Field(
        "collector", description="when an event is done: at the collector's receipt (stored centrally) or the broker's PUBACK")
    receipt_timeout_s: float = Field(120.0, ge=5, le=86_400,
                                     description="an event without the collector's receipt this long is sent again")


class HealthSettings(_Section):
    interval_seconds: float = Field(60.0, ge=1, le=3600)


class ContentSettings(_Section):
    pack: Path | None = Field(None, description="the promo pack folder (an installed bundle overrides it)")
    filler: tuple[Path, ...] = Field((), description="other packs shown between promo plays, in turn (not reported)")
    filler_every_minutes: float = Field(10.0, ge=1, le=240, description="how often a filler pack is shown")
    trusted_keys: tuple[Path, ...] = Field((), max_length=2)


class CampaignSettings(_Section):
    trusted_keys: tuple[Path, ...] = Field(
        (), max_length=2, description="the public keys the district's campaign sets are checked with (the server's "
                                      "signing key; the next one too while rotating); none: content.trusted_keys")


class DeviceConfig(_Section):
    device: str = Field(pattern=DEVICE_ID, description="lower-case letters, digits and '-'; also the MQTT username")
    unit: str = Field(pattern=DEVICE_ID)
    data_dir: Path = Path("/var/lib/ihanoi")
    registry: Path | None = Field(None, description="units registry; the packaged one when absent")
    broker: MqttSettings = MqttSettings()
    panel: PanelSettings | None = Field(None, description="an LED board's HUB75 panel (absent on an LCD/TV board)")
    hdmi: HdmiSettings | None = Field(None, description="an LCD/TV board's HDMI screen (absent on an LED board)")
    pir: PirSettings = PirSettings()
    planner: PlannerSettings = PlannerSettings()
    outbox: OutboxSettings = OutboxSettings()
    health: HealthSettings = HealthSettings()
    content: ContentSettings = ContentSettings()
    campaigns: CampaignSettings = CampaignSettings()

    # Set by load_config: where this config came from, for relative paths and messages.
    source: Path | None = Field(None, exclude=True)

    def resolve(self, path: Path | None) -> Path | None:
        if path is None or path.is_absolute() or self.source is None:
            return path
        return (self.source.parent / path).resolve()

    def campaign_keys(self) -> list[Path]:
        """The keys a campaign set must be signed with: ``[campaigns] trusted_keys``, or where there are
        none (a board provisioned before the server had a key of its own) the content keys."""
        return [self.resolve(k) for k in (self.campaigns.trusted_keys or self.content.trusted_keys)]

    @property
    def mqtt_username(self) -> str:
        return self.broker.username or self.device

    def password(self) -> str | None:
        file = self.resolve(self.broker.password_file)
        if file is None:
            return None
        return file.read_text(encoding="utf-8").strip()

    @property
    def screen(self) -> str:
        """What this board drives, in the registry's words: ``lcd`` (``[hdmi]``) or ``led`` (``[panel]``)."""
        return "lcd" if self.hdmi is not None else "led"

    @property
    def panel_output(self) -> str | None:
        """``IHANOI_PANEL`` overrides the configured output (like ``GPIOZERO_PIN_FACTORY``); None on a TV."""
        return output_name(self.panel.output) if self.panel is not None else None


_RELATIVE_PATHS = ("data_dir", "registry")


def pir_pin_problem(pin: int, output: str, profile) -> str | None:
    """Why the PIR cannot be on GPIO ``pin`` next to the board of ``profile`` driven by ``output``."""
    taken = board_pins(output, profile)
    if pin not in taken:
        return None
    free = [p for p in HEADER_GPIOS if p not in taken]
    problem = f"= {pin} collides with the HUB75 board: GPIO {pin} is {taken[pin]} (profile {profile.name!r}); "
    if free:
        return problem + f"free pins: {', '.join(map(str, free))}"
    others = []
    for other_output, mapping in (("piomatter", "adafruit-hat"), ("rgbmatrix", "regular"), ("rgbmatrix", "adafruit-hat")):
        if (other_output, mapping) == (output, profile.hardware_mapping):
            continue
        wired = profile.model_copy(update={"hardware_mapping": mapping, "parallel": 1})
        left = [p for p in HEADER_GPIOS if p not in board_pins(other_output, wired)]
        if left:
            others.append(f"panel.output = {other_output!r} with hardware_mapping = {mapping!r} and one chain "
                          f"leaves GPIO {', '.join(map(str, left))}")
    return problem + ("this wiring takes every GPIO 2..27, so no pin is left for the PIR; wire the board another way: "
                      + "; ".join(others))


def screen_problems(config: DeviceConfig, unit, registry) -> list[tuple[str, str]]:
    """Whether the config's screen section is the one the registry's ``screen`` for the device needs."""
    device = next(d for d in unit.devices if d.id == config.device)
    said = f"the registry lists {config.device!r} with screen = {device.screen!r}"
    if device.screen == "lcd":
        if config.hdmi is None:
            return [("hdmi", f"is required but missing: {said} (an LCD/TV screen over HDMI); add an [hdmi] section "
                             f"(board, output, volume, [hdmi.cec]: docs/hdmi.md) and drop [panel]")]
        if config.panel is not None:
            return [("panel", f"makes no sense here: {said}, which has no HUB75 panel; drop [panel]")]
    else:
        if config.hdmi is not None:
            return [("hdmi", f"makes no sense here: {said} (a HUB75 LED board); drop [hdmi], or set "
                             f"screen = \"lcd\" for this device in the registry if it drives a TV")]
        if config.panel is None:
            return [("panel", f"is required but missing: {said} (a HUB75 LED board); add a [panel] section")]
    return []


def load_config(path: Path | str) -> DeviceConfig:
    """Parse and validate one device config; ConfigError names every bad key."""
    path = Path(path)
    data = read_toml(path)
    config = load_model(DeviceConfig, path, data)
    if config.panel is None and config.hdmi is None:
        raise ConfigError(path, [("panel", "is required but missing: an LED board needs a [panel] section (its HUB75 "
                                           "panel profile), an LCD/TV board an [hdmi] section (docs/hdmi.md)")])
    if config.panel is not None and config.hdmi is not None:
        raise ConfigError(path, [("hdmi", "cannot stand beside [panel]: a board drives one screen; keep [panel] "
                                          "for a HUB75 LED board or [hdmi] for an LCD/TV screen, as the registry's "
                                          "screen for this device says")])
    updates = {"source": path.resolve()}
    for key in _RELATIVE_PATHS:
        value = getattr(config, key)
        if value is not None and not value.is_absolute():
            updates[key] = (path.resolve().parent / value).resolve()
    return config.model_copy(update=updates)


def check_config(path: Path | str, check_files: bool = True):
    """Everything ``load_config`` checks plus the cross-file rules. Returns (config, registry, profile).

    ``check_files=False`` skips the files that exist only on the device (password, TLS),
    for checking a config on a PC before it is installed.
    """
    from edge.panel.profile import load_profile
    from ihanoi.contract.registry import load_registry

    config = load_config(path)
    problems: list[tuple[str, str]] = []
    registry = profile = None
    try:
        registry = load_registry(config.registry)
    except ConfigError as exc:
        problems.append(("registry", f"the units registry cannot be used: {exc}"))
    if registry is not None:
        try:
            unit = registry.unit(config.unit)
        except KeyError:
            known = ", ".join(u.id for u in registry.units[:5])
            problems.append(("unit", f"= {config.unit!r} is not a unit of the registry (e.g. {known}, ...)"))
        else:
            owner = registry.unit_of(config.device)
            if owner is None:
                problems.append(("device", f"= {config.device!r} is not listed under unit {unit.id!r} in the registry; "
                                           f"add it there first (the broker would refuse its messages)"))
            elif owner.id != unit.id:
                problems.append(("unit", f"= {config.unit!r} but the registry lists device {config.device!r} "
                                         f"under {owner.id!r}"))
            if owner is not None:
                problems.extend(screen_problems(config, owner, registry))
            floor = registry.quota_of(unit)
            if config.planner.quota is not None and config.planner.quota < floor:
                problems.append(("planner.quota", f"= {config.planner.quota} is below {floor}, the quota of "
                                                  f"{unit.name}; a unit may raise it, never lower it"))
    if config.panel is not None:
        try:
            profile = load_profile(config.panel.profile, config.source.parent if config.source else None)
        except ConfigError as exc:
            problems.append(("panel.profile", f"= {config.panel.profile!r}: {exc}"))
    if profile is not None and config.pir.enabled:
        problem = pir_pin_problem(config.pir.pin, config.panel.output, profile)
        if problem:
            problems.append(("pir.pin", problem))
    if profile is not None and config.panel.output == "piomatter":
        from edge.panel.piomatter_pins import unsupported_fields

        for why in unsupported_fields(profile):
            problems.append(("panel.output", f"= 'piomatter' cannot drive profile {profile.name!r} as written: {why}"))
    for key in ("password_file", "ca_file", "cert_file", "key_file") if check_files else ():
        value = config.resolve(getattr(config.broker, key))
        if value is not None and not value.exists():
            problems.append((f"broker.{key}", f"= '{value}' does not exist (checking the config away from its "
                                              "board, e.g. on a PC? --skip-files leaves out the board's files)"))
    for section in ("content", "campaigns") if check_files else ():
        for n, key in enumerate(getattr(config, section).trusted_keys):
            value = config.resolve(key)
            if not value.exists():
                problems.append((f"{section}.trusted_keys.{n}",
                                 f"= '{value}' does not exist: the public key (.pub) must be on the board "
                                 "(ansible installs it into keys/)"))
    if config.broker.tls and config.broker.port == 1883:
        problems.append(("broker.port", "= 1883 with tls = true; the TLS listener is usually 8883"))
    if config.broker.reconnect_max_s < config.broker.reconnect_min_s:
        problems.append(("broker.reconnect_max_s", "must not be smaller than reconnect_min_s"))
    if problems:
        raise ConfigError(config.source or path, problems)
    return config, registry, profile
