"""One definition of the wire protocol: what the agent builds, the collector accepts."""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timedelta

import pytest

from ihanoi.contract import protocol
from ihanoi.contract.clock import CAMPAIGN_TZ, RealClock, SimClock
from ihanoi.contract.errors import ProtocolError

T0 = datetime(2024, 9, 3, 9, 0, tzinfo=CAMPAIGN_TZ)
TOPICS = protocol.Topics()
DEVICE = "hbt-bach-mai-01"


def play_payload(**over) -> dict:
    msg = protocol.Play(device=DEVICE, stream=uuid.uuid4(), seq=1,
                        content=protocol.ContentRef(id="ihanoi-promo", version=2, sha256="0" * 64),
                        start=T0, end=T0 + timedelta(seconds=45), completed=True, audience=5, reason="peak",
                        clock_synced=True)
    data = json.loads(protocol.encode(msg))
    data.update(over)
    return data


def test_round_trip_keeps_contract_field_names_and_offsets():
    data = play_payload()
    assert data["schema"] == "ihanoi.play/1" and "schema_" not in data
    assert data["start"] == "2024-09-03T09:00:00+07:00"
    kind, msg = protocol.parse(TOPICS, f"ihanoi/v1/dev/{DEVICE}/play", json.dumps(data).encode())
    assert kind == "play" and msg.audience == 5
    assert protocol.event_key(msg) == (DEVICE, data["stream"], 1)


def test_vietnamese_stays_readable_utf8():
    msg = protocol.Health(device=DEVICE, time=T0, uptime_s=1, outbox_depth=0, outbox_dropped=0,
                          software_version="1", clock_synced=True, details={"unit": "UBND phường Bạch Mai"})
    assert "phường Bạch Mai".encode() in protocol.encode(msg)


@pytest.mark.parametrize("payload, reason", [
    (b"\xff\xfe", "bad-utf8"),
    (b"{not json", "bad-json"),
    (b"[1, 2]", "invalid"),
    (json.dumps(play_payload(schema="ihanoi.play/2")).encode(), "wrong-schema"),
    (json.dumps(play_payload(seq="7")).encode(), "invalid"),              # strings are not numbers
    (json.dumps(play_payload(seq=0)).encode(), "invalid"),
    (json.dumps(play_payload(audience=-3)).encode(), "invalid"),
    (json.dumps(play_payload(audience=2**31)).encode(), "invalid"),        # more than the store's INTEGER
    (json.dumps(play_payload(seq=2**63)).encode(), "invalid"),             # more than its BIGINT
    (json.dumps(play_payload(reason="because")).encode(), "invalid"),
    (json.dumps(play_payload(start="2024-09-03T09:00:00")).encode(), "invalid"),   # no offset
    (json.dumps(play_payload(end="2024-09-03T08:00:00+07:00")).encode(), "invalid"),
    (json.dumps(play_payload(extra=1)).encode(), "invalid"),
    (json.dumps(play_payload(device="hbt-vinh-tuy-01")).encode(), "device-mismatch"),
    (b" " * (protocol.MAX_PAYLOAD + 1), "oversize"),
])
def test_malformed_messages_have_a_reason(payload, reason):
    with pytest.raises(ProtocolError) as info:
        protocol.parse(TOPICS, f"ihanoi/v1/dev/{DEVICE}/play", payload)
    assert info.value.reason == reason


@pytest.mark.parametrize("field, value", [("cpu_temp_c", "NaN"), ("uptime_s", "Infinity")])
def test_a_heartbeat_with_a_number_json_cannot_hold_is_invalid(field, value):
    beat = json.loads(protocol.encode(protocol.Health(device=DEVICE, time=T0, uptime_s=1, outbox_depth=0,
                                                      outbox_dropped=0, software_version="1", clock_synced=True)))
    payload = json.dumps(beat)[:-1].encode() + f', "{field}": {value}}}'.encode()   # Python's json writes NaN
    with pytest.raises(ProtocolError) as info:
        protocol.parse(TOPICS, f"ihanoi/v1/dev/{DEVICE}/health", payload)
    assert info.value.reason == "invalid" and field in info.value.detail


@pytest.mark.parametrize("topic", ["ihanoi/v1/dev/x/play/extra", "ihanoi/v1/cmd/x/play", "other/dev/x/play",
                                   f"ihanoi/v1/dev/{DEVICE}/bogus"])
def test_bad_topics(topic):
    with pytest.raises(ProtocolError) as info:
        protocol.parse(TOPICS, topic, b"{}")
    assert info.value.reason == "bad-topic"


@pytest.mark.parametrize("older, newer", [
    ("2024.08.9", "2024.08.10"),        # as text "2024.08.10" < "2024.08.9"
    ("9", "10"),
    ("2024.08.1", "2024.09.1"),
    ("2023.12.31", "2024.01.1"),
    ("1.0", "1.0a"),                    # a version that extends another is newer
    ("1.0b", "1.1"),
    (7, "8"),                           # a bundle number sent as an integer
])
def test_content_versions_order_by_their_numbers_not_as_text(older, newer):
    assert protocol.version_key(older) < protocol.version_key(newer)
    assert max([newer, older], key=protocol.version_key) == newer


def test_an_integer_version_orders_like_its_text():
    assert protocol.version_key(7) == protocol.version_key("7")
    msg = protocol.ContentRef(id="ihanoi-promo", version=7, sha256="0" * 64)
    assert msg.version == "7"
    assert sorted(["10", "2024.08.1", "9", "2"], key=protocol.version_key) == ["2", "9", "10", "2024.08.1"]


def test_custom_prefix_and_topic_builders():
    t = protocol.Topics("hanoi/hbt/v1")
    assert t.up(DEVICE, "traffic") == f"hanoi/hbt/v1/dev/{DEVICE}/traffic"
    assert t.cmd(DEVICE, "play-now") == f"hanoi/hbt/v1/cmd/{DEVICE}/play-now"
    assert t.unit_cmd("phuong-bach-mai", "quota") == "hanoi/hbt/v1/unit/phuong-bach-mai/quota"
    assert t.parse_up(f"hanoi/hbt/v1/dev/{DEVICE}/state") == (DEVICE, "state")
    with pytest.raises(ValueError):
        protocol.Topics("bad/+/prefix")


def test_simulated_clock_runs_days_in_no_time():
    clock = SimClock(T0)
    clock.sleep(86400)
    assert clock.now() == T0 + timedelta(days=1)
    assert clock.monotonic() == 86400
    fast = SimClock(T0, speed=1000.0)
    fast.sleep(1.0)                                  # 1 ms of real time
    assert fast.now() - T0 >= timedelta(seconds=1)
    with pytest.raises(ValueError):
        SimClock(datetime(2024, 1, 1))


def test_clock_sync_marker(tmp_path, monkeypatch):
    marker = tmp_path / "synchronized"
    monkeypatch.setenv("IHANOI_CLOCK_SYNC_FILE", str(marker))
    clock = RealClock()
    assert clock.synced() is False
    marker.touch()
    assert clock.synced() is True
    assert clock.now().utcoffset() == timedelta(hours=7)
