"""Reading TOML files into validated models, with errors that name the file, key and value.

Every config the project reads (device config, panel profiles, the units registry, content
manifests) goes through ``load_model`` so that a technician always sees the same kind of
message: ``FILE: key.sub = 'value' is not allowed: what is allowed``.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from ihanoi.contract.errors import ConfigError

M = TypeVar("M", bound=BaseModel)


def read_toml(path: Path | str, error: type[ConfigError] = ConfigError) -> dict[str, Any]:
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise error(path, [("", "file not found")]) from None
    except OSError as exc:
        raise error(path, [("", f"cannot read: {exc.strerror}")]) from None
    try:
        return tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise error(path, [("", f"not UTF-8 text (byte {exc.start})")]) from None
    except tomllib.TOMLDecodeError as exc:
        raise error(path, [("", f"not valid TOML: {exc}")]) from None


def _dotted(loc: tuple) -> str:
    parts: list[str] = []
    for item in loc:
        if isinstance(item, int):
            parts[-1:] = [f"{parts[-1]}[{item}]"] if parts else [f"[{item}]"]
        else:
            parts.append(str(item))
    return ".".join(parts)


def describe_validation_error(exc: ValidationError) -> list[tuple[str, str]]:
    """Turn pydantic's errors into (key, sentence) pairs a technician can act on."""
    problems: list[tuple[str, str]] = []
    for err in exc.errors(include_url=False):
        loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and p.startswith("function-")))
        key = _dotted(loc)
        kind = err["type"]
        msg = err["msg"]
        if msg.startswith("Value error, "):
            msg = msg[len("Value error, "):]
        if not key:
            problems.append(("", msg))
        elif kind == "missing":
            problems.append((key, "is required but missing"))
        elif kind == "extra_forbidden":
            problems.append((key, "is not a known setting (check the spelling; see the example configs)"))
        else:
            problems.append((key, f"= {err.get('input')!r} is not allowed: {msg}"))
    return problems


def load_model(model: type[M], path: Path | str, data: dict[str, Any] | None = None,
               error: type[ConfigError] = ConfigError, context: dict | None = None) -> M:
    """Validate ``data`` (read from ``path`` when not given) into ``model``."""
    if data is None:
        data = read_toml(path, error)
    try:
        return model.model_validate(data, context=context)
    except ValidationError as exc:
        raise error(path, describe_validation_error(exc)) from None
