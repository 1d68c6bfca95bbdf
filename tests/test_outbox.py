"""The outbox keeps every event durably, numbers it once, and survives a damaged file."""

from __future__ import annotations

import sqlite3
import uuid
from datetime import datetime, timedelta

import pytest
from pydantic import ValidationError

from edge.outbox import Outbox
from ihanoi.contract.clock import CAMPAIGN_TZ, SimClock
from ihanoi.contract.errors import OutboxError

T0 = datetime(2024, 9, 3, 9, 0, tzinfo=CAMPAIGN_TZ)
CONTENT = {"id": "ihanoi-promo", "version": 3, "sha256": "ab" * 32}


def play(outbox: Outbox, minute: int = 0) -> int:
    start = T0 + timedelta(minutes=minute)
    return outbox.commit("play", content=CONTENT, start=start, end=start + timedelta(seconds=45),
                         completed=True, audience=2, reason="peak")


def test_stream_and_seq_are_assigned_at_commit_and_survive_reopen(tmp_path):
    box = Outbox(tmp_path / "o.db", "hbt-bach-mai-01")
    stream = box.stream
    assert [play(box, i) for i in range(3)] == [1, 2, 3]
    box.close()
    again = Outbox(tmp_path / "o.db", "hbt-bach-mai-01")
    assert again.stream == stream
    assert play(again) == 4
    assert [p.seq for p in again.pending()] == [1, 2, 3, 4]


def test_settings_are_durable(tmp_path):
    box = Outbox(tmp_path / "o.db", "hbt-bach-mai-01")
    db = box.db._db
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert db.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL


def test_ack_removes_only_acknowledged_rows(tmp_path):
    box = Outbox(tmp_path / "o.db", "hbt-bach-mai-01")
    for i in range(5):
        play(box, i)
    rows = box.pending()
    box.ack([rows[0].id, rows[2].id])
    assert [p.seq for p in box.pending()] == [2, 4, 5]
    assert [p.seq for p in box.pending(after_id=rows[1].id)] == [4, 5]


def test_bounded_outbox_drops_oldest_and_counts(tmp_path):
    box = Outbox(tmp_path / "o.db", "hbt-bach-mai-01", max_events=10)
    for i in range(25):
        play(box, i)
    assert box.depth() == 10
    assert box.dropped() == 15
    assert [p.seq for p in box.pending()] == list(range(16, 26))


def test_only_newest_unsent_health_is_kept(tmp_path):
    box = Outbox(tmp_path / "o.db", "hbt-bach-mai-01")
    for i in range(3):
        box.commit("health", time=T0 + timedelta(minutes=i), uptime_s=60.0 * i, outbox_depth=0, outbox_dropped=0,
                   software_version="t")
    play(box)
    kinds = [(p.kind, p.seq) for p in box.pending()]
    assert kinds == [("health", 3), ("play", 4)]


def test_clock_synced_is_taken_from_the_clock(tmp_path):
    clock = SimClock(T0, synced=False)
    box = Outbox(tmp_path / "o.db", "hbt-bach-mai-01", clock=clock)
    play(box)
    assert b'"clock_synced":false' in box.pending()[0].payload


def test_invalid_event_is_refused_before_it_is_stored(tmp_path):
    box = Outbox(tmp_path / "o.db", "hbt-bach-mai-01")
    with pytest.raises(ValidationError):
        box.commit("play", content=CONTENT, start=T0, end=T0, completed=True, audience=-1, reason="peak")
    with pytest.raises(ValueError, match="kinds: play, traffic, health"):
        box.commit("state", state="online")
    assert box.depth() == 0


def test_outbox_of_another_device_is_refused(tmp_path):
    Outbox(tmp_path / "o.db", "hbt-bach-mai-01").close()
    with pytest.raises(OutboxError, match="belongs to device 'hbt-bach-mai-01'"):
        Outbox(tmp_path / "o.db", "hbt-vinh-tuy-01")


def test_garbage_file_is_moved_aside_and_a_fresh_outbox_starts(tmp_path, caplog):
    path = tmp_path / "o.db"
    path.write_bytes(b"\x00garbage from a damaged SD card" * 100)
    box = Outbox(path, "hbt-bach-mai-01")
    kept = list(tmp_path.glob("o.db.corrupt-*"))
    assert len(kept) == 1 and kept[0].read_bytes().startswith(b"\x00garbage")
    assert "moved to o.db.corrupt-" in box.reset_note
    assert "o.db was corrupt" in caplog.text
    assert play(box) == 1


