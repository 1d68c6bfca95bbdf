"""What every benchmark shares: the machine's load, repeated runs with their spread, scratch folders
that go away whatever happens, and children whose output is read on threads.

    with benchlib.session("agent") as s:          # prints the load before and after, cores, date
        work = s.scratch()                        # removed at the end, on error and on SIGTERM too
        figures = benchlib.repeat(2, one_run)     # each variant at least twice
        print(benchlib.spread(figures, "{:.1f}")) # "71.2 / 72.0 / 73.1" = min / median / max

The machine these figures come from is shared: a figure without the load beside it is not a
figure. ``Child`` reads a process's output on a thread, so a chatty child never blocks on a
full pipe, and can be waited on for a line.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

TICK = os.sysconf("SC_CLK_TCK")


# --- the machine -------------------------------------------------------------------------------
def loadavg() -> tuple[float, float, float]:
    one, five, fifteen = Path("/proc/loadavg").read_text().split()[:3]
    return float(one), float(five), float(fifteen)


def load_line(when: str) -> str:
    one, five, fifteen = loadavg()
    return f"load {when}: {one:.2f} {five:.2f} {fifteen:.2f} (1/5/15 min) on {os.cpu_count()} cores"


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def memory_mb(pid: int) -> tuple[float, float]:
    """(resident now, peak resident) of a process in MB (VmRSS, VmHWM)."""
    status = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines() if ":" in line)
    return int(status["VmRSS"].split()[0]) / 1024, int(status["VmHWM"].split()[0]) / 1024


def cpu_share(pid: int, seconds: float) -> float:
    """Percent of one core the process used over the next ``seconds`` (waits included)."""
    c0, t0 = cpu_seconds(pid), time.monotonic()
    time.sleep(seconds)
    return 100 * (cpu_seconds(pid) - c0) / (time.monotonic() - t0)


def cores() -> list[int]:
    return sorted(os.sched_getaffinity(0))


# --- runs and their spread ---------------------------------------------------------------------
@dataclass(frozen=True)
class Spread:
    values: tuple[float, ...]

    @property
    def min(self) -> float:
        return min(self.values)

    @property
    def median(self) -> float:
        return statistics.median(self.values)

    @property
    def max(self) -> float:
        return max(self.values)

    def format(self, fmt: str = "{:.1f}") -> str:
        """``min / median / max`` (a single value when every run gave the same)."""
        parts = [fmt.format(v) for v in (self.min, self.median, self.max)]
        return parts[0] if len(set(parts)) == 1 else " / ".join(parts)

    __str__ = format


def spread(values, fmt: str | None = None) -> Spread | str:
    s = Spread(tuple(float(v) for v in values))
    return s if fmt is None else s.format(fmt)


def repeat(runs: int, run: Callable[[int], object], label: str = "") -> list:
    """``run(i)`` for i in range(runs); at least twice, as every figure needs its spread."""
    if runs < 2:
        raise ValueError(f"runs must be at least 2 for a spread, not {runs}")
    results = []
    for i in range(runs):
        if label:
            print(f"  {label}: run {i + 1}/{runs} ({load_line('now')})", flush=True)
        results.append(run(i))
    return results


# --- the session: load before/after, scratch folders that always go -----------------------------
class Session:
    def __init__(self, name: str):
        self.name = name
        self._folders: list[Path] = []
        self.load_before = self.load_after = (0.0, 0.0, 0.0)

    def scratch(self, prefix: str = "") -> Path:
        folder = Path(tempfile.mkdtemp(prefix=f"ihanoi-bench-{self.name}-{prefix}"))
        self._folders.append(folder)
        return folder

    def cleanup(self) -> None:
        for folder in self._folders:
            shutil.rmtree(folder, ignore_errors=True)
        self._folders.clear()


def _exit_on_sigterm(signum, frame):
    raise SystemExit(128 + signum)   # unwinds through every ``finally``: children stopped, folders removed


@contextlib.contextmanager
def session(name: str) -> Iterator[Session]:
    """Prints the machine's load before and after the benchmark; removes its scratch folders."""
    s = Session(name)
    previous = signal.signal(signal.SIGTERM, _exit_on_sigterm)
    s.load_before = loadavg()
    print(f"[{name}] {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC, {load_line('before')}", flush=True)
    try:
        yield s
    finally:
        s.cleanup()
        s.load_after = loadavg()
        print(f"[{name}] {load_line('after')}", flush=True)
        signal.signal(signal.SIGTERM, previous)


# --- children ---------------------------------------------------------------------------------
class Child:
    """A process whose stdout and stderr (merged) are read on a thread for its whole life."""

    def __init__(self, argv: list[str], keep: int = 500, **popen):
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                     errors="replace", **popen)
        self.pid = self.proc.pid
        self.lines: deque[tuple[int, str]] = deque(maxlen=keep)   # (line number, line)
        self.count = 0
        self._seen = threading.Condition()
        self._reader = threading.Thread(target=self._read, name=f"read-{self.pid}", daemon=True)
        self._reader.start()

    def _read(self) -> None:
        for line in self.proc.stdout:
            with self._seen:
                self.lines.append((self.count, line.rstrip("\n")))
                self.count += 1
                self._seen.notify_all()
        with self._seen:
            self._seen.notify_all()

    def mark(self) -> int:
        """The number of lines so far: ``wait_for(..., since=mark)`` looks only at later ones."""
        with self._seen:
            return self.count

    def wait_for(self, text: str, timeout: float, since: int = 0) -> str:
        """The first line containing ``text`` (numbered ``since`` or later); raises with the last lines if none."""
        deadline = time.monotonic() + timeout
        with self._seen:
            while True:
                for n, line in self.lines:
                    if n >= since and text in line:
                        return line
                since = max(since, self.count)
                left = deadline - time.monotonic()
                if left <= 0 or not self._reader.is_alive():
                    tail = "\n".join(line for _, line in list(self.lines)[-20:])
                    raise RuntimeError(f"no line with {text!r} from pid {self.pid} "
                                       f"(exit {self.proc.poll()}); its last lines:\n{tail}")
                self._seen.wait(min(left, 0.5))

    def tail(self, n: int = 20) -> str:
        with self._seen:
            return "\n".join(line for _, line in list(self.lines)[-n:])

    def stop(self, timeout: float = 30) -> int:
        """SIGTERM, then SIGKILL if it has not ended after ``timeout`` s."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._reader.join(5)
        return self.proc.returncode


def python_child(args: list[str], **popen) -> Child:
    return Child([sys.executable, *args], **popen)


def on_core(core: int | None) -> Callable[[], None] | None:
    """A ``preexec_fn`` that keeps a child (and every thread it starts) on one core; None: anywhere."""
    if core is None:
        return None
    return lambda: os.sched_setaffinity(0, {core})
