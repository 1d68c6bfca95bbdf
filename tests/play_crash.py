"""One play made by the agent's own PlayMaker, in a process that SIGKILLs itself at a chosen step.

    python -m tests.play_crash DATA_DIR STEP     # STEP: none, before-report, in-transaction, after-commit
    python -m tests.play_crash DATA_DIR recover  # a restart: report a cut play, print what is recorded

Prints one line of JSON after ``recover``: the plays in the board's log and the play events in
its outbox. The tests kill at every step of finishing a play and expect exactly one of each.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
from datetime import datetime
from pathlib import Path

from edge.content import compile_pack
from edge.localdb import open_local_db
from edge.outbox import Outbox
from edge.panel import open_panel
from edge.panel.profile import load_profile
from edge.player import Player
from edge.playlog import PlayLog
from edge.plays import PlayMaker
from edge.presence import Presence
from ihanoi.contract.clock import CAMPAIGN_TZ, SimClock

DEVICE = "hbt-bach-mai-01"
START = datetime(2024, 9, 4, 9, 0, tzinfo=CAMPAIGN_TZ)


def die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def main() -> None:
    data, step = Path(sys.argv[1]), sys.argv[2]
    clock = SimClock(START)
    db = open_local_db(data, clock)
    outbox, play_log = Outbox(db, DEVICE, clock=clock), PlayLog(db, CAMPAIGN_TZ)
    profile = load_profile("p4-128x32")
    presence = Presence(clock)
    maker = PlayMaker(Player(open_panel("recorder", profile), clock), presence, play_log, outbox, clock)
    if step == "recover":
        maker.recover()
        plays = db.query('SELECT start, completed FROM plays')
        events = [json.loads(p.payload) for p in outbox.pending(limit=1000) if p.kind == "play"]
        print(json.dumps({"plays": plays, "events": [(e["start"], e["completed"], e["seq"]) for e in events]}))
        return
    pack = compile_pack(sys.argv[3], profile, data / "frames")
    if step == "before-report":
        maker.report = lambda record, campaign=None: die()
    elif step == "in-transaction":
        recorder = play_log.recorder
        play_log.recorder = lambda record: (lambda conn, seq: (recorder(record)(conn, seq), die()))
    elif step == "after-commit":
        report = maker.report
        maker.report = lambda record, campaign=None: (report(record, campaign), die())
    maker.play(pack, "peak", threading.Event())


if __name__ == "__main__":
    main()
