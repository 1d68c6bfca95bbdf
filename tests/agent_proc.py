"""A minimal agent process for crash tests: an outbox and a link, driven over stdin.

Lines on stdin: ``play`` commits one play event and prints its seq; ``depth`` prints the
outbox depth; ``quit`` stops cleanly. The tests kill it with SIGKILL at chosen moments.
"""

from __future__ import annotations

import sys
from datetime import datetime, timedelta
from pathlib import Path

from edge.config import MqttSettings
from edge.link import Link
from edge.outbox import Outbox
from ihanoi.contract.clock import CAMPAIGN_TZ, RealClock


def main() -> None:
    data_dir, port, device = Path(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
    clock = RealClock()
    outbox = Outbox(data_dir / "outbox.db", device, clock=clock)
    link = Link(device, MqttSettings(host="127.0.0.1", port=port, reconnect_min_s=1, reconnect_max_s=2),
                outbox, clock=clock).start()
    print(f"stream {outbox.stream} depth {outbox.depth()}", flush=True)
    start = datetime(2024, 9, 3, 9, 0, tzinfo=CAMPAIGN_TZ)
    for line in sys.stdin:
        cmd = line.strip()
        if cmd == "play":
            seq = outbox.commit("play", content={"id": "ihanoi-promo", "version": 1, "sha256": "0" * 64},
                                start=start, end=start + timedelta(seconds=45), completed=True, audience=4,
                                reason="peak")
            print(f"seq {seq}", flush=True)
        elif cmd == "connected":
            print(f"connected {link.connected.wait(10)}", flush=True)
        elif cmd == "depth":
            print(f"depth {outbox.depth()}", flush=True)
        elif cmd == "quit":
            break
    link.stop()


if __name__ == "__main__":
    main()
