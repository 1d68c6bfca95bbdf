"""Content updates end to end with a real Mosquitto and the bundle server: push, install, refuse, report."""

from __future__ import annotations

import functools
import json
import time

import pytest

from ihanoi.tools.content import main as content_cli
from tests.mqtt_helpers import Recorder
from tests.polling import eventually
from tests.updates_kit import BundleServer, Device, desired_for, make_bundle, make_keys

MAI, DANG = "phuong-bach-mai", "phuong-bach-dang"


@pytest.fixture
def setup(tmp_path, mosquitto):
    key, pub = make_keys(tmp_path / "keys")
    token = tmp_path / "token"
    token.write_text("s3cret\n")
    server = BundleServer(tmp_path / "served", token="s3cret")
    recorder = Recorder(mosquitto.host, mosquitto.port, "ihanoi/v1/dev/+/#")
    devices: list[Device] = []

    def device(name, unit, **kw):
        dev = Device(tmp_path / "boards", name, unit, mosquitto.port, [pub], **kw).start()
        devices.append(dev)
        return dev

    def push(bundle, *where):
        first = [str(bundle)] if bundle else []
        return content_cli(["push", *first, *where, "--server", server.url, "--token-file", str(token),
                            "--host", mosquitto.host, "--port", str(mosquitto.port)])
    yield key, device, push, recorder, server
    for dev in devices:
        dev.stop()
    recorder.close()
    server.close()


until = functools.partial(eventually, timeout=20.0)   # installs go through download and compile


def results(recorder, device):
    return [e for e in recorder.events("cmd-result") if e["device"] == device and e["command"] == "content"]


def last_update(recorder, device):
    health = [e for e in recorder.events("health") if e["device"] == device]
    return health[-1] if health else None


def test_push_to_one_unit_installs_on_its_devices_only_and_offline_ones_catch_up(tmp_path, setup, capsys,
                                                                                 mosquitto):
    key, device, push, recorder, _server = setup
    mai1, dang = device("hbt-bach-mai-01", MAI), device("hbt-bach-dang-01", DANG)

    v1 = make_bundle(tmp_path, key, 1, units=[MAI])
    assert push(v1, "--unit", MAI) == 0
    err = capsys.readouterr().err
    assert "uploading" in err and "100%" in err                         # the technician sees progress
    assert until(lambda: mai1.playing() == "v1")
    assert until(lambda: (last_update(recorder, "hbt-bach-mai-01") or {}).get("content_version") == "1")
    health = last_update(recorder, "hbt-bach-mai-01")
    assert health["details"]["update"]["state"] == "installed"
    assert [r["ok"] for r in results(recorder, "hbt-bach-mai-01")] == [True]

    # the second board of the unit was off when it was pushed: it installs when it comes back
    mai2 = device("hbt-bach-mai-02", MAI)
    assert until(lambda: mai2.playing() == "v1")
    time.sleep(0.5)
    assert dang.playing() is None and results(recorder, "hbt-bach-dang-01") == []
    assert dang.installer.status()["details"] == {}

    # a bundle for another unit pushed to this one by mistake: the CLI stops it
    other = make_bundle(tmp_path, key, 2, units=[DANG])
    assert push(other, "--unit", MAI) == 2
    assert "wrong-target" in capsys.readouterr().err

    # withdrawing the announcement leaves the installed content alone
    topic = f"ihanoi/v1/unit/{MAI}/content/ihanoi-promo"
    before = Recorder(mosquitto.host, mosquitto.port, topic, client_id="retained-before")
    assert before.wait_for(lambda r: len(r.messages) == 1, 5)
    before.close()
    assert push(None, "--unit", MAI, "--clear") == 2                   # which bundle's? it must be told
    assert "--bundle NAME" in capsys.readouterr().err
    assert push(None, "--unit", MAI, "--clear", "--bundle", "ihanoi-promo") == 0
    after = Recorder(mosquitto.host, mosquitto.port, topic, client_id="retained-after")
    assert not after.wait_for(lambda r: len(r.messages) > 0, 1)
    after.close()
    assert mai1.playing() == "v1" and mai2.playing() == "v1"


