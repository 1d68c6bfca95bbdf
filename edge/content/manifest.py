"""The pack manifest (``pack.toml``): the pack's id and version, the colour table, and its items in order.

    id = "ihanoi-promo"
    version = "2024.08.1"
    title = "iHanoi — Công dân Thủ đô số"
    gamma = 1.0           # colour table applied once at compile time (see raster.level_table)
    level = 100           # content brightness in percent

    [[items]]
    kind = "text"
    ...

Items play one after another; the kinds are documented in ``edge/content/kinds/`` and
``docs/content.md``. ``pack_sha256`` is the identity of the exact files that were played.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from edge.content.kinds import Item
from ihanoi.contract.errors import ConfigError, PackError
from ihanoi.contract.tomlconf import describe_validation_error, read_toml

MANIFEST = "pack.toml"


class Manifest(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9._-]{0,63}$")
    version: str = Field(min_length=1, max_length=64)
    title: str = ""
    gamma: float = Field(1.0, ge=0.3, le=3.0)
    level: int = Field(100, ge=1, le=100)
    items: list[Item] = Field(min_length=1, max_length=200)


def item_label(index: int, item) -> str:
    name = getattr(item, "name", "") or ""
    kind = getattr(item, "kind", None) or (item.get("kind") if isinstance(item, dict) else "?")
    return f"items[{index}] ({kind}{' ' + repr(name) if name else ''})"


def manifest_path(pack: Path | str) -> Path:
    pack = Path(pack)
    return pack if pack.is_file() else pack / MANIFEST


def load_manifest(pack: Path | str) -> Manifest:
    path = manifest_path(pack)
    try:
        data = read_toml(path)
    except ConfigError as exc:
        raise PackError(path, "", exc.problems[0][1]) from None
    try:
        return Manifest.model_validate(data)
    except ValidationError as exc:
        problems = describe_validation_error(exc)
        raw_items = data.get("items") if isinstance(data.get("items"), list) else []
        labelled = []
        for key, msg in problems:
            if key.startswith("items[") and "]" in key:
                index = int(key[6:key.index("]")])
                raw = raw_items[index] if index < len(raw_items) else {}
                rest = key[key.index("]") + 1:].lstrip(".")
                parts = rest.split(".", 1)
                if parts[0] in {"image", "gif", "video", "text", "qr", "layout"}:
                    rest = parts[1] if len(parts) > 1 else ""  # pydantic's union tag adds nothing
                key = item_label(index, raw if isinstance(raw, dict) else {}) + (f".{rest}" if rest else "")
                if "does not match any of the expected tags" in msg:
                    msg = (f"unknown kind {raw.get('kind')!r}; allowed kinds: image, gif, video, text, qr, layout")
            labelled.append((key, msg))
        err = PackError(path, labelled[0][0], labelled[0][1])
        err.problems = labelled
        err.args = ("\n".join(f"{path}: {k}: {m}" if k else f"{path}: {m}" for k, m in labelled),)
        raise err from None


def pack_files(pack_dir: Path) -> list[Path]:
    """Every file that makes up the pack (hidden files and caches aside), in a stable order."""
    return sorted(p for p in pack_dir.rglob("*") if p.is_file()
                  and not any(part.startswith(".") or part == "__pycache__" for part in p.relative_to(pack_dir).parts))


def pack_sha256(pack_dir: Path) -> str:
    digest = hashlib.sha256()
    for path in pack_files(pack_dir):
        digest.update(path.relative_to(pack_dir).as_posix().encode() + b"\0")
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()
