"""The play message's ``screen``: what a TV said before the play, sent by TV boards only.

Absent from LED boards and from boards older than the field (their plays count as before);
a TV board's value is checked like every field a board sends, and whatever bytes arrive
in it the collector either accepts the message or refuses it with a reason, never a crash.
"""

from __future__ import annotations

import json
from typing import get_args

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edge.hdmi import ScreenStatus
from ihanoi.contract import protocol
from ihanoi.contract.errors import ProtocolError
from tests.test_protocol import DEVICE, TOPICS, play_payload

TOPIC = f"ihanoi/v1/dev/{DEVICE}/play"


def parse(data: dict):
    return protocol.parse(TOPICS, TOPIC, json.dumps(data).encode())[1]


def test_a_play_without_screen_is_accepted_and_an_led_boards_play_does_not_send_one():
    data = play_payload()
    assert "screen" not in data, "an LED board's play must read the same to a collector that predates the field"
    message = parse(data)
    assert message.screen is None and protocol.screen_showed(None)


def test_a_tv_boards_play_carries_what_the_tv_said():
    message = parse(play_payload(screen={"power": "standby", "input": "unknown"}))
    assert message.screen == protocol.PlayScreen(power="standby") and not message.screen.showed
    assert json.loads(protocol.encode(message))["screen"] == {"power": "standby", "input": "unknown"}
    assert parse(play_payload(screen={"power": "on"})).screen.input == "unknown"


@pytest.mark.parametrize("screen, where", [
    ({"power": "off"}, "screen.power"),
    ({"power": "on", "input": "hdmi2"}, "screen.input"),
    ({"power": "on", "input": "ours", "volume": 3}, "screen.volume"),
    ({}, "screen.power"),
    ("standby", "screen"),
    ({"power": None}, "screen.power"),
])
def test_a_screen_the_protocol_does_not_name_is_refused_with_the_field(screen, where):
    with pytest.raises(ProtocolError) as err:
        parse(play_payload(screen=screen))
    assert err.value.reason == "invalid" and err.value.detail.startswith(where), err.value.detail


def test_the_rule_counts_on_and_unmanaged_screens_only():
    counted = {(p, i) for p in get_args(protocol.ScreenPower) for i in get_args(protocol.ScreenInput)
               if protocol.screen_showed(p, i)}
    assert counted == {("on", "ours"), ("on", "unknown"), ("unmanaged", "ours"), ("unmanaged", "other"),
                       ("unmanaged", "unknown")}


@given(st.text(max_size=20), st.sampled_from(["ours", "other", "unknown"]))
def test_whatever_a_tv_answers_the_board_sends_a_screen_the_protocol_accepts(power, source):
    """A TV may answer a power code CEC does not name (cec.py reads it as ``unknown-N``): the board
    must still be able to queue its play, never fail on its own message."""
    said = ScreenStatus(power, source)
    screen = protocol.PlayScreen(**said.wire())
    assert screen.showed == said.counts or said.power not in get_args(protocol.ScreenPower)
    if said.power not in get_args(protocol.ScreenPower):
        assert screen.power == "error" and not screen.showed


JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=12),
                    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
                    max_leaves=8)


@settings(max_examples=300, deadline=None)
@given(st.one_of(JSON, st.fixed_dictionaries({"power": JSON}, optional={"input": JSON, "extra": JSON})))
def test_any_json_in_screen_is_a_message_or_a_reason_never_a_crash(screen):
    try:
        message = parse(play_payload(screen=screen))
    except ProtocolError as exc:
        assert exc.reason == "invalid"
        return
    assert message.screen is None or isinstance(message.screen, protocol.PlayScreen)
    assert screen is None or message.screen.power in get_args(protocol.ScreenPower)
