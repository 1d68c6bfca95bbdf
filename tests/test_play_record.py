"""One play, one record: whatever step of finishing a play a power cut hits, the board reports it
exactly once and records it exactly once (the outbox and the play log share one transaction)."""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from edge.localdb import adopt_legacy_outbox, open_local_db
from edge.outbox import Outbox
from tests.updates_kit import make_pack

ROOT = Path(__file__).resolve().parents[1]


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "tests.play_crash", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=120)


@pytest.mark.parametrize("step, completed", [
    ("before-report", False),      # the marker is there: reported as interrupted after the restart
    ("in-transaction", False),     # the report and the record were rolled back together: the same
    ("after-commit", True),        # reported and recorded, marker cleared: nothing more to report
    ("none", True),                # no crash at all
])
def test_a_crash_at_any_step_of_finishing_a_play_leaves_exactly_one_report_and_one_record(tmp_path, step, completed):
    pack = make_pack(tmp_path / "pack", "v1")
    first = run(str(tmp_path / "data"), step, str(pack))
    assert first.returncode == (0 if step == "none" else -signal.SIGKILL), first.stderr
    for _ in range(2):                               # and a second restart changes nothing
        again = run(str(tmp_path / "data"), "recover")
        assert again.returncode == 0, again.stderr
        seen = json.loads(again.stdout)
        assert len(seen["plays"]) == 1, seen
        assert len(seen["events"]) == 1, seen
        assert bool(seen["plays"][0][1]) is completed and seen["events"][0][1] is completed


def _legacy_outbox(path: Path, device: str, events: int) -> tuple[str, list[int]]:
    box = Outbox(path, device)
    seqs = [box.commit("traffic", bin_start="2024-09-04T09:00:00+07:00", bin_seconds=300, onsets=i)
            for i in range(events)]
    box.ack([box.pending()[0].id])
    stream = str(box.stream)
    box.close()
    return stream, seqs[1:]


def test_an_earlier_releases_outbox_is_moved_in_with_its_stream_and_unsent_events(tmp_path):
    stream, unsent = _legacy_outbox(tmp_path / "outbox.db", "hbt-bach-mai-01", 5)
    db = open_local_db(tmp_path)
    box = Outbox(db, "hbt-bach-mai-01")
    assert str(box.stream) == stream
    assert [p.seq for p in box.pending()] == unsent
    assert box.commit("traffic", bin_start="2024-09-04T09:05:00+07:00", bin_seconds=300, onsets=0) == 6
    assert not (tmp_path / "outbox.db").exists() and (tmp_path / "outbox.db.merged").exists()
    db.close()
    again = Outbox(open_local_db(tmp_path), "hbt-bach-mai-01")       # nothing moved twice
    assert [p.seq for p in again.pending()] == unsent + [6]


def test_a_legacy_outbox_beside_a_file_that_has_one_is_left_alone(tmp_path, caplog):
    box = Outbox(open_local_db(tmp_path), "hbt-bach-mai-01")
    mine = str(box.stream)
    box.close()
    _legacy_outbox(tmp_path / "outbox.db", "hbt-bach-mai-01", 3)
    db = open_local_db(tmp_path)
    assert str(Outbox(db, "hbt-bach-mai-01").stream) == mine
    assert (tmp_path / "outbox.db").exists() and "left alone" in caplog.text


def test_an_unreadable_legacy_outbox_is_kept_and_the_board_starts_afresh(tmp_path, caplog):
    (tmp_path / "outbox.db").write_bytes(b"not a database at all" * 200)
    db = open_local_db(tmp_path)
    box = Outbox(db, "hbt-bach-mai-01")
    assert box.depth() == 0 and box.commit("traffic", bin_start="2024-09-04T09:00:00+07:00", bin_seconds=300,
                                           onsets=1) == 1
    assert (tmp_path / "outbox.db").exists() and "could not be read" in caplog.text
    with pytest.raises(sqlite3.DatabaseError):
        sqlite3.connect(tmp_path / "outbox.db").execute("SELECT * FROM meta").fetchall()
    adopt_legacy_outbox(db, tmp_path / "missing.db")                 # no file: nothing to do
