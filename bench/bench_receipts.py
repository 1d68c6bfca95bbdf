"""What the collector's receipts cost: messages and bytes per play, and the drain rate, receipts on and off.

    .venv/bin/python bench/bench_receipts.py                  # 100,000 events, 5,000 devices, 2 runs
    .venv/bin/python bench/bench_receipts.py --quick          # 20,000 events, 1,000 devices

Since the end-to-end receipts (docs/protocol.md, "Stored" on ``cmd/{device}/stored``) a board
forgets an event only when the collector says it is stored, so every committed batch sends each
of its devices a receipt. Through a real Mosquitto (the shipped queue settings, ``$SYS`` every
second) and the real collector into SQLite, in the same run:

- the boards' upload of the backlog (the same for both): interleaved by time across devices, as
  a day queued while the collectors were down (1 play for 9 traffic bins);
- ``receipts on``: the collector as the district runs it (``receipts = true``), with the boards
  connected and subscribed to their receipts (one client for all of them, QoS 1);
- ``receipts off``: the same collector with ``receipts = false`` (what a board in ``broker`` mode
  needs: the broker's PUBACK is its receipt).

The broker's own counters (``$SYS/broker/messages/*``: every MQTT packet, PUBACKs included;
``publish/messages/*``; ``bytes/*``) are read before and after each drain; the benchmark's own
``$SYS`` subscription is taken out. Per play means per play event with the nine traffic bins
reported beside it (ten events), as a board sends them.
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import paho.mqtt.client as mqtt  # noqa: E402

import benchlib  # noqa: E402  (this folder is on sys.path)
from bench_collector import Collecting, backlog, bench_registry, publish  # noqa: E402
from broker.mosquitto import QUEUES_CONF  # noqa: E402
from ihanoi.contract.registry import load_registry  # noqa: E402
from tests.mosquitto import Mosquitto  # noqa: E402

COUNTERS = ("messages/received", "messages/sent", "publish/messages/received", "publish/messages/sent",
            "bytes/received", "bytes/sent")
EVENTS_PER_PLAY = 10


class BrokerCounters:
    """The broker's ``$SYS`` totals, latest values; ``snapshot()`` waits for a fresh publication."""

    def __init__(self, broker: Mosquitto):
        self.values: dict[str, int] = {}
        self.updated = 0.0
        self.own_messages = 0              # $SYS messages sent to this client: not the system's traffic
        self.own_bytes = 0
        self._lock = threading.Lock()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="bench-sys", protocol=mqtt.MQTTv5)
        self.client.on_connect = lambda c, *a: c.subscribe([(f"$SYS/broker/{k}", 0) for k in COUNTERS])
        self.client.on_message = self._on_message
        self.client.connect(broker.host, broker.port)
        self.client.loop_start()

    def _on_message(self, client, userdata, msg):
        with self._lock:
            self.values[msg.topic.removeprefix("$SYS/broker/")] = int(msg.payload)
            self.updated = time.monotonic()
            self.own_messages += 1
            self.own_bytes += len(msg.topic) + len(msg.payload) + 5     # fixed header, length, topic length

    def snapshot(self) -> dict[str, int]:
        asked = time.monotonic()
        deadline = asked + 10
        while time.monotonic() < deadline:
            time.sleep(0.2)
            with self._lock:
                if self.updated > asked + 1.1 and len(self.values) == len(COUNTERS):   # a whole new round
                    return {**self.values, "own_messages": self.own_messages, "own_bytes": self.own_bytes}
        raise RuntimeError(f"the broker published no $SYS counters for 10 s (have {sorted(self.values)})")

    def stop(self):
        self.client.disconnect()
        self.client.loop_stop()


class Boards:
    """Every board's receipt subscription, as one client (QoS 1, acknowledged as they arrive)."""

    def __init__(self, broker: Mosquitto):
        self.count = 0
        self.payload_bytes = 0
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="bench-boards", protocol=mqtt.MQTTv5)
        self.client.on_connect = lambda c, *a: c.subscribe("ihanoi/v1/cmd/+/stored", 1)
        self.client.on_message = self._on_message
        self.client.connect(broker.host, broker.port)
        self.client.loop_start()

    def _on_message(self, client, userdata, msg):
        self.count += 1
        self.payload_bytes += len(msg.payload)

    def settle(self) -> None:
        """Wait until no receipt has arrived for a second (those in flight when the drain ended)."""
        last, still = self.count, time.monotonic()
        while time.monotonic() - still < 1.0:
            time.sleep(0.1)
            if self.count != last:
                last, still = self.count, time.monotonic()

    def stop(self):
        self.client.disconnect()
        self.client.loop_stop()


def drain_with_receipts(variant: Collecting, boards: Boards, target: int) -> tuple[int, float, float, int]:
    """(events committed, seconds to commit them all, seconds until every receipt sent reached the boards
    (or gave up, 300 s after the commit), receipts the collector sent).

    The collector stays up until its receipts are delivered: stopped sooner, paho drops those still
    queued in it (at most 20 in flight by default), and the boards would send those events again."""
    got0 = boards.count
    started = time.perf_counter()
    variant.start()
    while (got := variant.done()) < target and time.perf_counter() - started < 1800:
        time.sleep(0.02)
    committed = time.perf_counter() - started
    sent = lambda: int(variant.collector.metrics.value("ihanoi_collector_receipts_sent_total"))  # noqa: E731
    while boards.count - got0 < sent() and time.perf_counter() - started < committed + 300:
        time.sleep(0.02)
    delivered = time.perf_counter() - started
    boards.settle()
    sent_count = sent()
    variant.stop()
    return got, committed, delivered, sent_count