def test_refused_bundles_are_reported_while_the_old_content_keeps_playing(tmp_path, setup):
    key, device, push, recorder, _server = setup
    board = device("hbt-bach-mai-01", MAI)
    name = "hbt-bach-mai-01"
    good = make_bundle(tmp_path, key, 3, units=[MAI])
    assert push(good, "--unit", MAI) == 0
    assert until(lambda: board.playing() == "v3")

    tampered = make_bundle(tmp_path, key, 4, units=[MAI], name="tampered")
    raw = bytearray(tampered.read_bytes())
    raw[raw.index(b"iHanoi v4")] ^= 0x01
    tampered.write_bytes(bytes(raw))
    stranger, _ = make_keys(tmp_path / "stranger", "stranger")
    cases = [
        (tampered, "tampered"),
        (make_bundle(tmp_path, stranger, 5, units=[MAI], name="stranger"), "bad-signature"),
        (make_bundle(tmp_path, key, 2, units=[MAI], name="older"), "not-newer"),
        (make_bundle(tmp_path, key, 6, units=[MAI], broken=True), "compile-failed"),
    ]
    for n, (bundle, reason) in enumerate(cases, start=2):
        assert push(bundle, "--device", name) == 0
        assert until(lambda n=n: len(results(recorder, name)) == n), results(recorder, name)
        answer = results(recorder, name)[-1]
        assert answer["ok"] is False and reason in answer["reason"]
        assert board.playing() == "v3"
        assert until(lambda reason=reason: ((last_update(recorder, name) or {}).get("details", {})
                                            .get("update") or {}).get("reason") == reason)
        assert last_update(recorder, name)["content_version"] == "3"

    # after all that, a good newer bundle still goes through
    assert push(make_bundle(tmp_path, key, 7, units=[MAI]), "--device", name) == 0
    assert until(lambda: board.playing() == "v7")


def test_a_malformed_content_command_is_logged_not_fatal(tmp_path, setup, mosquitto):
    from paho.mqtt import publish

    key, device, push, _recorder, _server = setup
    board = device("hbt-bach-mai-01", MAI)
    publish.single("ihanoi/v1/cmd/hbt-bach-mai-01/content", b'{"bundle": 1', qos=1, hostname=mosquitto.host,
                   port=mosquitto.port)
    assert until(lambda: board.service.last_error is not None)
    assert "not a content command" in board.service.last_error
    assert push(make_bundle(tmp_path, key, 1, units=[MAI]), "--device", "hbt-bach-mai-01") == 0
    assert until(lambda: board.playing() == "v1")
    assert json.loads(json.dumps(board.service.status()))["details"]["update_error"]


def test_a_campaigns_bundle_installs_beside_the_promo_and_each_keeps_its_own_versions(tmp_path, setup):
    """The promo announced to the unit, a second campaign's bundle to the board: both installed, side by side."""
    key, device, push, recorder, _server = setup
    name = "hbt-bach-mai-01"
    board = device(name, MAI, promo="ihanoi-promo")
    assert push(make_bundle(tmp_path, key, 4, units=[MAI]), "--unit", MAI) == 0
    assert until(lambda: board.playing() == "v4")
    vneid = make_bundle(tmp_path, key, 1, units=[MAI], pack_id="vneid-promo", name="vneid-v1")
    assert push(vneid, "--device", name) == 0
    assert until(lambda: board.carries("vneid-promo") == "v1")
    assert board.playing() == "v4"                                   # the promo was not replaced

    def reported():
        health = last_update(recorder, name) or {}
        return set(health.get("details", {}).get("bundles", {})) == {"ihanoi-promo", "vneid-promo"}
    assert until(reported)
    health = last_update(recorder, name)
    assert (health["content_id"], health["content_version"]) == ("ihanoi-promo", "4")
    assert health["details"]["bundles"]["vneid-promo"] == {"version": 1, "pack": "vneid-promo",
                                                           "pack_version": "v1"}

    # a newer promo replaces the promo only; a replayed campaign bundle is refused for its own name
    assert push(make_bundle(tmp_path, key, 5, units=[MAI]), "--unit", MAI) == 0
    assert until(lambda: board.playing() == "v5")
    assert board.carries("vneid-promo") == "v1"
    replay = make_bundle(tmp_path, key, 1, units=[MAI, DANG], pack_id="vneid-promo", name="vneid-replay")
    assert push(replay, "--device", name) == 0
    assert until(lambda: any(not r["ok"] and "not-newer" in r["reason"] and "vneid-promo" in r["reason"]
                             for r in results(recorder, name)))
    assert [r["ok"] for r in results(recorder, name)] == [True, True, True, False]
    assert board.carries("vneid-promo") == "v1" and board.playing() == "v5"