def test_power_cut_mid_write_is_detected(tmp_path):
    """A half-written page: the header survives, the B-tree is damaged."""
    path = tmp_path / "o.db"
    box = Outbox(path, "hbt-bach-mai-01")
    old_stream = box.stream
    for i in range(400):
        play(box, i)
    box.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    box.close()
    data = bytearray(path.read_bytes())
    page = 4096
    assert len(data) > 4 * page
    data[2 * page:2 * page + 600] = b"\xff" * 600        # scribble over an interior page
    path.write_bytes(bytes(data))
    fresh = Outbox(path, "hbt-bach-mai-01")
    assert fresh.reset_note is not None
    assert fresh.stream != old_stream          # a new stream: its seqs never collide with the old ones
    assert fresh.depth() == 0
    assert len(list(tmp_path.glob("o.db.corrupt-*"))) == 1
    # The note survives a restart until the file is replaced, so health keeps reporting it.
    fresh.close()
    assert Outbox(path, "hbt-bach-mai-01").reset_note == fresh.reset_note


def test_corruption_found_while_running_resets_and_keeps_the_new_event(tmp_path):
    path = tmp_path / "o.db"
    box = Outbox(path, "hbt-bach-mai-01")
    play(box)
    box.db._db.close()
    path.write_bytes(b"not a database" * 500)
    for suffix in ("-wal", "-shm"):
        p = tmp_path / f"o.db{suffix}"
        if p.exists():
            p.unlink()
    box.db._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
    seq = play(box, 1)
    assert seq == 1 and box.depth() == 1
    assert box.reset_note and isinstance(box.stream, uuid.UUID)


def test_the_sequence_goes_on_after_the_outbox_drains_and_after_a_restart(tmp_path):
    """(device, stream, seq) is the collector's de-duplication key: a seq used again after the
    outbox emptied would make the collector drop a new play as a resend of an old one."""
    box = Outbox(tmp_path / "o.db", "hbt-bach-mai-01")
    assert [play(box, i) for i in range(3)] == [1, 2, 3]
    box.ack([p.id for p in box.pending()])
    assert box.depth() == 0
    assert play(box, 3) == 4
    box.ack([p.id for p in box.pending()])
    box.close()
    again = Outbox(tmp_path / "o.db", "hbt-bach-mai-01")
    assert again.depth() == 0 and play(again, 4) == 5


def test_a_full_outbox_drops_traffic_and_health_before_any_play(tmp_path):
    box = Outbox(tmp_path / "o.db", "hbt-bach-mai-01", max_events=100)
    plays = [play(box, i) for i in range(30)]
    for i in range(100):
        box.commit("traffic", bin_start=T0 + timedelta(minutes=5 * i), bin_seconds=300, onsets=i)
    kept = box.pending(limit=200)
    assert len(kept) == 100 and box.dropped() == 30
    assert [p.seq for p in kept if p.kind == "play"] == plays, "every play is kept while traffic can go"
    for i in range(100):                         # only plays left to drop: the oldest go first
        play(box, 100 + i)
    assert [p.kind for p in box.pending(limit=200)] == ["play"] * 100 and box.dropped() == 130


def test_rows_handed_to_the_broker_stay_until_the_stores_receipt(tmp_path):
    box = Outbox(tmp_path / "o.db", "hbt-bach-mai-01")
    seqs = [play(box, i) for i in range(5)]
    box.handed([p.id for p in box.pending()])
    assert box.not_handed() == 0 and box.depth() == 5
    assert box.confirm("00000000-0000-4000-8000-000000000000", [(1, 5)]) == 0      # another stream
    assert box.confirm(box.stream, [(seqs[0], seqs[1]), (seqs[4], seqs[4])]) == 3
    assert [p.seq for p in box.pending()] == seqs[2:4]


def test_an_event_the_broker_refuses_is_kept_aside_with_its_reason_and_never_sent_again(tmp_path):
    box = Outbox(tmp_path / "o.db", "hbt-bach-mai-01")
    seqs = [play(box, i) for i in range(3)]
    refused = box.pending()[1]
    box.reject(refused.id, "not authorised")
    assert box.rejected() == 1 and box.depth() == 2
    assert [p.seq for p in box.pending()] == [seqs[0], seqs[2]]
    assert box.get([refused.id]) == []
    with sqlite3.connect(tmp_path / "o.db") as db:
        assert db.execute("SELECT kind, seq, payload, reason FROM rejected").fetchall() == [
            ("play", refused.seq, refused.payload, "not authorised")]


def test_only_rows_the_broker_has_not_acknowledged_count_as_not_handed(tmp_path):
    box = Outbox(tmp_path / "o.db", "hbt-bach-mai-01")
    for i in range(4):
        play(box, i)
    rows = box.pending()
    box.handed([])
    box.handed([rows[0].id, rows[2].id])
    assert box.not_handed() == 2 and box.depth() == 4
    assert box.get([]) == [] and box.get([rows[2].id, rows[0].id, 999]) == [rows[0], rows[2]]
    box.ack([])
    box.ack([rows[1].id])
    assert [p.id for p in box.pending()] == [rows[0].id, rows[2].id, rows[3].id]
    assert box.pending(after_id=rows[0].id, limit=1) == [rows[2]]


