"""Panel profiles: the geometry and wiring of one lobby board, validated like the device config.

A profile is a TOML file in ``edge/panel/profiles/`` (installed to ``/etc/ihanoi/panels``
on a Pi). Its fields map one to one onto rpi-rgb-led-matrix's ``RGBMatrixOptions``; the
board the content is compiled for is ``cols * chain_length`` wide and ``rows * parallel`` high.
"""

from __future__ import annotations

import os
from importlib.resources import files
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from edge.panel.hub75 import MAPPINGS, max_parallel
from edge.panel.pimodel import PI_MODELS
from ihanoi.contract.tomlconf import load_model
HardwareMapping = Literal["regular", "adafruit-hat", "adafruit-hat-pwm", "regular-pi1", "classic", "classic-pi1"]

SHIPPED = Path(str(files(__package__) / "profiles"))   # the profiles the project ships, in the package
DEFAULT_SEARCH = (Path("/etc/ihanoi/panels"), SHIPPED)


class PanelProfile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9._-]*$")
    description: str = ""
    rows: Literal[16, 32, 64] = Field(description="pixel rows of one panel")
    cols: Literal[32, 64, 128] = Field(description="pixel columns of one panel")
    chain_length: int = Field(1, ge=1, le=16)
    parallel: int = Field(1, ge=1, le=3)
    hardware_mapping: HardwareMapping = "regular"
    pwm_bits: int = Field(11, ge=1, le=11)
    pwm_lsb_nanoseconds: int = Field(130, ge=50, le=3000)
    pwm_dither_bits: int = Field(0, ge=0, le=2)
    limit_refresh_rate_hz: int = Field(0, ge=0, le=1000, description="0 = no limit")
    brightness: int = Field(80, ge=1, le=100)
    scan_mode: Literal[0, 1] = 0
    multiplexing: int = Field(0, ge=0, le=20)
    row_address_type: int = Field(0, ge=0, le=5)
    led_rgb_sequence: Literal["RGB", "RBG", "GRB", "GBR", "BRG", "BGR"] = "RGB"
    panel_type: Literal["", "FM6126A", "FM6127"] = ""
    disable_hardware_pulsing: bool = False
    gpio_slowdown: dict[str, int] = Field(
        default_factory=lambda: {"pi3": 2, "pi4": 4, "pi-zero-2": 2},
        description="per Raspberry Pi model; faster Pis need a larger slowdown",
    )
    fps: int = Field(30, ge=1, le=120, description="frame rate content is compiled for")

    @field_validator("gpio_slowdown")
    @classmethod
    def _known_models(cls, value: dict[str, int]) -> dict[str, int]:
        for model, slowdown in value.items():
            if model not in PI_MODELS:
                raise ValueError(f"unknown Raspberry Pi model {model!r}; allowed: {', '.join(PI_MODELS)}")
            if not 0 <= slowdown <= 5:
                raise ValueError(f"slowdown {slowdown} for {model} must be 0..5")
        return value

    @model_validator(mode="after")
    def _parallel_fits_mapping(self):
        limit = max_parallel(self.hardware_mapping)
        if self.parallel > limit:
            raise ValueError(
                f"parallel = {self.parallel} but hardware mapping '{self.hardware_mapping}' "
                f"drives at most {limit} chain(s)")
        return self

    @property
    def width(self) -> int:
        return self.cols * self.chain_length

    @property
    def height(self) -> int:
        return self.rows * self.parallel

    def slowdown_for(self, pi_model: str) -> int:
        return self.gpio_slowdown.get(pi_model, max(self.gpio_slowdown.values(), default=2))


def search_dirs() -> list[Path]:
    env = os.environ.get("IHANOI_PANELS_DIR")
    dirs = [Path(p) for p in env.split(os.pathsep)] if env else []
    return dirs + list(DEFAULT_SEARCH)


def resolve_profile_path(ref: str, relative_to: Path | None = None) -> Path | None:
    """A profile is named by path (``panels/x.toml``) or by name (``p4-128x64``)."""
    candidate = Path(ref)
    if candidate.suffix == ".toml":
        if not candidate.is_absolute() and relative_to is not None:
            candidate = relative_to / candidate
        return candidate if candidate.exists() else None
    for folder in search_dirs():
        path = folder / f"{ref}.toml"
        if path.exists():
            return path
    return None


def available_profiles() -> list[str]:
    names: set[str] = set()
    for folder in search_dirs():
        if folder.is_dir():
            names.update(p.stem for p in folder.glob("*.toml"))
    return sorted(names)


def load_profile(ref: str | Path, relative_to: Path | None = None) -> PanelProfile:
    from ihanoi.contract.errors import ConfigError

    path = resolve_profile_path(str(ref), relative_to)
    if path is None:
        raise ConfigError(ref, [("", f"panel profile not found; known profiles: {', '.join(available_profiles()) or 'none'} "
                                     f"(searched {', '.join(str(d) for d in search_dirs())}; IHANOI_PANELS_DIR adds folders, "
                                     f"separated by '{os.pathsep}')")])
    return load_model(PanelProfile, path)


__all__ = ["PanelProfile", "load_profile", "available_profiles", "MAPPINGS"]
