"""The broker configuration ansible renders, run for real: Mosquitto with the rendered
mosquitto.conf, password file and ACL on free ports, a throw-away CA, paho-mqtt clients.

What a district relies on: only TLS with a known password gets in, a board can neither
speak for another board nor read another unit's commands, and the collector reads every
board, also through a shared subscription, with its backlog kept while it is away. And the
broker enforces identities, not just deliveries: a board cannot take over another identity's
client id (disconnecting it or wiping its session), cannot join the collectors' shared
subscription (its group name is secret) and gets nothing useful from ``#`` or ``$SYS/#``.
"""

from __future__ import annotations

import os
import signal
import ssl
import subprocess
import threading
import time
import tomllib

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from ihanoi.tools.content import main as content_cli
from tests.mosquitto import MOSQUITTO, wait_port
from tests.test_provisioning_render import ROOT, NEW_DEVICE, NEW_UNIT, Rendered, rendered_once, run_ansible

PREFIX = "ihanoi/v1"
PROMO = ROOT / "edge/packs/ihanoi-promo"
MAI_1, MAI_2 = "hbt-bach-mai-01", "hbt-bach-mai-02"        # unit phuong-bach-mai


@pytest.fixture(scope="module")
def broker(tmp_path_factory):
    if not os.path.exists(MOSQUITTO):
        pytest.skip("mosquitto is not installed (apt-get install -y mosquitto)")
    out: Rendered = rendered_once(tmp_path_factory)
    conf = out.host("ihanoi-server") / "etc/mosquitto/mosquitto.conf"
    proc = subprocess.Popen([MOSQUITTO, "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            start_new_session=True)
    try:
        wait_port("127.0.0.1", out.tls_port)
        wait_port("127.0.0.1", out.local_port)
    except TimeoutError:
        proc.kill()
        raise RuntimeError(f"mosquitto did not start with {conf}: {proc.communicate()[1].decode()}") from None
    yield out, proc
    proc.send_signal(signal.SIGTERM)
    proc.wait(10)


class Client:
    """A paho client that records what it receives and how its connection went."""

    def __init__(self, out: Rendered, user: str, password: str, tls: bool = True, client_id: str | None = None,
                 clean: bool = True):
        self.user = user
        self.messages: list[tuple[str, bytes]] = []
        self.connected = threading.Event()
        self.refused = threading.Event()
        self.dropped = threading.Event()
        self.reason = None
        self.lock = threading.Lock()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id or user,
                                  protocol=mqtt.MQTTv311, clean_session=clean)
        self.client.username_pw_set(user, password)
        if tls:
            self.client.tls_set(ca_certs=str(out.ca), cert_reqs=ssl.CERT_REQUIRED)
        self.client.on_connect = self._on_connect
        self.client.on_message = self._on_message
        self.client.on_disconnect = lambda *args: self.dropped.set()
        self.port = out.tls_port if tls else out.local_port

    @classmethod
    def on(cls, out: Rendered, port: int, user: str, password: str) -> "Client":
        client = cls(out, user, password, tls=False)
        client.port = port
        return client

    def _on_connect(self, client, userdata, flags, reason, properties):
        self.reason = reason
        (self.refused if reason.is_failure else self.connected).set()

    def _on_message(self, client, userdata, message):
        with self.lock:
            self.messages.append((message.topic, message.payload))

    def start(self) -> "Client":
        self.client.connect("127.0.0.1", self.port, keepalive=30)
        self.client.loop_start()
        return self

    def wait_connected(self) -> "Client":
        assert self.connected.wait(10), f"not connected: {self.reason}"
        return self

    def subscribe(self, *filters: str) -> None:
        done = threading.Event()
        self.client.on_subscribe = lambda *args: done.set()
        self.client.subscribe([(f, 1) for f in filters])
        assert done.wait(5)

    def publish(self, topic: str, payload: bytes = b"{}") -> None:
        self.client.publish(topic, payload, qos=1).wait_for_publish(5)

    def subscribe_all(self, *filters: str) -> list:
        """Subscribe and return the broker's answer per filter (granted QoS or a refusal)."""
        done, granted = threading.Event(), []

        def on_subscribe(client, userdata, mid, reason_codes, properties):
            granted.extend(reason_codes)
            done.set()
        self.client.on_subscribe = on_subscribe
        self.client.subscribe([(f, 1) for f in filters])
        assert done.wait(5)
        return granted

    def topics(self) -> list[str]:
        with self.lock:
            return [t for t, _ in self.messages]

    def stop(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def password_of(out: Rendered, device: str) -> str:
    """The password ansible installed on that Pi: the broker must accept exactly this."""
    return (out.host(device) / "etc/ihanoi/mqtt-password").read_text().strip()


def collector_password(out: Rendered) -> str:
    """The password ansible gave the collector on the server."""
    return (out.host("ihanoi-server") / "etc/ihanoi-server/collector.mqtt-password").read_text().strip()


def collector_settings(out: Rendered) -> dict:
    return tomllib.loads((out.host("ihanoi-server") / "etc/ihanoi-server/collector.toml").read_text())["collector"]


def settle(seconds: float = 0.5) -> None:
    time.sleep(seconds)    # messages in flight between two clients of the same broker


@pytest.fixture
def collector(broker):
    out, _ = broker
    client = Client(out, "collector", collector_password(out), tls=False).start().wait_connected()
    yield client
    client.stop()


def board(out: Rendered, device: str) -> Client:
    return Client(out, device, password_of(out, device)).start().wait_connected()


def test_a_board_connects_over_tls_with_the_password_ansible_gave_it(broker):
    out, _ = broker
    for device in (MAI_1, NEW_DEVICE):
        client = board(out, device)
        client.stop()


def test_a_wrong_password_is_refused(broker):
    out, _ = broker
    client = Client(out, MAI_1, password_of(out, MAI_2)).start()
    assert client.refused.wait(10) and not client.connected.is_set()
    assert "not authori" in str(client.reason).lower()
    client.stop()


def test_no_password_no_connection_even_on_the_local_listener(broker):
    out, _ = broker
    client = Client.on(out, out.local_port, "collector", "")
    client.client.username_pw_set(None)
    client.start()
    assert client.refused.wait(10) and not client.connected.is_set()
    client.stop()


def test_the_tls_port_speaks_only_tls(broker):
    out, _ = broker
    client = Client.on(out, out.tls_port, MAI_1, password_of(out, MAI_1)).start()
    assert not client.connected.wait(3)          # the broker drops a plain-text CONNECT
    client.stop()


def test_a_board_cannot_publish_under_another_boards_topic(broker, collector):
    out, _ = broker
    collector.subscribe(f"{PREFIX}/dev/#")
    mai1 = board(out, MAI_1)
    mai1.publish(f"{PREFIX}/dev/{MAI_2}/play", b"forged")
    mai1.publish(f"{PREFIX}/cmd/{MAI_2}/play-now", b"forged")
    mai1.publish(f"{PREFIX}/dev/{MAI_1}/play", b"own")
    settle()
    mai1.stop()
    assert collector.topics() == [f"{PREFIX}/dev/{MAI_1}/play"]


def test_a_board_reads_its_own_and_its_units_commands_and_nothing_else(broker, collector):
    out, _ = broker
    new = board(out, NEW_DEVICE)
    new.subscribe(f"{PREFIX}/cmd/{NEW_DEVICE}/#", f"{PREFIX}/unit/{NEW_UNIT}/#",
                  f"{PREFIX}/cmd/{MAI_1}/#", f"{PREFIX}/unit/phuong-bach-mai/#", f"{PREFIX}/dev/#")
    sent = [f"{PREFIX}/cmd/{NEW_DEVICE}/brightness", f"{PREFIX}/unit/{NEW_UNIT}/quota",
            f"{PREFIX}/cmd/{MAI_1}/brightness", f"{PREFIX}/unit/phuong-bach-mai/quota"]
    for topic in sent:
        collector.publish(topic, b"{}")
    mai1 = board(out, MAI_1)
    mai1.publish(f"{PREFIX}/dev/{MAI_1}/play")
    settle()
    mai1.stop()
    new.stop()
    assert sorted(new.topics()) == sorted(sent[:2])


def test_the_collector_reads_every_board_through_a_shared_subscription(broker, collector):
    out, _ = broker
    collector.subscribe(f"$share/collectors/{PREFIX}/dev/+/play", f"$share/collectors/{PREFIX}/dev/+/health")
    boards = [board(out, d) for d in (MAI_1, MAI_2, NEW_DEVICE)]
    for b in boards:
        b.publish(f"{PREFIX}/dev/{b.user}/play")
        b.publish(f"{PREFIX}/dev/{b.user}/health")
    settle()
    for b in boards:
        b.stop()
    assert sorted(collector.topics()) == sorted(f"{PREFIX}/dev/{d}/{k}" for d in (MAI_1, MAI_2, NEW_DEVICE)
                                                for k in ("play", "health"))


def test_the_collectors_backlog_outgrows_mosquittos_default_queue(broker):
    """Mosquitto keeps 1000 queued messages per client by default; the district's broker keeps
    every event of a stopped collector (broker/mosquitto/conf.d/ihanoi-queues.conf: 1,000,000)."""
    out, _ = broker
    count = 3000
    first = Client(out, "collector", collector_password(out), tls=False, client_id="collector-backlog",
                   clean=False).start().wait_connected()
    first.subscribe(f"{PREFIX}/dev/+/traffic")
    first.stop()                                          # the collector is down
    mai1 = board(out, MAI_1)
    for i in range(count):
        mai1.client.publish(f"{PREFIX}/dev/{MAI_1}/traffic", str(i).encode(), qos=1)
    mai1.publish(f"{PREFIX}/dev/{MAI_1}/traffic", b"last")
    mai1.stop()
    back = Client(out, "collector", collector_password(out), tls=False, client_id="collector-backlog",
                  clean=False).start().wait_connected()
    deadline = time.monotonic() + 30
    while len(back.messages) < count + 1 and time.monotonic() < deadline:
        time.sleep(0.1)
    back.stop()
    payloads = [p for _, p in back.messages]
    assert len(payloads) == count + 1 and payloads[-1] == b"last"
    assert payloads[:3] == [b"0", b"1", b"2"]


# --- identities, not just deliveries ---------------------------------------------------------
def test_the_collectors_group_name_is_a_secret_of_the_vault(broker):
    out, _ = broker
    group = collector_settings(out)["share_group"]
    assert len(group) >= 32 and group not in ("ihanoi-collectors", "collectors")
    assert group not in (out.host(MAI_1) / "etc/ihanoi/device.toml").read_text()


def test_a_board_cannot_disconnect_the_collector_or_another_board_by_taking_its_client_id(broker):
    out, _ = broker
    client_id = collector_settings(out)["client_id"]
    collector = Client(out, "collector", collector_password(out), tls=False, client_id=client_id,
                       clean=False).start().wait_connected()
    collector.subscribe(f"{PREFIX}/dev/+/traffic")
    mai2 = board(out, MAI_2)
    # The thief asks for the collector's and the other board's client ids, with a clean
    # session that would wipe theirs.
    thieves = [Client(out, MAI_1, password_of(out, MAI_1), client_id=taken).start().wait_connected()
               for taken in (client_id, MAI_2)]
    settle()
    assert not collector.dropped.is_set() and not mai2.dropped.is_set()
    for thief in thieves:
        thief.stop()
    # The collector's session survived: what a board sends while it is away is kept for it.
    collector.stop()
    mai2.publish(f"{PREFIX}/dev/{MAI_2}/traffic", b"kept")
    mai2.stop()
    back = Client(out, "collector", collector_password(out), tls=False, client_id=client_id,
                  clean=False).start().wait_connected()
    deadline = time.monotonic() + 10
    while not back.messages and time.monotonic() < deadline:
        time.sleep(0.05)
    back.client.unsubscribe(f"{PREFIX}/dev/+/traffic")
    back.stop()
    assert back.messages == [(f"{PREFIX}/dev/{MAI_2}/traffic", b"kept")]


def test_a_board_receives_not_a_single_play_meant_for_the_collector(broker):
    out, _ = broker
    group = collector_settings(out)["share_group"]
    collector = Client(out, "collector", collector_password(out), tls=False,
                       client_id="collector-shares").start().wait_connected()
    collector.subscribe(f"$share/{group}/{PREFIX}/dev/+/play")
    thief = board(out, MAI_1)
    # Everything a board might try: every topic, the broker's own, the collectors' group
    # under the names it could guess, and a group of its own.
    thief.subscribe_all("#", "$SYS/#", f"{PREFIX}/#", f"{PREFIX}/dev/+/play",
                        f"$share/ihanoi-collectors/{PREFIX}/dev/+/play", f"$share/collectors/{PREFIX}/dev/+/play",
                        f"$share/{MAI_1}/{PREFIX}/dev/#")
    senders = [board(out, d) for d in (MAI_2, NEW_DEVICE)]
    count = 20
    for i in range(count):
        for sender in senders:
            sender.client.publish(f"{PREFIX}/dev/{sender.user}/play", str(i).encode(), qos=1)
    for sender in senders:
        sender.publish(f"{PREFIX}/dev/{sender.user}/play", b"last")
    deadline = time.monotonic() + 10
    while len(collector.messages) < 2 * (count + 1) and time.monotonic() < deadline:
        time.sleep(0.05)
    settle(2)        # $SYS topics are published every few seconds: give them the time
    for client in (*senders, thief, collector):
        client.stop()
    assert len(collector.messages) == 2 * (count + 1)
    assert thief.messages == []


# --- content announcements: the technician's identity, not a board's ------------------------
@pytest.fixture(scope="module")
def technician_kit(broker):
    """The kit ansible/technician.yml writes for a technician, from the same secrets."""
    out, _ = broker
    tmp = out.root.parent
    run_ansible(["ansible-playbook", "technician.yml", "-e", f"@{tmp / 'secrets.json'}",
                 "-e", f"kit_dir={tmp / 'kit'}"], tmp)
    return tmp / "kit"


def test_the_technician_announces_content_and_a_board_cannot(broker, technician_kit, tmp_path, capsys):
    out, _ = broker
    key = tmp_path / "tech"
    assert content_cli(["keygen", "--out", str(key)]) == 0
    bundle = tmp_path / "promo.tar"
    assert content_cli(["build", str(PROMO), "--key", str(key.with_suffix(".key")), "--version", "5",
                        "--unit", "phuong-bach-mai", "--out", str(bundle)]) == 0
    listener = board(out, MAI_2)
    listener.subscribe(f"{PREFIX}/unit/phuong-bach-mai/#")
    common = ["push", str(bundle), "--unit", "phuong-bach-mai", "--server", "https://content.example",
              "--copy-to", str(tmp_path / "served"), "--host", "127.0.0.1", "--port", str(out.tls_port),
              "--tls", "--ca-file", str(technician_kit / "ca.crt")]
    capsys.readouterr()
    as_board = content_cli([*common, "--username", MAI_1, "--password-file",
                            str(out.host(MAI_1) / "etc/ihanoi/mqtt-password")])
    err = capsys.readouterr().err
    assert as_board == 1 and "refused the announcement" in err and "Not authorized" in err
    settle()
    assert listener.topics() == []
    assert (technician_kit / "mqtt-password").stat().st_mode & 0o077 == 0
    as_technician = ["--username", "technician", "--password-file", str(technician_kit / "mqtt-password")]
    assert content_cli([*common, *as_technician]) == 0
    # the single topic the boards from before one topic per bundle read is the technician's too
    assert content_cli([*common, "--single-topic", *as_technician]) == 0
    deadline = time.monotonic() + 10
    while len(listener.messages) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    listener.stop()
    assert content_cli(["push", "--clear", "--unit", "phuong-bach-mai", "--bundle", "ihanoi-promo", *common[8:],
                        *as_technician]) == 0
    assert listener.topics() == [f"{PREFIX}/unit/phuong-bach-mai/content/ihanoi-promo",
                                 f"{PREFIX}/unit/phuong-bach-mai/content"]
    assert b'"version":5' in listener.messages[0][1].replace(b" ", b"")
