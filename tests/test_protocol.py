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


# --- limits: nothing a board sends can make a receiver recurse, overflow or trust a wild time ---
def health_payload(**over) -> dict:
    data = json.loads(protocol.encode(protocol.Health(device=DEVICE, time=T0, uptime_s=1, outbox_depth=0,
                                                      outbox_dropped=0, software_version="1", clock_synced=True)))
    data.update(over)
    return data


def nested(depth: int, inner="1") -> str:
    return "[" * depth + inner + "]" * depth


@pytest.mark.parametrize("payload, reason", [
    # 60 KB of brackets, under the size limit: Python's json would raise RecursionError
    (b'{"schema":"ihanoi.play/1","x":' + b"[" * 30000 + b"]" * 30000 + b"}", "too-deep"),
    (b"[" * 30000, "bad-json"),                                            # never closed
    (b'{"schema":"ihanoi.play/1","x":' + b"{" * 20 + b"]" * 20 + b"}", "bad-json"),
    (('{"schema":"ihanoi.play/1","x":' + nested(protocol.MAX_JSON_DEPTH) + "}").encode(), "too-deep"),
    (('{"schema":"ihanoi.play/1","x":' + nested(protocol.MAX_JSON_DEPTH - 1) + "}").encode(), "invalid"),
    (b'{"schema":"ihanoi.play/1","x":"' + b"[" * 30000 + b'"}', "invalid"),  # brackets in a string are text
    (b'{"schema":"ihanoi.play/1","seq":' + b"7" * 5000 + b"}", "bad-json"),   # Python's int() limit
])
def test_payloads_that_would_crash_a_parser_have_a_reason(payload, reason):
    assert len(payload) <= protocol.MAX_PAYLOAD
    with pytest.raises(ProtocolError) as info:
        protocol.parse(TOPICS, f"ihanoi/v1/dev/{DEVICE}/play", payload)
    assert info.value.reason == reason


def test_health_details_may_nest_up_to_the_limit_and_no_deeper():
    def details(depth):
        d = 1
        for _ in range(depth):
            d = {"k": d}
        return d
    ok = json.dumps(health_payload(details=details(protocol.MAX_JSON_DEPTH - 1))).encode()
    assert protocol.parse(TOPICS, f"ihanoi/v1/dev/{DEVICE}/health", ok)[1].details
    deep = json.dumps(health_payload(details=details(protocol.MAX_JSON_DEPTH))).encode()
    with pytest.raises(ProtocolError) as info:
        protocol.parse(TOPICS, f"ihanoi/v1/dev/{DEVICE}/health", deep)
    assert info.value.reason == "too-deep"
    long_key = json.dumps(health_payload(details={"k" * (protocol.MAX_KEY + 1): 1})).encode()
    with pytest.raises(ProtocolError, match="longer than"):
        protocol.parse(TOPICS, f"ihanoi/v1/dev/{DEVICE}/health", long_key)


@pytest.mark.parametrize("kind, over", [
    ("health", {"software_version": "v" * 65}),
    ("health", {"content_id": "c" * 129}),
    ("health", {"outbox_reset": "/" * 1025}),
    ("state", {"software_version": "v" * 65}),
    ("play", {"content": {"id": "i" * 129, "version": "1", "sha256": "0" * 64}}),
    ("play", {"content": {"id": "ihanoi-promo", "version": "1" * 65, "sha256": "0" * 64}}),
])
def test_strings_are_no_longer_than_the_store_keeps(kind, over):
    base = {"health": health_payload, "play": play_payload,
            "state": lambda **o: {"schema": "ihanoi.state/1", "device": DEVICE, "state": "online",
                                  "since": T0.isoformat(), **o}}[kind]
    payload = json.dumps(base(**over)).encode()
    with pytest.raises(ProtocolError) as info:
        protocol.parse(TOPICS, f"ihanoi/v1/dev/{DEVICE}/{kind}", payload)
    assert info.value.reason == "invalid" and "at most" in info.value.detail


@pytest.mark.parametrize("moment", ["9999-12-31T23:59:00-12:00", "0001-01-01T00:00:00+14:00",
                                    "2100-01-01T06:59:59+07:00", "1970-01-01T06:59:59+07:00"])
