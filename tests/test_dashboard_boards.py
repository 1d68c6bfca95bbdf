"""The dashboard's MQTT side against a real Mosquitto: operators' commands reach the board's
topic, boards' snapshots reach the fleet page."""

from __future__ import annotations

import io
import json
import time

import paho.mqtt.client as mqtt
import pytest
from PIL import Image
from starlette.testclient import TestClient

from broker.collector.config import MqttSettings
from broker.web.boards import BoardLink, SnapshotDir
from tests.mqtt_helpers import Recorder
from tests.polling import eventually
from tests.test_dashboard_support import csrf_of, district, log_in, make_app, users  # noqa: F401


@pytest.fixture
def board_link(mosquitto, tmp_path):
    link = BoardLink(MqttSettings(host=mosquitto.host, port=mosquitto.port), "ihanoi/v1",
                     SnapshotDir(tmp_path / "snapshots"), client_id="dashboard-test").start()
    assert link.wait_connected(10)
    yield link
    link.stop()


def png() -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (64, 32), (200, 16, 46)).save(buf, "PNG")
    return buf.getvalue()


def test_an_operators_play_now_reaches_the_boards_command_topic(mosquitto, board_link, district, registry,
                                                               users, tmp_path):
    recorder = Recorder(mosquitto.host, mosquitto.port, "ihanoi/v1/cmd/#", client_id="board-ears")
    app = make_app(tmp_path, district, registry, users, board=board_link)
    try:
        with TestClient(app) as client:
            log_in(client, "kythuat")
            page = client.get("/fleet").text
            assert "Phát ngay" in page
            r = client.post("/devices/hbt-bach-mai-01/play-now", data={"csrf": csrf_of(page)})
            assert r.status_code == 200 and "Đã gửi lệnh «Phát ngay» tới hbt-bach-mai-01" in r.text
            assert recorder.wait_for(lambda rec: rec.messages, 10)
            topic, payload = recorder.messages[0]
            assert topic == "ihanoi/v1/cmd/hbt-bach-mai-01/play-now"
            assert json.loads(payload)["schema"] == "ihanoi.cmd.play-now/1"
            assert client.post("/devices/not-a-board/play-now", data={"csrf": csrf_of(page)}).status_code == 404
    finally:
        recorder.close()
    # One-shot: nothing is retained for a board that connects later.
    late = Recorder(mosquitto.host, mosquitto.port, "ihanoi/v1/cmd/#", client_id="late-board")
    try:
        time.sleep(0.3)
        assert late.messages == []
    finally:
        late.close()


def test_a_boards_snapshot_is_shown_on_the_fleet_page(mosquitto, board_link, district, registry, users, tmp_path):
    image = png()
    pub = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="hbt-bach-mai-01")
    pub.connect(mosquitto.host, mosquitto.port)
    pub.loop_start()
    pub.publish("ihanoi/v1/dev/hbt-bach-mai-01/snapshot", image, qos=1, retain=True).wait_for_publish(5)
    pub.publish("ihanoi/v1/dev/hbt-bach-mai-02/snapshot", b"not a picture", qos=1, retain=True).wait_for_publish(5)
    pub.disconnect()
    pub.loop_stop()
    assert eventually(lambda: board_link.snapshots.exists("hbt-bach-mai-01"))
    app = make_app(tmp_path, district, registry, users, board=board_link)
    with TestClient(app) as client:
        log_in(client, "vanhoa")
        page = client.get("/fleet").text
        assert 'src="/snapshots/hbt-bach-mai-01.png"' in page
        assert 'src="/snapshots/hbt-bach-mai-02.png"' not in page
        r = client.get("/snapshots/hbt-bach-mai-01.png")
        assert r.headers["content-type"] == "image/png" and r.content == image
        assert client.get("/snapshots/hbt-bach-mai-02.png").status_code == 404
        assert client.get("/snapshots/..%2Fsecret.png").status_code == 404


def test_a_command_while_the_broker_is_away_says_so(mosquitto, board_link, district, registry, users, tmp_path):
    mosquitto.kill()
    assert eventually(lambda: not board_link._connected.is_set())
    app = make_app(tmp_path, district, registry, users, board=board_link)
    with TestClient(app) as client:
        log_in(client, "kythuat")
        page = client.get("/fleet").text
        r = client.post("/devices/hbt-bach-mai-01/snapshot", data={"csrf": csrf_of(page)})
        assert "Chưa gửi được lệnh «Chụp màn hình» tới hbt-bach-mai-01: không kết nối được máy chủ MQTT" in r.text
