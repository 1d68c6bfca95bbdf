"""Collector ingest through a real Mosquitto: drain a backlog queued while collectors were down.

    .venv/bin/python bench/bench_collector.py                 # 500,000 events, 5,000 devices
    .venv/bin/python bench/bench_collector.py --events 100000 --devices 1000

One broker with the project's shipped queue settings (broker/mosquitto/conf.d). Every variant
gets its own persistent session (own client id and share group), registered first; then the
backlog is published once (a day of 5,000 boards: 1 play for 9 traffic bins) while all of them
are stopped, so each session holds the same backlog. Each variant then drains it, one at a
time:

- ``ceiling``: a bare paho subscriber that only counts (auto-acknowledged): the broker and the
  MQTT client's own limit on this machine;
- ``collector``: ``ihanoi-broker collect`` (validation, batched commits, ack after commit),
  into SQLite and into PostgreSQL;
- ``naive``: the same collector with one commit per message (``batch_size = 1``); measured
  over ``--naive-seconds`` only, it would take hours;
- ``N collector processes``: ``ihanoi-broker collect`` started ``--processes`` times on one
  shared subscription into PostgreSQL (how the collector scales out; start-up included).

PostgreSQL: as in the tests (``$IHANOI_TEST_PG_URL``, 127.0.0.1:5432, or a throwaway server).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import threading
import time
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
from tests.mosquitto import Mosquitto  # noqa: E402

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


def _connect_props() -> Properties:
    props = Properties(PacketTypes.CONNECT)
    props.SessionExpiryInterval = 3600
    props.ReceiveMaximum = 2000
    return props


class Ceiling:
    """A subscriber that only counts."""

    def __init__(self, broker: Mosquitto, group: str):
        self.count = 0
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"bench-{group}", protocol=mqtt.MQTTv5)
        self.group = group
        self.client.on_connect = lambda c, *a: c.subscribe([(f"$share/{group}/ihanoi/v1/dev/+/{k}", 1)
                                                            for k in ("play", "traffic", "health")])
        self.client.on_message = self._on_message
        self.broker = broker
        self.subscribed = threading.Event()
        self.client.on_subscribe = lambda *a: self.subscribed.set()

    def _on_message(self, client, userdata, msg):
        self.count += 1

    def start(self):
        self.client.connect(self.broker.host, self.broker.port, clean_start=False, properties=_connect_props())
        self.client.loop_start()
        return self

    def stop(self):
        self.client.disconnect()
        self.client.loop_stop()

    def done(self) -> int:
        return self.count


class Collecting:
    def __init__(self, broker: Mosquitto, group: str, url: str, registry, batch_size: int):
        self.config = CollectorConfig.model_validate({
            "broker": {"port": broker.port},
            "collector": {"client_id": f"bench-{group}", "share_group": group, "batch_size": batch_size,
                          "batch_latency_ms": 100, "receive_maximum": max(2000, 4 * batch_size)},
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
        m = self.collector.metrics
        return int(sum(m.value("ihanoi_collector_messages_received_total", kind=k) for k in ("play", "traffic")))


class CollectorProcesses:
    """``ihanoi-broker collect`` in N processes on one shared subscription (how it scales out)."""

    def __init__(self, broker: Mosquitto, group: str, url: str, registry_path: Path, n: int, batch_size: int,
                 work: Path):
        import os

        from tests.mosquitto import free_port
        self.url, self.n, self.procs = url, n, []
        self.configs = []
        self.ports = [free_port() for _ in range(n)]
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

    def start(self):
        import subprocess
        self.procs = [subprocess.Popen([sys.executable, "-m", "broker.cli", "collect", "--config", str(c)],
                                       env=self.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                      for c in self.configs]
        for port in self.ports:                 # connected and subscribed, as its metrics say
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and not self._ready(port):
                time.sleep(0.1)
        return self

    @staticmethod
    def _ready(port: int) -> bool:
        import urllib.request
        try:
            text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=1).read().decode()
        except OSError:
            return False
        return "ihanoi_collector_connected 1.0" in text

    def stop(self):
        import signal
        for p in self.procs:
            p.send_signal(signal.SIGTERM)
        for p in self.procs:
            p.wait(60)

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
    for line in Path(f"/proc/{broker.proc.pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


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


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=500_000)
    parser.add_argument("--devices", type=int, default=5_000)
    parser.add_argument("--batch-size", type=int, default=1000)
    parser.add_argument("--naive-seconds", type=float, default=15.0)
    parser.add_argument("--no-postgres", action="store_true")
    parser.add_argument("--processes", type=int, default=2,
                        help="also drain with this many collector processes on one shared subscription (0: skip)")
    args = parser.parse_args(argv)

    from tests import postgres
    work = Path(tempfile.mkdtemp(prefix="ihanoi-bench-"))
    broker = Mosquitto(work / "mosquitto", include=SHIPPED_CONF).start()
    registry = load_registry(bench_registry(work / "units.toml", args.devices))
    pg_cm = None
    variants: list[tuple[str, object, float | None]] = [("ceiling (bare paho, counts only)", Ceiling(broker, "ceiling"), None)]
    sqlite_url = f"sqlite:///{work}/collector.sqlite3"
    variants.append(("collector → SQLite", Collecting(broker, "sqlite", sqlite_url, registry, args.batch_size), None))
    variants.append(("naive → SQLite (1 commit/msg)",
                     Collecting(broker, "naive-sqlite", f"sqlite:///{work}/naive.sqlite3", registry, 1),
                     args.naive_seconds))
    if not args.no_postgres and postgres.server_url():
        pg_cm = postgres.fresh_database("ihanoi_bench")
        pg_url = pg_cm.__enter__()
        pg_cm2 = postgres.fresh_database("ihanoi_bench_naive")
        pg_naive = pg_cm2.__enter__()
        variants.append(("collector → PostgreSQL", Collecting(broker, "pg", pg_url, registry, args.batch_size), None))
        variants.append(("naive → PostgreSQL (1 commit/msg)", Collecting(broker, "naive-pg", pg_naive, registry, 1),
                         args.naive_seconds))
        if args.processes > 1:
            pg_cm3 = postgres.fresh_database("ihanoi_bench_procs")
            pg_procs = pg_cm3.__enter__()
            variants.append((f"{args.processes} collector processes → PostgreSQL",
                             CollectorProcesses(broker, "procs", pg_procs, work / "units.toml", args.processes,
                                                args.batch_size, work), None))
    elif not args.no_postgres:
        print(f"PostgreSQL skipped: {postgres.why_not()}")

    # Register every session, then stop them all: the backlog queues for each.
    for _, v, _ in variants:
        v.start()
        time.sleep(0.3)
        v.stop()
    n, pub_s = publish(broker, backlog(args.devices, args.events))
    print(f"backlog: {n} events from {args.devices} devices published in {pub_s:.1f}s ({n / pub_s:.0f}/s); "
          f"Mosquitto holds it for {len(variants)} sessions in {broker_rss_mb(broker):.0f} MB")
    broker.restart()  # the backlog survives a broker restart (shipped persistence settings)

    results = []
    for name, v, limit in variants:
        got, secs = drain(v, n, limit)
        results.append((name, got, secs))
        print(f"  {name:36s} {got:>8d} events in {secs:7.1f}s = {got / secs:8.0f} events/s", flush=True)

    ceiling = results[0][1] / results[0][2]
    print()
    print(f"| variant | events | seconds | events/s | of ceiling | {args.events:,} events would take |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, got, secs in results:
        rate = got / secs
        print(f"| {name} | {got:,} | {secs:.1f} | {rate:,.0f} | {rate / ceiling:.0%} | {args.events / rate:,.0f} s |")
    broker.stop()
    if pg_cm:
        pg_cm.__exit__(None, None, None)
        pg_cm2.__exit__(None, None, None)
        if args.processes > 1:
            variants[-1][1].store.close()
            pg_cm3.__exit__(None, None, None)
    return 0


if __name__ == "__main__":
    sys.exit(main())
