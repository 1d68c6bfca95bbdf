"""Content announcements, one retained topic per bundle: ``unit/{unit}/content/{bundle}``.

The topic's last level is untrusted input like a payload: whatever text a topic carries there, a
board's decoder returns an announcement for a valid bundle name or refuses it with a reason,
never another exception; an accepted announcement names the bundle of its topic.
"""

from __future__ import annotations

import json
import re

from hypothesis import given, settings
from hypothesis import strategies as st

from ihanoi.contract import protocol
from ihanoi.contract.errors import ProtocolError
from tests.test_protocol import DEVICE, TOPICS

UNIT = "phuong-bach-mai"
REASONS = {"bad-topic", "bad-command", "oversize", "bad-utf8", "bad-json", "too-deep", "invalid", "bundle-mismatch"}
NAMES = st.from_regex(protocol.BUNDLE_ID, fullmatch=True)
# What a topic level might hold: any text, the MQTT separators and wildcards, names almost valid.
LEVELS = st.one_of(st.text(max_size=80), st.text(alphabet="ab.-_/+#\x00\n A", max_size=12),
                   NAMES.map(lambda n: n + "/"), NAMES.map(str.upper))


@settings(max_examples=400, deadline=None)
@given(level=LEVELS, scope=st.sampled_from(["cmd", "unit"]))
def test_any_last_level_of_a_content_topic_is_a_bundle_or_a_reason(level, scope):
    where = DEVICE if scope == "cmd" else UNIT
    topic = f"ihanoi/v1/{scope}/{where}/content/{level}"
    try:
        command = protocol.decode_command(TOPICS, topic, json.dumps({"bundle": level}).encode())
    except ProtocolError as exc:
        assert exc.reason in ("bad-topic", "bad-command")
        assert not re.fullmatch(protocol.BUNDLE_ID, level)
        assert exc.detail.isprintable()
        return
    assert re.fullmatch(protocol.BUNDLE_ID, level) and command.bundle == level
    assert command == (("device" if scope == "cmd" else "unit"), "content", {"bundle": level}, level)


@settings(max_examples=300, deadline=None)
@given(name=NAMES)
def test_every_bundle_name_is_a_topic_level_that_comes_back_as_itself(name):
    for topic, scope in ((TOPICS.unit_content(UNIT, name), "unit"), (TOPICS.content(DEVICE, name), "device")):
        assert topic.endswith(f"/content/{name}") and not any(c in name for c in "/+#")
        assert protocol.command_topic(TOPICS, topic) == (scope, UNIT if scope == "unit" else DEVICE, "content", name)


@settings(max_examples=300, deadline=None)
@given(name=NAMES, payload=st.one_of(st.binary(max_size=200),
                                     st.dictionaries(st.sampled_from(["bundle", "version", "url"]),
                                                     st.one_of(st.none(), st.integers(), st.text(max_size=20)) |
                                                     NAMES, max_size=3).map(lambda d: json.dumps(d).encode())))
def test_any_payload_on_a_bundles_topic_is_its_announcement_or_a_reason(name, payload):
    try:
        command = protocol.decode_command(TOPICS, TOPICS.unit_content(UNIT, name), payload)
    except ProtocolError as exc:
        assert exc.reason in REASONS
        return
    assert command.bundle == name
    assert command.message is None if not payload else command.message["bundle"] == name
