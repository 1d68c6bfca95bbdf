"""Collector ingest through a real Mosquitto: drain a backlog queued while collectors were down.

    .venv/bin/python bench/bench_collector.py                 # 500,000 events, 5,000 devices, 2 runs
    .venv/bin/python bench/bench_collector.py --quick         # 50,000 events, 1,000 devices, to iterate

One broker per run and phase with the project's shipped queue settings (broker/mosquitto/conf.d).
Every variant gets its own persistent session (own client id and share group), registered
first; then the backlog is published once (a day of 5,000 boards: 1 play for 9 traffic bins)
while all of them are stopped, so each session holds the same backlog. Each variant then drains
it, one at a time. Each run has two phases:

**Drain** (``--events``, the day's backlog):
- ``ceiling``: a bare paho subscriber that only counts (paho acknowledges each message as it
  arrives): the broker and the MQTT client's own limit on this machine;
- ``collector``: ``ihanoi-broker collect``'s collector (validation, batched commits, ack after
  commit), into SQLite and into PostgreSQL;
- ``N collector processes``: ``ihanoi-broker collect`` started ``--processes`` times on one shared
  subscription into PostgreSQL, each process pinned to a core of its own when the machine has
  them (start-up included);
- ``ack one at a time, window 1``: a bare subscriber that may hold a single unacknowledged message
  (Receive Maximum 1): every message waits for the previous one's PUBACK, the broker's own
  per-acknowledgement cost at this backlog (measured over ``--naive-seconds``).

**Commit cost** (``--small-events``, a backlog small enough that the broker is not the limit):
- ``naive``: the same collector with one commit per message (``batch_size = 1``), into SQLite and
  PostgreSQL, drained in full (or for ``--naive-seconds`` x 4);
- ``ack one at a time, window 1`` again, on this small backlog: what the broker allows a
  one-message-at-a-time consumer here, which the naive must stay well under for its figure to
  be its commits' cost.

Every variant runs ``--runs`` times (at least 2) and is reported as min / median / max; the
machine's load is printed before and after, and before each run. Rates count committed events
(the store's), not received messages. PostgreSQL: as in the tests (``$IHANOI_TEST_PG_URL``,
127.0.0.1:5432, or a throwaway server). The receipts' cost is ``bench/bench_receipts.py``.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import sys
import time
import urllib.request
import uuid
from datetime import datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import paho.mqtt.client as mqtt  # noqa: E402
from paho.mqtt.packettypes import PacketTypes  # noqa: E402
from paho.mqtt.properties import Properties  # noqa: E402

from broker.collector import Collector  # noqa: E402
from broker.collector.config import CollectorConfig  # noqa: E402
from broker.mosquitto import QUEUES_CONF as SHIPPED_CONF  # noqa: E402
from broker.store import open_store  # noqa: E402
from ihanoi.contract import protocol  # noqa: E402
from ihanoi.contract.clock import CAMPAIGN_TZ  # noqa: E402
from ihanoi.contract.registry import load_registry  # noqa: E402
from tests import postgres  # noqa: E402
from tests.mosquitto import Mosquitto, free_port  # noqa: E402

import benchlib  # noqa: E402, I001  (this folder is on sys.path)

SHA = "0" * 64


def bench_registry(path: Path, devices: int) -> Path:
    """The real campaign and hours, with ``devices`` boards in units of ten."""
    real = (ROOT / "ihanoi/contract/units.toml").read_text(encoding="utf-8")
    head = real.split("[[units]]", 1)[0]
    lines = [head]
    for u in range((devices + 9) // 10):
        lines.append(f'[[units]]\nid = "bench-unit-{u:04d}"\nname = "Đơn vị thử {u}"\nkind = "ward"\nhours = "one-stop"\n')
        for d in range(u * 10, min(devices, u * 10 + 10)):
            lines.append(f'[[units.devices]]\nid = "bench-dev-{d:05d}"\n')
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def backlog(devices: int, events: int):
    """(topic, payload) of a day: per device, a play every tenth event, traffic otherwise."""
    topics = protocol.Topics()
    streams = [uuid.uuid4() for _ in range(devices)]
    day = datetime(2024, 9, 3, 8, 0, tzinfo=CAMPAIGN_TZ)
    for i in range(events):
        d, n = i % devices, i // devices
        device = f"bench-dev-{d:05d}"
        at = day + timedelta(minutes=5 * n)
        if n % 10 == 9:
            msg = protocol.Play(device=device, stream=streams[d], seq=n + 1,
                                content={"id": "ihanoi-promo", "version": 3, "sha256": SHA},
                                start=at, end=at + timedelta(seconds=30), completed=True, audience=n % 13,
                                reason="peak", clock_synced=True)
            yield topics.up(device, "play"), msg.to_json()
        else:
            msg = protocol.Traffic(device=device, stream=streams[d], seq=n + 1, bin_start=at,
                                   onsets=n % 7, clock_synced=True)
            yield topics.up(device, "traffic"), msg.to_json()


def _connect_props(receive_maximum: int = 2000) -> Properties:
    props = Properties(PacketTypes.CONNECT)
    props.SessionExpiryInterval = 3600
    props.ReceiveMaximum = receive_maximum
    return props


def shared_topics(group: str) -> list[tuple[str, int]]:
    return [(f"$share/{group}/ihanoi/v1/dev/+/{k}", 1) for k in ("play", "traffic", "health")]


class Ceiling:
    """A subscriber that only counts (paho acknowledges each message after ``on_message``)."""

    def __init__(self, broker: Mosquitto, group: str, receive_maximum: int = 2000, manual_ack: bool = False):
        self.count = 0
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"bench-{group}", protocol=mqtt.MQTTv5)
        self.client.manual_ack_set(manual_ack)
        self.receive_maximum = receive_maximum
        self.client.on_connect = lambda c, *a: c.subscribe(shared_topics(group))
        self.client.on_message = self._on_message
        self.broker = broker

    def _on_message(self, client, userdata, msg):
        self.count += 1

    def start(self):
        self.client.connect(self.broker.host, self.broker.port, clean_start=False,
                            properties=_connect_props(self.receive_maximum))
        self.client.loop_start()
        return self

    def stop(self):
        self.client.disconnect()
        self.client.loop_stop()

    def done(self) -> int:
        return self.count


class AckOneAtATime(Ceiling):
    """A bare subscriber that holds one unacknowledged message at most and acknowledges it itself."""

    def __init__(self, broker: Mosquitto, group: str):
        super().__init__(broker, group, receive_maximum=1, manual_ack=True)

    def _on_message(self, client, userdata, msg):
        self.count += 1
        client.ack(msg.mid, msg.qos)


class Collecting:
    def __init__(self, broker: Mosquitto, group: str, url: str, registry, batch_size: int, receipts: bool = True):
        self.config = CollectorConfig.model_validate({
            "broker": {"port": broker.port},
            "collector": {"client_id": f"bench-{group}", "share_group": group, "batch_size": batch_size,
                          "batch_latency_ms": 100, "receive_maximum": max(2000, 4 * batch_size),
                          "receipts": receipts},
            "database": {"url": url}})
        self.store = open_store(url)
        self.registry = registry
        self.collector = None

    def start(self):
        self.collector = Collector(self.config, self.registry, self.store).start()
        self.collector.wait_connected()
        return self

    def stop(self):
        self.collector.stop()

    def done(self) -> int:
        """Events committed (new or already stored)."""
        m = self.collector.metrics
        return int(sum(m.value(name, kind=k) for k in ("play", "traffic")
                       for name in ("ihanoi_collector_events_stored_total", "ihanoi_collector_events_duplicate_total")))


class CollectorProcesses:
    """``ihanoi-broker collect`` in N processes on one shared subscription, each on a core of its own if it can."""

    def __init__(self, broker: Mosquitto, group: str, url: str, registry_path: Path, n: int, batch_size: int,
                 work: Path):
        self.url, self.n, self.procs = url, n, []
        self.configs = []
        self.ports = [free_port() for _ in range(n)]
        cores = benchlib.cores()
        self.cores = [cores[i] for i in range(n)] if len(cores) >= n else [None] * n
        for i in range(n):
            path = work / f"{group}-{i}.toml"
            path.write_text(
                f'registry = "{registry_path}"\n[broker]\nhost = "{broker.host}"\nport = {broker.port}\n'
                f'[collector]\nclient_id = "bench-{group}-{i}"\nshare_group = "{group}"\nbatch_size = {batch_size}\n'
                f'batch_latency_ms = 100\nreceive_maximum = {max(2000, 4 * batch_size)}\n'
                f'[database]\nurl = "{url}"\n[metrics]\nport = {self.ports[i]}\n', encoding="utf-8")
            self.configs.append(path)
        self.env = {**os.environ, "PYTHONPATH": str(ROOT)}
        self.store = open_store(url)

    @property
    def pinning(self) -> str:
        return (f"each pinned to its own core ({', '.join(map(str, self.cores))})" if self.cores[0] is not None
                else "not pinned (fewer cores than processes)")

    def start(self):
        self.procs = [benchlib.python_child(["-m", "broker.cli", "collect", "--config", str(c)], env=self.env,
                                            preexec_fn=benchlib.on_core(core))
                      for c, core in zip(self.configs, self.cores)]
        for port in self.ports:                 # connected and subscribed, as its metrics say
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and not self._ready(port):
                time.sleep(0.1)
        return self

    @staticmethod
    def _ready(port: int) -> bool:
        try:
            text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=1).read().decode()
        except OSError:
            return False
        return "ihanoi_collector_connected 1.0" in text

    def stop(self):
        for p in self.procs:
            p.stop(60)

    def done(self) -> int:
        return self.store.count("play") + self.store.count("traffic")


def publish(broker: Mosquitto, items) -> tuple[int, float]:
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="bench-publisher", protocol=mqtt.MQTTv5)
    client.max_inflight_messages_set(2000)
    client.max_queued_messages_set(0)
    client.connect(broker.host, broker.port)
    client.loop_start()
    started = time.perf_counter()
    last = None
    n = 0
    for topic, payload in items:
        last = client.publish(topic, payload, qos=1)
        n += 1
        if n % 5000 == 0:
            # keep paho's own queue short: wait for the broker to catch up
            last.wait_for_publish(60)
    if last:
        last.wait_for_publish(120)
    elapsed = time.perf_counter() - started
    client.disconnect()
    client.loop_stop()
    return n, elapsed


def broker_rss_mb(broker: Mosquitto) -> float:
    return benchlib.memory_mb(broker.proc.pid)[0]


def drain(variant, target: int, limit_s: float | None) -> tuple[int, float]:
    started = time.perf_counter()
    variant.start()
    while True:
        got = variant.done()
        elapsed = time.perf_counter() - started
        if got >= target or (limit_s and elapsed >= limit_s):
            break
        if elapsed > 1800:
            break
        time.sleep(0.02)
    variant.stop()
    return got, elapsed


def queue_and_drain(broker: Mosquitto, devices: int, events: int,
                    variants: list[tuple[str, object, float | None]], label: str,
                    restart: bool = False) -> dict[str, tuple[int, float]]:
    """Register every variant's session, publish the backlog once, drain one by one.

    ``restart``: restart the broker before draining (the backlog is then read back from its
    persistence file: a check of the shipped settings more than a measurement; on a busy machine
    saving and loading a full day's store can outlast the test broker's start-up wait).

    The variants' stores are closed at the end, whatever happens (their databases are dropped next)."""
    try:
        for _, v, _ in variants:
            v.start()
            time.sleep(0.3)
            v.stop()
        n, pub_s = publish(broker, backlog(devices, events))
        print(f"  {label} backlog: {n:,} events from {devices:,} devices published in {pub_s:.1f}s "
              f"({n / pub_s:,.0f}/s); Mosquitto holds it for {len(variants)} sessions in "
              f"{broker_rss_mb(broker):.0f} MB", flush=True)
        if restart:
            broker.restart()
        results = {}
        for name, v, limit in variants:
            got, secs = drain(v, n, limit)
            results[name] = (got, secs)
            print(f"    {name:44s} {got:>8,d} events in {secs:7.1f}s = {got / secs:8,.0f} events/s", flush=True)
        return results
    finally:
        for _, v, _ in variants:
            if hasattr(v, "store"):
                v.store.close()