def test_times_no_store_can_hold_are_invalid_whatever_the_clock_says(moment):
    for kind, payload in (("play", play_payload(start=moment, end=moment, clock_synced=False)),
                          ("traffic", {"schema": "ihanoi.traffic/1", "device": DEVICE, "stream": str(uuid.uuid4()),
                                       "seq": 1, "bin_start": moment, "onsets": 1, "clock_synced": False}),
                          ("health", health_payload(time=moment, clock_synced=False))):
        with pytest.raises(ProtocolError) as info:
            protocol.parse(TOPICS, f"ihanoi/v1/dev/{DEVICE}/{kind}", json.dumps(payload).encode())
        assert info.value.reason == "invalid" and "a time between 1970 and 2099" in info.value.detail, kind


def test_the_representable_years_end_where_they_say():
    first = json.dumps(play_payload(start="1970-01-01T07:00:00+07:00", end="1970-01-01T07:00:00+07:00")).encode()
    last = json.dumps(play_payload(start="2099-12-31T23:59:59+00:00", end="2099-12-31T23:59:59+00:00")).encode()
    for payload in (first, last):
        assert protocol.parse(TOPICS, f"ihanoi/v1/dev/{DEVICE}/play", payload)[0] == "play"


WINDOW = protocol.TimeWindow.around(datetime(2024, 9, 6, 12, 0, tzinfo=CAMPAIGN_TZ), datetime(2024, 8, 19).date(),
                                    CAMPAIGN_TZ)


def test_the_window_runs_from_before_the_campaign_to_just_after_the_receivers_clock():
    assert WINDOW.earliest == datetime(2024, 8, 19, tzinfo=CAMPAIGN_TZ) - protocol.CAMPAIGN_LEAD
    assert WINDOW.latest == datetime(2024, 9, 6, 12, 0, tzinfo=CAMPAIGN_TZ) + protocol.CLOCK_SKEW


@pytest.mark.parametrize("moment, inside", [
    ("2024-09-06T12:05:00+07:00", True), ("2024-09-06T12:05:01+07:00", False),      # the receiver's now + 5 min
    ("2024-07-19T00:00:00+07:00", True), ("2024-07-18T23:59:59+07:00", False),      # first day - 31 days
    ("2099-01-01T00:00:00+07:00", False),
])
def test_a_synced_boards_times_outside_the_window_are_implausible(moment, inside):
    cases = {"play": play_payload(start=moment, end=moment),
             "traffic": {"schema": "ihanoi.traffic/1", "device": DEVICE, "stream": str(uuid.uuid4()), "seq": 1,
                         "bin_start": moment, "onsets": 1, "clock_synced": True},
             "health": health_payload(time=moment),
             "state": {"schema": "ihanoi.state/1", "device": DEVICE, "state": "online", "since": moment}}
    for kind, payload in cases.items():
        raw = json.dumps(payload).encode()
        if inside:
            assert protocol.parse(TOPICS, f"ihanoi/v1/dev/{DEVICE}/{kind}", raw, WINDOW)[0] == kind
            continue
        with pytest.raises(ProtocolError) as info:
            protocol.parse(TOPICS, f"ihanoi/v1/dev/{DEVICE}/{kind}", raw, WINDOW)
        assert info.value.reason == "implausible-time" and "NTP" in info.value.detail, kind
        assert protocol.parse(TOPICS, f"ihanoi/v1/dev/{DEVICE}/{kind}", raw)[0] == kind   # no window: no check


def test_an_unsynced_boards_plays_and_traffic_are_kept_but_its_health_and_state_are_not():
    moment = "2099-01-01T00:00:00+07:00"
    play = json.dumps(play_payload(start=moment, end=moment, clock_synced=False)).encode()
    assert protocol.parse(TOPICS, f"ihanoi/v1/dev/{DEVICE}/play", play, WINDOW)[1].clock_synced is False
    beat = json.dumps(health_payload(time=moment, clock_synced=False)).encode()
    with pytest.raises(ProtocolError, match="implausible-time"):
        protocol.parse(TOPICS, f"ihanoi/v1/dev/{DEVICE}/health", beat, WINDOW)


