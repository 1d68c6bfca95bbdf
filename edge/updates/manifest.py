"""The bundle manifest (``manifest.json``, signed) and the desired-content message (MQTT, retained).

A bundle is one uncompressed tar: ``manifest.json``, ``manifest.sig`` (64 raw bytes, Ed25519
over the exact bytes of ``manifest.json``), then the pack's files under ``pack/``:

    {"schema": "ihanoi.bundle/1", "bundle": "ihanoi-promo", "version": 7,
     "pack": "ihanoi-promo", "pack_version": "2024.09.2", "created": "2024-09-02T10:00:00+07:00",
     "key_id": "3f9a...", "targets": {"units": ["phuong-bach-mai"], "devices": []},
     "files": [{"path": "pack.toml", "size": 952, "sha256": "..."}, ...]}

``version`` is an integer that only goes up: a device refuses any version not above the
highest it ever installed. ``targets.units`` is ``"all"`` or a list of unit ids;
``targets.devices`` adds single devices.

The desired-content message tells a unit (``ihanoi/v1/unit/{unit}/content/{bundle}``) or a
device (``ihanoi/v1/cmd/{device}/content/{bundle}``) which bundle to run and where to fetch it;
it is retained, one per bundle name, so a device that was offline finds every bundle announced
to it when it reconnects. The single topic without ``{bundle}`` (from before one topic per
bundle) is still read.
"""

from __future__ import annotations

import json
from typing import Literal

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StrictInt,
    ValidationError,
    field_validator,
)

from ihanoi.contract.protocol import BUNDLE_ID, DEVICE_ID

MANIFEST = "manifest.json"
SIGNATURE = "manifest.sig"
PACK_DIR = "pack"
MAX_MANIFEST = 1024 * 1024
SAFE_PATH = r"^[A-Za-z0-9_-][A-Za-z0-9._/-]{0,254}$"
SHA256 = r"^[0-9a-f]{64}$"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class BundleFile(_Model):
    path: str = Field(pattern=SAFE_PATH, description="relative to the pack folder, '/' separated")
    size: StrictInt = Field(ge=0)
    sha256: str = Field(pattern=SHA256)

    @field_validator("path")
    @classmethod
    def _inside(cls, path: str) -> str:
        # A path must stay inside the staging folder whatever the archive says.
        if any(part in ("", ".", "..") or part.startswith(".") for part in path.split("/")):
            raise ValueError(f"path {path!r} has an empty, hidden or '..' part")
        return path


class Targets(_Model):
    units: Literal["all"] | list[str] = Field(description='"all" or unit ids')
    devices: list[str] = []

    def includes(self, unit: str, device: str) -> bool:
        return self.units == "all" or unit in self.units or device in self.devices

    def describe(self) -> str:
        parts = ["every unit"] if self.units == "all" else ([f"units {', '.join(self.units)}"] if self.units else [])
        if self.devices:
            parts.append(f"devices {', '.join(self.devices)}")
        return " and ".join(parts) or "nobody"


class BundleManifest(_Model):
    schema_: Literal["ihanoi.bundle/1"] = Field("ihanoi.bundle/1", alias="schema")
    bundle: str = Field(pattern=BUNDLE_ID)
    version: StrictInt = Field(ge=1)
    pack: str
    pack_version: str
    created: AwareDatetime
    key_id: str = Field(pattern=r"^[0-9a-f]{16}$")
    targets: Targets
    files: list[BundleFile] = Field(min_length=1, max_length=10_000)

    def to_bytes(self) -> bytes:
        return json.dumps(self.model_dump(mode="json", by_alias=True), ensure_ascii=False,
                          sort_keys=True, indent=1).encode("utf-8")

    @property
    def size(self) -> int:
        return sum(f.size for f in self.files)


class ContentDesired(_Model):
    """The retained ``content`` command: which bundle to run and where to download it."""

    schema_: Literal["ihanoi.content/1"] = Field("ihanoi.content/1", alias="schema")
    bundle: str = Field(pattern=BUNDLE_ID)
    version: StrictInt = Field(ge=1)
    url: str = Field(pattern=r"^(https?|file)://", max_length=2048)
    sha256: str = Field(pattern=SHA256, description="of the bundle file, to check the download")
    size: StrictInt = Field(ge=1)

    def to_bytes(self) -> bytes:
        return json.dumps(self.model_dump(mode="json", by_alias=True), separators=(",", ":")).encode()


def first_error(exc: ValidationError) -> str:
    err = exc.errors(include_url=False)[0]
    loc = ".".join(str(p) for p in err["loc"]) or "(message)"
    return f"{loc}: {err['msg']}"


def parse_desired(payload: bytes) -> ContentDesired:
    """ValueError with the first bad field when the payload is not a content command."""
    try:
        return ContentDesired.model_validate_json(payload)
    except ValidationError as exc:
        raise ValueError(f"not a content command ({first_error(exc)})") from None


__all__ = ["BundleManifest", "BundleFile", "Targets", "ContentDesired", "parse_desired", "MANIFEST",
           "SIGNATURE", "PACK_DIR", "DEVICE_ID"]