def test_every_bundle_announced_to_a_unit_waits_retained_for_a_board_that_was_off(tmp_path, setup, mosquitto):
    """Two campaigns' bundles pushed to one unit: each on its own retained topic, so a board that
    connects afterwards installs both (one topic would have kept only the last)."""
    key, device, push, recorder, _server = setup
    assert push(make_bundle(tmp_path, key, 3, units=[MAI]), "--unit", MAI) == 0
    vneid = make_bundle(tmp_path, key, 2, units=[MAI], pack_id="vneid-promo", name="vneid-v2")
    assert push(vneid, "--unit", MAI) == 0
    held = Recorder(mosquitto.host, mosquitto.port, f"ihanoi/v1/unit/{MAI}/content/+", client_id="retained-held")
    assert held.wait_for(lambda r: len(r.messages) == 2, 5)
    held.close()

    name = "hbt-bach-mai-01"
    board = device(name, MAI, promo="ihanoi-promo")
    assert until(lambda: board.playing() == "v3" and board.carries("vneid-promo") == "v2")
    assert until(lambda: len(results(recorder, name)) == 2)
    assert all(r["ok"] for r in results(recorder, name))

    # withdrawing one bundle's announcement leaves the other's: a board arriving now gets only that one
    assert push(None, "--unit", MAI, "--clear", "--bundle", "vneid-promo") == 0
    later = device("hbt-bach-mai-02", MAI, promo="ihanoi-promo")
    assert until(lambda: later.playing() == "v3")
    time.sleep(1.0)
    assert later.carries("vneid-promo") is None
    assert board.carries("vneid-promo") == "v2"                          # installed content stays


def test_an_announcement_on_the_single_topic_of_boards_from_before_is_still_installed(tmp_path, setup, mosquitto):
    """During the change: the promo retained on unit/{unit}/content (``push --single-topic``, or from a
    push before one topic per bundle) and a campaign's bundle on its own topic; a board takes both."""
    key, device, push, recorder, _server = setup
    assert push(make_bundle(tmp_path, key, 6, units=[MAI]), "--unit", MAI, "--single-topic") == 0
    old = Recorder(mosquitto.host, mosquitto.port, f"ihanoi/v1/unit/{MAI}/content", client_id="retained-old")
    assert old.wait_for(lambda r: len(r.messages) == 1, 5)
    old.close()
    assert push(make_bundle(tmp_path, key, 1, units=[MAI], pack_id="vneid-promo", name="vneid-v1"),
                "--unit", MAI) == 0
    board = device("hbt-bach-mai-01", MAI, promo="ihanoi-promo")
    assert until(lambda: board.playing() == "v6" and board.carries("vneid-promo") == "v1")

    # a newer promo on the promo's own topic replaces it; the old topic's v6 is not taken again
    assert push(make_bundle(tmp_path, key, 7, units=[MAI]), "--unit", MAI) == 0
    assert until(lambda: board.playing() == "v7")
    assert until(lambda: len(results(recorder, "hbt-bach-mai-01")) == 3)
    time.sleep(0.5)
    assert [r["ok"] for r in results(recorder, "hbt-bach-mai-01")] == [True, True, True]


def test_an_announcement_on_another_bundles_topic_is_ignored(tmp_path, setup, mosquitto):
    from paho.mqtt import publish

    key, device, _push, _recorder, server = setup
    board = device("hbt-bach-mai-01", MAI)
    bundle = make_bundle(tmp_path, key, 1, units=[MAI])
    desired = desired_for(bundle, f"{server.url}/bundles/ihanoi-promo-v1.tar", 1)
    publish.single(f"ihanoi/v1/unit/{MAI}/content/vneid-promo", desired.to_bytes(), qos=1, retain=True,
                   hostname=mosquitto.host, port=mosquitto.port)
    assert until(lambda: board.service.last_error is not None)
    assert "bundle-mismatch" in board.service.last_error and "vneid-promo" in board.service.last_error
    time.sleep(0.5)
    assert board.playing() is None