@contextlib.contextmanager
def databases(names: list[str], use_postgres: bool):
    """A fresh PostgreSQL database per name (dropped afterwards), or {} when there is none to use."""
    with contextlib.ExitStack() as stack:
        if use_postgres and postgres.server_url():
            yield {name: stack.enter_context(postgres.fresh_database(f"ihanoi_bench_{name}")) for name in names}
        else:
            yield {}


def drain_phase(work: Path, args, run: int) -> dict[str, tuple[int, float]]:
    """The day's backlog: ceiling, collector into SQLite and PostgreSQL, N processes, ack one at a time."""
    folder = work / f"drain-{run}"
    folder.mkdir()
    registry_path = bench_registry(folder / "units.toml", args.devices)
    registry = load_registry(registry_path)
    broker = Mosquitto(folder / "mosquitto", include=SHIPPED_CONF).start()
    try:
        with databases(["pg", "procs"], not args.no_postgres) as pg:
            variants = [("ceiling (bare paho, counts only)", Ceiling(broker, "ceiling"), None),
                        ("collector → SQLite", Collecting(broker, "sqlite", f"sqlite:///{folder}/collector.sqlite3",
                                                          registry, args.batch_size), None)]
            if pg:
                variants.append(("collector → PostgreSQL",
                                 Collecting(broker, "pg", pg["pg"], registry, args.batch_size), None))
                if args.processes > 1:
                    procs = CollectorProcesses(broker, "procs", pg["procs"], registry_path, args.processes,
                                               args.batch_size, folder)
                    variants.append((f"{args.processes} collector processes → PostgreSQL", procs, None))
                    print(f"  the {args.processes} collector processes: {procs.pinning}")
            variants.append(("ack one at a time, window 1 (bare)", AckOneAtATime(broker, "ack1"), args.naive_seconds))
            return queue_and_drain(broker, args.devices, args.events, variants, "day's", args.restart_broker)
    finally:
        broker.kill()
        shutil.rmtree(folder, ignore_errors=True)   # the broker's store of a full run is ~300 MB