def test_a_play_that_ends_in_the_future_is_implausible_even_if_it_started_now():
    end = "2024-09-06T13:00:00+07:00"
    raw = json.dumps(play_payload(start="2024-09-06T12:00:00+07:00", end=end)).encode()
    with pytest.raises(ProtocolError, match="end 2024-09-06T13:00:00"):
        protocol.parse(TOPICS, f"ihanoi/v1/dev/{DEVICE}/play", raw, WINDOW)


def test_commands_are_decoded_as_totally_as_events():
    topic = f"ihanoi/v1/cmd/{DEVICE}/brightness"
    for payload, reason in ((b"[" * 30000 + b"]" * 30000, "too-deep"), (b"\xff", "bad-utf8"),
                            (b'{"percent": ' + b"9" * 5000 + b"}", "bad-json")):
        with pytest.raises(ProtocolError) as info:
            protocol.decode_command(TOPICS, topic, payload)
        assert info.value.reason == reason


def test_an_error_detail_shows_a_hostile_value_short_and_printable():
    key = "\x00" * 10 + "k" * 500
    raw = json.dumps(play_payload(**{key: 1})).encode()
    with pytest.raises(ProtocolError) as info:
        protocol.parse(TOPICS, f"ihanoi/v1/dev/{DEVICE}/play", raw)
    assert info.value.reason == "invalid" and "\x00" not in info.value.detail and len(info.value.detail) < 200


# --- content announcements: one retained topic per bundle -------------------------------------
def test_each_bundle_has_its_own_content_topic_and_the_single_topic_is_still_read():
    assert TOPICS.unit_content("phuong-bach-mai", "vneid") == "ihanoi/v1/unit/phuong-bach-mai/content/vneid"
    assert TOPICS.content(DEVICE, "vneid") == f"ihanoi/v1/cmd/{DEVICE}/content/vneid"
    assert TOPICS.unit_content("phuong-bach-mai") == "ihanoi/v1/unit/phuong-bach-mai/content"
    with pytest.raises(ValueError, match="bundle name"):
        TOPICS.unit_content("phuong-bach-mai", "a/b")
    payload = b'{"bundle": "vneid", "version": 2}'
    assert protocol.decode_command(TOPICS, TOPICS.unit_content("phuong-bach-mai", "vneid"), payload) == \
        ("unit", "content", {"bundle": "vneid", "version": 2}, "vneid")
    assert protocol.decode_command(TOPICS, TOPICS.content(DEVICE), payload) == \
        ("device", "content", {"bundle": "vneid", "version": 2}, None)
    assert protocol.decode_command(TOPICS, TOPICS.content(DEVICE, "vneid"), b"") == ("device", "content", None, "vneid")


@pytest.mark.parametrize("topic, reason", [
    (f"ihanoi/v1/cmd/{DEVICE}/content/Vneid", "bad-topic"),          # upper case is not a bundle name
    (f"ihanoi/v1/cmd/{DEVICE}/content/", "bad-topic"),
    (f"ihanoi/v1/cmd/{DEVICE}/content/.hidden", "bad-topic"),
    (f"ihanoi/v1/cmd/{DEVICE}/content/{'a' * 65}", "bad-topic"),
    (f"ihanoi/v1/cmd/{DEVICE}/content/vneid\n", "bad-topic"),
    (f"ihanoi/v1/cmd/{DEVICE}/content/vneid/more", "bad-command"),
    (f"ihanoi/v1/cmd/{DEVICE}/quota/vneid", "bad-command"),
])
def test_a_content_topic_whose_last_level_is_not_a_bundle_name_is_refused(topic, reason):
    with pytest.raises(ProtocolError) as info:
        protocol.decode_command(TOPICS, topic, b'{"bundle": "vneid"}')
    assert info.value.reason == reason


def test_an_announcement_naming_another_bundle_than_its_topic_is_refused():
    with pytest.raises(ProtocolError) as info:
        protocol.decode_command(TOPICS, TOPICS.unit_content("phuong-bach-mai", "vneid"), b'{"bundle": "ihanoi-promo"}')
    assert info.value.reason == "bundle-mismatch" and "ihanoi-promo" in info.value.detail
