"""Announcing campaigns through a real Mosquitto: each unit's set arrives retained and signed, a
plain subscriber verifies it with the boards' own ``campaigns.verify``, a subscriber that comes
later still gets it, and a changed set (a campaign ended) has a higher version."""

from __future__ import annotations

import threading

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from broker import cli
from broker.store import open_store
from ihanoi.contract import campaigns
from ihanoi.contract.errors import ProtocolError
from ihanoi.contract.keys import generate, load_public
from tests.test_campaigns_cli import campaign_file

NOW = "2024-09-02T08:00:00+07:00"


@pytest.fixture
def server(tmp_path, mosquitto):
    generate(tmp_path / "district.key", tmp_path / "district.pub")
    generate(tmp_path / "stranger.key", tmp_path / "stranger.pub")
    url = f"sqlite:///{tmp_path / 'store.sqlite'}"
    open_store(url).close()
    (tmp_path / "server.toml").write_text(f'[database]\nurl = "{url}"\n[broker]\nhost = "{mosquitto.host}"\n'
                                          f'port = {mosquitto.port}\n[campaigns]\nsigning_key = "district.key"\n')
    return tmp_path


def retained(broker, topic: str, timeout: float = 10.0) -> dict[str, bytes]:
    """What a newly connected plain subscriber receives at once on ``topic`` (a filter): the retained messages."""
    got: dict[str, bytes] = {}
    done = threading.Event()
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="a-board-coming-online")
    client.on_connect = lambda c, u, f, rc, p: c.subscribe(topic, qos=1)

    def on_message(_c, _u, message):
        if message.retain:
            got[message.topic] = message.payload
    client.on_message = on_message
    client.on_subscribe = lambda *a: threading.Timer(1.0, done.set).start()
    client.connect(broker.host, broker.port)
    client.loop_start()
    done.wait(timeout)
    client.disconnect()
    client.loop_stop()
    return got


def run(server, capsys, *argv):
    code = cli.main(["campaign", *argv, "--config", str(server / "server.toml"), "--now", NOW])
    out = capsys.readouterr()
    assert code == 0, out.err
    return out.out


def test_every_unit_gets_its_signed_set_retained_and_a_change_raises_the_version(server, mosquitto, capsys):
    trusted = (load_public(server / "district.pub"),)
    out = run(server, capsys, "announce")
    assert "announced to 16 unit(s), 16 with a new set" in out
    first = retained(mosquitto, "ihanoi/v1/unit/+/campaigns")
    assert len(first) == 16
    bach_mai = campaigns.verify(first["ihanoi/v1/unit/phuong-bach-mai/campaigns"], trusted, "phuong-bach-mai")
    assert bach_mai.version == 1 and [c.id for c in bach_mai.campaigns] == ["ihanoi"]
    with pytest.raises(ProtocolError, match="bad-signature"):
        campaigns.verify(first["ihanoi/v1/unit/phuong-bach-mai/campaigns"], (load_public(server / "stranger.pub"),),
                         "phuong-bach-mai")

    out = run(server, capsys, "add", str(campaign_file(server)))        # targets Bách Mai and Bách Khoa
    assert "announced to 2 unit(s), 2 with a new set: phuong-bach-khoa v2, phuong-bach-mai v2" in out
    second = retained(mosquitto, "ihanoi/v1/unit/+/campaigns")
    bach_mai = campaigns.verify(second["ihanoi/v1/unit/phuong-bach-mai/campaigns"], trusted, "phuong-bach-mai")
    assert bach_mai.version == 2 and [c.id for c in bach_mai.campaigns] == ["ihanoi", "tuan-le-y-te"]
    assert second["ihanoi/v1/unit/phuong-vinh-tuy/campaigns"] == first["ihanoi/v1/unit/phuong-vinh-tuy/campaigns"]

    run(server, capsys, "end", "tuan-le-y-te")                            # before it started: withdrawn
    third = retained(mosquitto, "ihanoi/v1/unit/phuong-bach-mai/campaigns")
    bach_mai = campaigns.verify(third["ihanoi/v1/unit/phuong-bach-mai/campaigns"], trusted, "phuong-bach-mai")
    assert bach_mai.version == 3 and [c.id for c in bach_mai.campaigns] == ["ihanoi"]

    out = run(server, capsys, "announce")                                 # nothing changed: same versions again
    assert "announced to 16 unit(s), 0 with a new set" in out
    again = retained(mosquitto, "ihanoi/v1/unit/phuong-bach-mai/campaigns")
    assert campaigns.verify(again["ihanoi/v1/unit/phuong-bach-mai/campaigns"], trusted,
                            "phuong-bach-mai").version == 3


def test_a_campaign_ended_mid_window_is_announced_with_its_new_end_and_then_left_out(server, mosquitto, capsys):
    trusted = (load_public(server / "district.pub"),)
    topic = "ihanoi/v1/unit/phuong-bach-khoa/campaigns"
    run(server, capsys, "add", str(campaign_file(server, first_day="2024-08-26")))
    run(server, capsys, "end", "tuan-le-y-te", "--on", "2024-09-04")
    (_, week) = campaigns.verify(retained(mosquitto, topic)[topic], trusted, "phuong-bach-khoa").campaigns
    assert (week.last_day.isoformat(), week.ends) == ("2024-09-04", None)
    run(server, capsys, "end", "tuan-le-y-te")                            # now: its window is over
    now = campaigns.verify(retained(mosquitto, topic)[topic], trusted, "phuong-bach-khoa")
    assert now.version == 3 and [c.id for c in now.campaigns] == ["ihanoi"]


def test_an_unreachable_broker_is_one_sentence_and_the_versions_stay(server, mosquitto, capsys):
    mosquitto.stop()
    code = cli.main(["campaign", "announce", "--config", str(server / "server.toml"), "--now", NOW])
    err = capsys.readouterr().err
    assert code == 2 and f"cannot reach the MQTT broker 127.0.0.1:{mosquitto.port}" in err
    store = open_store(f"sqlite:///{server / 'store.sqlite'}")
    assert store.campaigns.announced() == {}
    store.close()
