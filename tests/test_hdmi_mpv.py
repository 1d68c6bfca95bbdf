"""The mpv IPC adapter reads whatever comes down the socket without raising: JSON objects are
messages, anything else is counted and dropped (fuzzed), and a closed socket is MpvGone."""

from __future__ import annotations

import json
import socket
import threading
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edge.hdmi.mpv import Mpv, MpvGone
from edge.hdmi.settings import HdmiSettings, mpv_arguments


def connected() -> tuple[Mpv, socket.socket]:
    ours, theirs = socket.socketpair()
    ours.setblocking(False)
    mpv = Mpv(["mpv"], Path("/tmp/unused.sock"))
    mpv._sock = ours
    return mpv, theirs


def drain(mpv: Mpv) -> list[dict]:
    out, empty = [], 0
    while empty < 2:
        got = mpv.receive(0.01)
        empty = 0 if got else empty + 1
        out += got
    return out


@settings(max_examples=200, deadline=None)
@given(st.lists(st.one_of(st.binary(max_size=300), st.dictionaries(st.text(max_size=10), st.integers()).map(
    lambda d: json.dumps(d).encode())), max_size=30))
def test_any_bytes_from_mpv_are_read_without_raising(lines):
    mpv, theirs = connected()
    try:
        theirs.sendall(b"\n".join(line.replace(b"\n", b" ") for line in lines) + b"\n")
        messages = drain(mpv)
        assert all(isinstance(m, dict) for m in messages)
        objects = sum(1 for line in lines if _is_object(line.replace(b"\n", b" ")))
        assert len(messages) == objects
    finally:
        theirs.close()


def _is_object(line: bytes) -> bool:
    try:
        return isinstance(json.loads(line), dict)
    except ValueError:
        return False


def test_a_message_split_across_reads_is_put_back_together():
    mpv, theirs = connected()
    theirs.sendall(b'{"event": "end-fi')
    assert mpv.receive(0.05) == []
    theirs.sendall(b'le", "reason": "eof"}\n')
    assert drain(mpv) == [{"event": "end-file", "reason": "eof"}]


def test_what_mpv_says_around_a_reply_is_kept_for_the_player_in_order():
    # mpv answers a loadfile and, in the same read, starts the file: the start-file must not be
    # lost with the reply (the player begins the play at it), and what came before stays first.
    mpv, theirs = connected()
    theirs.sendall(b'{"event": "property-change", "name": "playback-time", "data": 3.5}\n')
    before = mpv.receive(0.2)
    assert before and before[0]["event"] == "property-change"
    mpv._pending.extend(before)             # not yet read by the player
    sent = []

    def answer():
        line = theirs.recv(4096)
        sent.append(json.loads(line))
        rid = sent[-1]["request_id"]
        theirs.sendall(b'{"event": "end-file", "reason": "stop", "playlist_entry_id": 1}\n'
                       + json.dumps({"request_id": rid, "error": "success", "data": {"playlist_entry_id": 2}}).encode()
                       + b'\n{"event": "start-file", "playlist_entry_id": 2}\n{"event": "playback-restart"}\n')

    helper = threading.Thread(target=answer)
    helper.start()
    assert mpv.request("loadfile", "promo.mp4", "replace") == {"playlist_entry_id": 2}
    helper.join()
    assert sent[0]["command"] == ["loadfile", "promo.mp4", "replace"]
    assert [m.get("event") for m in drain(mpv)] == ["property-change", "end-file", "start-file", "playback-restart"]
    theirs.close()


def test_a_closed_socket_is_mpv_gone():
    mpv, theirs = connected()
    theirs.sendall(b'{"event": "shutdown"}\n')
    theirs.close()
    assert mpv.receive(0.2) == [{"event": "shutdown"}]
    with pytest.raises(MpvGone):
        while True:
            mpv.receive(0.2)


def test_the_command_line_pins_the_screen_on_a_pi_and_stays_headless_in_tests(monkeypatch):
    monkeypatch.delenv("IHANOI_HDMI", raising=False)
    pi = mpv_arguments(HdmiSettings(board="pi5", connector="HDMI-A-1", volume=70,
                                    audio_device="alsa/hdmi:CARD=vc4hdmi0,DEV=0"), Path("/run/ihanoi/mpv.sock"))
    assert {"--vo=drm", "--drm-mode=1920x1080", "--drm-connector=HDMI-A-1", "--volume=70", "--no-config",
            "--audio-device=alsa/hdmi:CARD=vc4hdmi0,DEV=0", "--input-ipc-server=/run/ihanoi/mpv.sock"} <= set(pi)
    assert "--ao=null" not in pi
    monkeypatch.setenv("IHANOI_HDMI", "null")
    test = mpv_arguments(HdmiSettings(board="pi5"), Path("/tmp/x.sock"))
    assert "--vo=null" in test and "--ao=null" in test and not any(a.startswith("--drm") for a in test)
    monkeypatch.setenv("IHANOI_HDMI", "fbdev")
    with pytest.raises(ValueError, match="IHANOI_HDMI='fbdev'; allowed: drm, window, null"):
        mpv_arguments(HdmiSettings(), Path("/tmp/x.sock"))