def delta(before: dict, after: dict) -> dict[str, int]:
    d = {k: after[k] - before[k] for k in COUNTERS}
    own = after["own_messages"] - before["own_messages"]
    d["messages/sent"] -= own                          # the $SYS publications to this benchmark
    d["publish/messages/sent"] -= own
    d["bytes/sent"] -= after["own_bytes"] - before["own_bytes"]
    return d


def one_run(work: Path, args, run: int) -> dict:
    folder = work / f"run-{run}"
    folder.mkdir()
    registry = load_registry(bench_registry(folder / "units.toml", args.devices))
    broker = Mosquitto(folder / "mosquitto", include=QUEUES_CONF, extra="sys_interval 1").start()
    counters = boards = None
    try:
        counters, boards = BrokerCounters(broker), Boards(broker)
        variants = {"receipts on": Collecting(broker, "on", f"sqlite:///{folder}/on.sqlite3", registry,
                                              args.batch_size, receipts=True),
                    "receipts off": Collecting(broker, "off", f"sqlite:///{folder}/off.sqlite3", registry,
                                               args.batch_size, receipts=False)}
        for v in variants.values():         # register the sessions, then stop: the backlog queues for both
            v.start()
            time.sleep(0.3)
            v.stop()
        before = counters.snapshot()
        n, _ = publish(broker, backlog(args.devices, args.events))
        result = {"events": n, "upload": delta(before, counters.snapshot())}
        for name, v in variants.items():
            received = boards.count
            before = counters.snapshot()
            got, secs, delivered, sent = drain_with_receipts(v, boards, n)
            result[name] = {"rate": got / secs, "seconds": secs, "delivered": delivered, "sent": sent,
                            "broker": delta(before, counters.snapshot()), "receipts": boards.count - received}
            v.store.close()
            print(f"    {name}: {got:,} events committed in {secs:.1f} s = {got / secs:,.0f}/s; "
                  f"{result[name]['receipts']:,} of the {sent:,} receipts it sent reached the boards "
                  f"{delivered:.1f} s after the start",
                  flush=True)
        return result
    finally:
        for part in (counters, boards):
            if part:
                part.stop()
        broker.kill()


def report(runs: list[dict], args) -> None:
    n = runs[0]["events"]
    plays = n / EVENTS_PER_PLAY
    sp = benchlib.spread

    def per_play(values) -> str:
        return sp([v / plays for v in values], "{:,.1f}")

    print(f"\nReceipts: {n:,} events ({plays:,.0f} plays) from {args.devices:,} devices, batch {args.batch_size}, "
          f"min / median / max of {len(runs)} runs; per play = a play and its nine traffic bins (ten events)")
    print("| | drain rate (events/s, committed) | receipts all delivered (s) | MQTT packets per play (in + out) "
          "| PUBLISH per play | bytes per play | receipts sent / delivered per play |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    up = [r["upload"] for r in runs]
    print(f"| the boards' upload (both) | — | — | {per_play([u['messages/received'] + u['messages/sent'] for u in up])} | "
          f"{per_play([u['publish/messages/received'] + u['publish/messages/sent'] for u in up])} | "
          f"{per_play([u['bytes/received'] + u['bytes/sent'] for u in up])} | — |")
    for name in ("receipts off", "receipts on"):
        b = [r[name]["broker"] for r in runs]
        print(f"| drain, {name} | {sp([r[name]['rate'] for r in runs], '{:,.0f}')} | "
              f"{sp([r[name]['delivered'] for r in runs], '{:.1f}') if name == 'receipts on' else '—'} | "
              f"{per_play([x['messages/received'] + x['messages/sent'] for x in b])} | "
              f"{per_play([x['publish/messages/received'] + x['publish/messages/sent'] for x in b])} | "
              f"{per_play([x['bytes/received'] + x['bytes/sent'] for x in b])} | "
              f"{per_play([r[name]['sent'] for r in runs])} / {per_play([r[name]['receipts'] for r in runs])} |")
    on = sp([r["receipts on"]["rate"] for r in runs])
    off = sp([r["receipts off"]["rate"] for r in runs])
    print(f"\nWith receipts the drain runs at {100 * on.median / off.median:.0f} % of the rate without them (medians; "
          f"run by run {sp([100 * r['receipts on']['rate'] / r['receipts off']['rate'] for r in runs], '{:.0f} %')}).")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--devices", type=int, default=5_000)
    parser.add_argument("--batch-size", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=2, help="runs (at least 2)")
    parser.add_argument("--quick", action="store_true", help="20,000 events from 1,000 devices (not for the README)")
    args = parser.parse_args(argv)
    if args.quick:
        args.events, args.devices = 20_000, 1_000
    with benchlib.session("receipts") as s:
        work = s.scratch()
        runs = benchlib.repeat(args.runs, lambda i: one_run(work, args, i), "receipts")
    report(runs, args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
