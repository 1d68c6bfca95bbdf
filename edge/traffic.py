"""The traffic model: expected motion onsets per time bin for each weekday, learned from history.

Each weekday keeps one row of expected onsets per bin (288 five-minute bins). A new day of
that weekday is blended in with an exponential weight per week (``decay`` ** weeks since
the row was last updated), so recent weeks weigh more. Before any history exists the rows
hold a prior drawn from the opening hours: a morning surge after opening, a smaller bump
after lunch, almost nothing while closed. The prior counts as ``prior_weight`` weeks, so
the first observed week already dominates it.

Pure arithmetic plus ``save``/``load`` (JSON, written atomically: temp file, fsync, rename).
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from collections.abc import Sequence
from datetime import date, datetime, time
from pathlib import Path

import numpy as np

from ihanoi.contract.errors import TrafficModelError
from ihanoi.contract.hours import OpeningHours

FORMAT = "ihanoi.traffic-model/1"
DAY_SECONDS = 86_400


def _hours(t: time) -> float:
    return t.hour + t.minute / 60 + t.second / 3600


def prior_row(hours: OpeningHours, weekday: int, bin_seconds: int = 300, level: float = 2.0) -> np.ndarray:
    """Expected onsets per bin before any history: busiest an hour after the morning opening."""
    n = DAY_SECONDS // bin_seconds
    row = np.full(n, 0.02 * level)
    intervals = hours.intervals(weekday)
    centres = (np.arange(n) + 0.5) * bin_seconds / 3600
    for i, (start, end) in enumerate(intervals):
        s, e = _hours(start), _hours(end)
        morning = s < 12
        peak_at, height, base = (s + 1.0, 1.2, 1.0) if morning else (s + 1.0, 0.4, 0.6)
        inside = (centres >= s) & (centres < e)
        shape = base + height * np.exp(-0.5 * ((centres - peak_at) / 0.9) ** 2)
        row[inside] = level * shape[inside]
    return row


class TrafficModel:
    """Expected onsets per (weekday, bin). ``expected(day)`` is the row for that day's weekday."""

    def __init__(self, hours: OpeningHours, bin_seconds: int = 300, decay: float = 0.6,
                 prior_weight: float = 0.3, prior_level: float = 2.0):
        if DAY_SECONDS % bin_seconds:
            raise ValueError(f"bin_seconds={bin_seconds} must divide a day (86400 s)")
        if not 0 < decay <= 1:
            raise ValueError(f"decay={decay} must be in (0, 1]")
        self.hours = hours
        self.bin_seconds = bin_seconds
        self.decay = decay
        self.rows = np.stack([prior_row(hours, w, bin_seconds, prior_level) for w in range(7)])
        self.weights = np.full(7, float(prior_weight))
        self.last_day: list[date | None] = [None] * 7
        self.days_observed = np.zeros(7, dtype=int)

    @property
    def bins_per_day(self) -> int:
        return DAY_SECONDS // self.bin_seconds

    def expected(self, day: date) -> np.ndarray:
        """Expected onsets per bin for ``day`` (a copy; index 0 is the bin starting at midnight)."""
        return self.rows[day.weekday()].copy()

    def observe_day(self, day: date, bins: Sequence[float]) -> None:
        """Blend one observed day in. NaN bins (the sensor was not counting) are left as they were."""
        counts = np.asarray(bins, dtype=float)
        if counts.shape != (self.bins_per_day,):
            raise ValueError(f"observe_day needs {self.bins_per_day} bins of {self.bin_seconds} s, got {counts.shape}")
        w = day.weekday()
        last = self.last_day[w]
        if last is not None and day <= last:
            return  # already learned (a replayed day must not count twice)
        weeks = 0.0 if last is None else max(1.0, (day - last).days / 7)
        old = self.weights[w] * self.decay ** weeks
        known = ~np.isnan(counts)
        row = self.rows[w]
        row[known] = (old * row[known] + counts[known]) / (old + 1.0)
        self.weights[w] = old + 1.0
        self.last_day[w] = day
        self.days_observed[w] += 1

    # --- persistence ---------------------------------------------------------------------
    def to_dict(self) -> dict:
        return {
            "format": FORMAT,
            "bin_seconds": self.bin_seconds,
            "decay": self.decay,
            "weekdays": [
                {"weight": float(self.weights[w]),
                 "last_day": self.last_day[w].isoformat() if self.last_day[w] else None,
                 "days_observed": int(self.days_observed[w]),
                 "expected": [round(float(x), 4) for x in self.rows[w]]}
                for w in range(7)
            ],
        }

    def save(self, path: Path | str) -> None:
        """Write atomically, so a power cut leaves either the old file or the new one."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                json.dump(self.to_dict(), f, separators=(",", ":"))
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        try:
            dir_fd = os.open(path.parent, os.O_DIRECTORY)
            try:
                os.fsync(dir_fd)
            finally:
                os.close(dir_fd)
        except OSError:
            pass

    @classmethod
    def load(cls, path: Path | str, hours: OpeningHours) -> TrafficModel:
        """Read a saved model; TrafficModelError says what is wrong with the file."""
        path = Path(path)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise TrafficModelError(f"{path}: no saved traffic model") from None
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise TrafficModelError(f"{path}: not a readable traffic model ({exc}); delete it to start from the prior") from None
        try:
            if data.get("format") != FORMAT:
                raise ValueError(f"format is {data.get('format')!r}, expected {FORMAT!r}")
            model = cls(hours, bin_seconds=int(data["bin_seconds"]), decay=float(data["decay"]))
            days = data["weekdays"]
            if len(days) != 7:
                raise ValueError("weekdays must hold 7 entries (Monday first)")
            for w, entry in enumerate(days):
                row = np.asarray(entry["expected"], dtype=float)
                if row.shape != (model.bins_per_day,) or not np.all(np.isfinite(row)) or np.any(row < 0):
                    raise ValueError(f"weekdays[{w}].expected must be {model.bins_per_day} non-negative numbers")
                weight = float(entry["weight"])
                if not math.isfinite(weight) or weight < 0:
                    raise ValueError(f"weekdays[{w}].weight must be a non-negative number")
                model.rows[w] = row
                model.weights[w] = weight
                model.last_day[w] = date.fromisoformat(entry["last_day"]) if entry["last_day"] else None
                model.days_observed[w] = int(entry.get("days_observed", 0))
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            detail = f"missing key {exc}" if isinstance(exc, KeyError) else str(exc)
            raise TrafficModelError(f"{path}: {detail}; delete it to start from the prior") from None
        return model

    @classmethod
    def load_or_prior(cls, path: Path | str, hours: OpeningHours, **kwargs) -> TrafficModel:
        """The saved model if there is one, else a fresh prior (a bad file raises, never silently)."""
        if not Path(path).exists():
            return cls(hours, **kwargs)
        return cls.load(path, hours)


def bin_index(moment: datetime, bin_seconds: int = 300) -> int:
    """Index of the bin holding ``moment`` within its local day."""
    return (moment.hour * 3600 + moment.minute * 60 + moment.second) // bin_seconds
