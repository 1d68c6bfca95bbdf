"""The traffic model: expected motion onsets per time bin for each weekday, learned from history.

Each weekday keeps one row of expected onsets per bin (288 five-minute bins). A new day of
that weekday is blended in with an exponential weight per week (``decay`` ** weeks since
the row was last updated), so recent weeks weigh more. Before any history exists the rows
hold a prior for the kind of unit (``KIND_PRIORS``: a ward's one-stop desk, a department, a
clinic, a school, an organisation), drawn inside its opening hours, almost nothing while
closed. The prior counts as ``prior_weight`` weeks, so the first observed week already
dominates it.

The model also learns how far real days stray from it (``spread``: the squared coefficient
of variation of a bin's onsets beyond Poisson noise), which the planner uses to price the
plays it keeps for later.

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
from ihanoi.contract.timeofday import DAY_SECONDS, bin_of_day, hours_of_day

FORMAT = "ihanoi.traffic-model/1"


def _hours(t: time) -> float:
    return hours_of_day(t)


# The day's shape before any history, per kind of unit (``ihanoi.contract.registry.UnitKind``):
# bumps (clock hour, width in hours, height over a level of 1) on a flat level. None of them
# spends the day on the morning: lobbies differ too much for a guess to be worth more than
# "people come all day"; the first week learned replaces it. docs/planner.md has the table.
KIND_PRIORS: dict[str | None, tuple[tuple[float, float, float], ...]] = {
    "ward": ((9.5, 1.0, 0.3), (15.0, 1.0, 0.3)),          # one-stop desk: mid-morning, mid-afternoon
    "department": ((9.5, 1.2, 0.2), (14.5, 1.2, 0.2)),    # appointments spread over the day
    "health": ((8.0, 1.0, 0.5), (14.0, 1.0, 0.2)),        # a clinic: early-morning queue
    "education": ((7.5, 0.5, 0.6), (16.75, 0.5, 0.6)),    # a school: arrivals and pick-up
    "organisation": (),                                  # mass organisations: flat
    None: (),                                            # kind unknown: flat
}
SPREAD_PRIOR = 0.15          # squared coefficient of variation before any day is seen


def prior_row(hours: OpeningHours, weekday: int, bin_seconds: int = 300, level: float = 2.0,
              kind: str | None = None) -> np.ndarray:
    """Expected onsets per bin before any history, for a unit of ``kind`` (``KIND_PRIORS``)."""
    if kind not in KIND_PRIORS:
        raise ValueError(f"kind={kind!r} is not one of {', '.join(k for k in KIND_PRIORS if k)}")
    n = DAY_SECONDS // bin_seconds
    row = np.full(n, 0.02 * level)
    centres = (np.arange(n) + 0.5) * bin_seconds / 3600
    shape = np.ones(n)
    for at, width, height in KIND_PRIORS[kind]:
        shape += height * np.exp(-0.5 * ((centres - at) / width) ** 2)
    for start, end in hours.intervals(weekday):
        inside = (centres >= _hours(start)) & (centres < _hours(end))
        row[inside] = level * shape[inside]
    return row


class TrafficModel:
    """Expected onsets per (weekday, bin). ``expected(day)`` is the row for that day's weekday."""

    def __init__(self, hours: OpeningHours, bin_seconds: int = 300, decay: float = 0.6,
                 prior_weight: float = 0.3, prior_level: float = 2.0, kind: str | None = None):
        if DAY_SECONDS % bin_seconds:
            raise ValueError(f"bin_seconds={bin_seconds} must divide a day (86400 s)")
        if not 0 < decay <= 1:
            raise ValueError(f"decay={decay} must be in (0, 1]")
        self.hours = hours
        self.bin_seconds = bin_seconds
        self.decay = decay
        self.kind = kind
        self.rows = np.stack([prior_row(hours, w, bin_seconds, prior_level, kind) for w in range(7)])
        self.weights = np.full(7, float(prior_weight))
        self.last_day: list[date | None] = [None] * 7
        self.days_observed = np.zeros(7, dtype=int)
        self.spread = SPREAD_PRIOR
        self._spread_weight = 1.0

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
        self._learn_spread(counts[known], row[known], old)
        row[known] = (old * row[known] + counts[known]) / (old + 1.0)
        self.weights[w] = old + 1.0
        self.last_day[w] = day
        self.days_observed[w] += 1

    def _learn_spread(self, seen: np.ndarray, expected: np.ndarray, weight: float) -> None:
        """How far the day's open bins strayed from the row, beyond Poisson noise (moment estimate
        of the squared coefficient of variation), blended in like a row once the row has history."""
        busy = expected > 0.5
        if weight < 0.5 or busy.sum() < 12:
            return        # the row is still mostly the prior: its misses say nothing about the lobby
        m, y = expected[busy], seen[busy]
        day = float(np.clip((((y - m) ** 2 - y).sum()) / (m ** 2).sum(), 0.0, 2.0))
        self.spread = (self._spread_weight * self.spread + day) / (self._spread_weight + 1.0)
        self._spread_weight = min(self._spread_weight + 1.0, 20.0)

    # --- persistence ---------------------------------------------------------------------
    def to_dict(self) -> dict:
        return {
            "format": FORMAT,
            "bin_seconds": self.bin_seconds,
            "decay": self.decay,
            "spread": round(self.spread, 5),
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
            spread = float(data.get("spread", SPREAD_PRIOR))     # files from before it was learned lack it
            if not 0 <= spread <= 2:
                raise ValueError(f"spread must be a number from 0 to 2, not {spread}")
            model.spread, model._spread_weight = spread, 10.0
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
    return bin_of_day(moment, bin_seconds)
