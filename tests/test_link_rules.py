"""The link's own rules, against a stand-in client (no broker): what it keeps, resends and sets aside.

The same behaviours run against a real Mosquitto in tests/test_link.py.
"""

from __future__ import annotations

import json

import pytest

from edge import link as link_module
from edge.config import MqttSettings
from edge.link import Link
from edge.outbox import Outbox
from tests.polling import eventually as wait_until
from tests.standin_mqtt import StandInClient

DEVICE = "hbt-bach-mai-01"


def rig_of(tmp_path, **link_options):
    """An outbox, a link whose client is a stand-in, and that client."""
    made: list[StandInClient] = []
    outbox = Outbox(tmp_path / "agent.db", DEVICE)
    link = Link(DEVICE, MqttSettings(), outbox, client_factory=lambda client_id: made.append(
        StandInClient(client_id)) or made[-1], **link_options)
    return outbox, link, made[0]


@pytest.fixture
def rig(tmp_path, monkeypatch):
    monkeypatch.setattr(link_module, "UNHEARD_RETRY_MIN_S", 0.05)
    outbox, link, client = rig_of(tmp_path, window=5, unit="phuong-bach-mai", on_command=lambda *a: None)
    yield outbox, link, client
    link.stop(flush_timeout=0)


def traffic(outbox, n):
    return [outbox.commit("traffic", bin_start="2024-09-04T09:00:00+07:00", bin_seconds=300, onsets=i)
            for i in range(n)]


def test_the_client_is_made_by_the_factory_with_the_devices_identity(rig):
    outbox, link, client = rig
    assert client.client_id == f"edge-{DEVICE}" and client.username == DEVICE
    assert client.will[0] == f"ihanoi/v1/dev/{DEVICE}/state" and json.loads(client.will[1])["state"] == "offline"
    link.start()
    client.connect()
    assert link.connected.is_set()
    assert [t for t, _ in client.subscriptions[0]] == [f"ihanoi/v1/cmd/{DEVICE}/#", "ihanoi/v1/unit/phuong-bach-mai/#"]
    assert not link.subscribed.is_set()
    client.suback()
    assert link.subscribed.is_set()


def test_a_refused_subscription_is_reported_not_taken_for_granted(rig):
    outbox, link, client = rig
    link.start()
    client.connect()
    client.suback(0x87)                                              # "Not authorized"
    assert not link.subscribed.is_set()
    assert "refused the command subscriptions: Not authorized" in link.last_error


def test_never_more_in_flight_than_the_window_and_a_puback_forgets_the_event(rig):
    outbox, link, client = rig
    traffic(outbox, 12)
    link.start()
    client.connect()
    assert wait_until(lambda: len(client.in_flight("/traffic")) == 5)
    assert len(client.in_flight("/traffic")) == 5                   # the window, not more
    for mid in client.in_flight("/traffic"):
        client.puback(mid)
    assert wait_until(lambda: outbox.depth() == 7)
    assert wait_until(lambda: len(client.in_flight("/traffic")) == 5)


def test_an_event_nobody_heard_is_kept_and_sent_again(rig):
    outbox, link, client = rig
    traffic(outbox, 1)
    link.start()
    client.connect()
    assert wait_until(lambda: client.in_flight("/traffic"))
    first = client.in_flight("/traffic")[0]
    client.puback(first, reason=16)                                  # "No matching subscribers"
    assert wait_until(lambda: link.unheard == 1)
    assert outbox.depth() == 1
    assert wait_until(lambda: client.in_flight("/traffic") and client.in_flight("/traffic")[0] != first)
    client.puback(client.in_flight("/traffic")[0])
    assert wait_until(lambda: outbox.depth() == 0)


def test_an_event_the_broker_refuses_is_set_aside_not_resent(rig):
    outbox, link, client = rig
    traffic(outbox, 2)
    link.start()
    client.connect()
    assert wait_until(lambda: len(client.in_flight("/traffic")) == 2)
    refused, heard = client.in_flight("/traffic")
    client.puback(refused, reason=0x87)                              # "Not authorized"
    client.puback(heard)
    assert wait_until(lambda: outbox.depth() == 0 and outbox.rejected() == 1)
    assert sum(t.endswith("/traffic") for t, _ in client.all_published) == 2


@pytest.fixture
def receipts_rig(tmp_path):
    outbox, link, client = rig_of(tmp_path, window=10, receipts="collector", receipt_timeout=0.3)
    yield outbox, link, client
    link.stop(flush_timeout=0)


def receipt(outbox, *ranges, stream=None, device=DEVICE) -> bytes:
    return json.dumps({"schema": "ihanoi.stored/1", "device": device, "stream": str(stream or outbox.stream),
                       "seqs": [list(r) for r in ranges]}).encode()


def test_an_event_is_forgotten_at_the_stores_receipt_not_at_the_brokers_puback(receipts_rig):
    outbox, link, client = receipts_rig
    seqs = traffic(outbox, 4)
    link.start()
    client.connect()
    assert [t for t, _ in client.subscriptions[0]] == [f"ihanoi/v1/cmd/{DEVICE}/stored"]
    assert wait_until(lambda: len(client.in_flight("/traffic")) == 4)
    for mid in client.in_flight("/traffic"):
        client.puback(mid)
    assert wait_until(lambda: outbox.not_handed() == 0)
    assert outbox.depth() == 4, "the broker has them; the store has not said so yet"
    client.on_message(client, None, Message(f"ihanoi/v1/cmd/{DEVICE}/stored", receipt(outbox, (seqs[0], seqs[2]))))
    assert wait_until(lambda: outbox.depth() == 1)
    assert [p.seq for p in outbox.pending()] == [seqs[3]]
    assert link.figures()["receipts"] == 1


def test_an_event_without_a_receipt_is_sent_again_and_a_foreign_or_malformed_receipt_changes_nothing(receipts_rig):
    outbox, link, client = receipts_rig
    [seq] = traffic(outbox, 1)
    link.start()
    client.connect()
    assert wait_until(lambda: client.in_flight("/traffic"))
    first = client.in_flight("/traffic")[0]
    client.puback(first)
    for payload in (receipt(outbox, (seq, seq), stream="00000000-0000-4000-8000-000000000000"),
                    receipt(outbox, (seq, seq), device="hbt-vinh-tuy-01"), b'{"schema": "ihanoi.stored/1"', b"[]"):
        client.on_message(client, None, Message(f"ihanoi/v1/cmd/{DEVICE}/stored", payload))
    # no receipt of its own within the timeout: the same event goes out again (same seq)
    assert wait_until(lambda: client.in_flight("/traffic") and client.in_flight("/traffic")[0] != first)
    again = client.in_flight("/traffic")[0]
    assert json.loads(client.published[again][1])["seq"] == seq and link.resent == 1
    assert outbox.depth() == 1
    client.puback(again)
    client.on_message(client, None, Message(f"ihanoi/v1/cmd/{DEVICE}/stored", receipt(outbox, (seq, seq))))
    assert wait_until(lambda: outbox.depth() == 0)


class Message:
    def __init__(self, topic: str, payload: bytes, retain: bool = False):
        self.topic, self.payload, self.retain = topic, payload, retain