def commit_phase(work: Path, args, run: int) -> dict[str, tuple[int, float]]:
    """A small backlog: one commit per message into SQLite and PostgreSQL, and the broker's own limit there."""
    folder = work / f"commit-{run}"
    folder.mkdir()
    devices = min(args.devices, args.small_events)
    registry = load_registry(bench_registry(folder / "units.toml", devices))
    broker = Mosquitto(folder / "mosquitto", include=SHIPPED_CONF).start()
    limit = args.naive_seconds * 4
    try:
        with databases(["naive"], not args.no_postgres) as pg:
            variants = [("naive → SQLite (1 commit/msg)",
                         Collecting(broker, "naive-sqlite", f"sqlite:///{folder}/naive.sqlite3", registry, 1), limit)]
            if pg:
                variants.append(("naive → PostgreSQL (1 commit/msg)",
                                 Collecting(broker, "naive-pg", pg["naive"], registry, 1), limit))
            variants.append(("ack one at a time, window 1 (bare)", AckOneAtATime(broker, "ack1"), limit))
            return queue_and_drain(broker, devices, args.small_events, variants, "small")
    finally:
        broker.kill()
        shutil.rmtree(folder, ignore_errors=True)


def table(title: str, runs: list[dict[str, tuple[int, float]]], events: int, ceiling: str | None) -> None:
    print(f"\n{title}: events/s, min / median / max of {len(runs)} runs (events drained; seconds)")
    print(f"| variant | events/s | of that run's ceiling | events | seconds | {events:,} events would take |")
    print("|---|---:|---:|---:|---:|---:|")
    for name in runs[0]:
        rates = [r[name][0] / r[name][1] for r in runs]
        share = (benchlib.spread([100 * r[name][0] / r[name][1] / (r[ceiling][0] / r[ceiling][1]) for r in runs],
                                 "{:.0f} %") if ceiling else "—")
        print(f"| {name} | {benchlib.spread(rates, '{:,.0f}')} | {share} | "
              f"{benchlib.spread([r[name][0] for r in runs], '{:,.0f}')} | "
              f"{benchlib.spread([r[name][1] for r in runs], '{:.1f}')} | "
              f"{benchlib.spread([events / x for x in rates], '{:,.0f} s')} |")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=500_000, help="the day's backlog")
    parser.add_argument("--devices", type=int, default=5_000)
    parser.add_argument("--small-events", type=int, default=20_000, help="the backlog of the commit-cost phase")
    parser.add_argument("--batch-size", type=int, default=1000)
    parser.add_argument("--naive-seconds", type=float, default=15.0,
                        help="window of 'ack one at a time' on the day's backlog (x 4: the commit phase's limit)")
    parser.add_argument("--no-postgres", action="store_true")
    parser.add_argument("--processes", type=int, default=2,
                        help="also drain with this many collector processes on one shared subscription (0: skip)")
    parser.add_argument("--runs", type=int, default=2, help="runs of each phase (at least 2)")
    parser.add_argument("--restart-broker", action="store_true",
                        help="restart the broker between queueing and draining the day's backlog")
    parser.add_argument("--quick", action="store_true", help="50,000 events from 1,000 devices (not for the README)")
    args = parser.parse_args(argv)
    if args.quick:
        args.events, args.devices = 50_000, 1_000
    if not args.no_postgres and not postgres.server_url():
        print(f"PostgreSQL skipped: {postgres.why_not()}")
    with benchlib.session("collector") as s:
        work = s.scratch()
        drains = benchlib.repeat(args.runs, lambda i: drain_phase(work, args, i), "drain phase")
        commits = benchlib.repeat(args.runs, lambda i: commit_phase(work, args, i), "commit-cost phase")
    table(f"Drain of the day's backlog ({args.events:,} events, {args.devices:,} devices)", drains, args.events,
          "ceiling (bare paho, counts only)")
    table(f"Commit cost on a small backlog ({args.small_events:,} events)", commits, args.small_events, None)
    ack_day = benchlib.spread([r["ack one at a time, window 1 (bare)"][0] / r["ack one at a time, window 1 (bare)"][1]
                               for r in drains])
    ack_small = benchlib.spread([r["ack one at a time, window 1 (bare)"][0]
                                 / r["ack one at a time, window 1 (bare)"][1] for r in commits])
    print(f"\nThe broker with one message in flight at a time: {ack_small.format('{:,.0f}')}/s on the small backlog, "
          f"{ack_day.format('{:,.0f}')}/s on the day's (min / median / max).")
    for db in ("SQLite", "PostgreSQL"):
        name = f"naive → {db} (1 commit/msg)"
        if name in commits[0]:
            naive = benchlib.spread([r[name][0] / r[name][1] for r in commits])
            for target in (f"collector → {db}",):
                if target in drains[0]:
                    batched = benchlib.spread([r[target][0] / r[target][1] for r in drains])
                    print(f"The batched collector into {db} is {batched.median / naive.median:.0f}x the naive "
                          f"one commit per message (medians; range {batched.min / naive.max:.0f}-"
                          f"{batched.max / naive.min:.0f}x).")
    return 0


if __name__ == "__main__":
    sys.exit(main())