def test_an_outbox_file_of_an_earlier_release_gains_the_handed_column_and_keeps_its_rows(tmp_path):
    path = tmp_path / "o.db"
    with sqlite3.connect(path) as db:
        db.executescript("""
            CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
            CREATE TABLE events (id INTEGER PRIMARY KEY AUTOINCREMENT, kind TEXT NOT NULL,
                                 seq INTEGER NOT NULL UNIQUE, payload BLOB NOT NULL, created TEXT NOT NULL);
            INSERT INTO meta VALUES ('stream', '6f1c1e0e-6a8e-4b7e-9d43-3f3a2b0c9a11'), ('next_seq', '8'),
                                    ('dropped', '2'), ('device', 'hbt-bach-mai-01');
            INSERT INTO events (kind, seq, payload, created) VALUES ('play', 7, x'7b7d', '2024-09-03T09:00:00+07:00');
        """)
    db.close()
    box = Outbox(path, "hbt-bach-mai-01")
    assert str(box.stream) == "6f1c1e0e-6a8e-4b7e-9d43-3f3a2b0c9a11" and box.dropped() == 2
    assert box.not_handed() == 1 and [p.seq for p in box.pending()] == [7]
    assert play(box) == 8


def test_a_new_outbox_starts_at_seq_1_with_nothing_dropped_and_says_whose_it_is(tmp_path):
    box = Outbox(tmp_path / "o.db", "hbt-bach-mai-01")
    assert box.dropped() == 0 and box.depth() == 0 and box.rejected() == 0
    assert isinstance(box.stream, uuid.UUID) and play(box) == 1
    box.close()
    with pytest.raises(OutboxError) as info:
        Outbox(tmp_path / "o.db", "hbt-vinh-tuy-01")
    assert str(info.value) == (f"{tmp_path / 'o.db'} belongs to device 'hbt-bach-mai-01', not 'hbt-vinh-tuy-01'; "
                               "move it away or fix the device id in the config")
    assert Outbox(tmp_path / "o.db", "hbt-bach-mai-01").depth() == 1, "the refusal changed nothing"


def _damage(box: Outbox, path) -> None:
    """The file is overwritten under a running outbox (what a failing SD card looks like)."""
    box.db._db.close()
    path.write_bytes(b"not a database" * 500)
    for suffix in ("-wal", "-shm"):
        side = path.with_name(path.name + suffix)
        if side.exists():
            side.unlink()
    box.db._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)


def test_the_callers_own_rows_are_written_with_the_event_also_after_a_reset(tmp_path):
    from edge.localdb import LocalDB

    shared = LocalDB(tmp_path / "board.db", SimClock(T0))          # the play log's file, shared
    assert Outbox(shared, "hbt-bach-mai-01").db is shared
    path = tmp_path / "o.db"
    changes = []
    box = Outbox(path, "hbt-bach-mai-01", clock=SimClock(T0), on_change=lambda: changes.append(1))
    assert box.max_events == 200_000
    written = []

    def also(db, seq):
        db.execute("CREATE TABLE IF NOT EXISTS mine (seq INTEGER)")
        db.execute("INSERT INTO mine VALUES (?)", (seq,))
        written.append(seq)

    start = T0 + timedelta(minutes=1)
    fields = dict(content=CONTENT, start=start, end=start + timedelta(seconds=45), completed=True, audience=2,
                  reason="peak")
    assert box.commit("play", also=also, **fields) == 1 and box.commit("play", also=also, **fields) == 2
    assert written == [1, 2] and box.db.query("SELECT seq FROM mine") == [(1,), (2,)] and len(changes) == 2
    _damage(box, path)
    assert box.commit("play", also=also, **fields) == 1
    assert written == [1, 2, 1] and box.db.query("SELECT seq FROM mine") == [(1,)]
    assert box.reset_note == ("o.db was corrupt (file is not a database); moved to o.db.corrupt-20240903T090000 "
                              "and a fresh one started")


def test_at_most_a_hundred_rows_are_handed_out_at_once_by_default(tmp_path):
    box = Outbox(tmp_path / "o.db", "hbt-bach-mai-01")
    for i in range(101):
        box.commit("traffic", bin_start=T0 + timedelta(minutes=5 * i), bin_seconds=300, onsets=i)
    assert [p.seq for p in box.pending()] == list(range(1, 101))


def test_an_outbox_exactly_full_drops_nothing_and_one_more_event_says_what_it_dropped(tmp_path, caplog):
    box = Outbox(tmp_path / "o.db", "hbt-bach-mai-01", max_events=10)
    with caplog.at_level("WARNING", logger="edge.outbox"):
        for i in range(10):
            play(box, i)
        assert box.dropped() == 0 and "outbox full" not in caplog.text
        play(box, 10)
    assert box.dropped() == 1 and box.depth() == 10
    assert [r.getMessage() for r in caplog.records] == ["outbox full (10 events): dropped the 1 oldest"]
