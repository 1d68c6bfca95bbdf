"""The dashboard's campaigns: viewers read every campaign and which units comply with all their
directives; operators add one (pasted file, refused with the fit rule's arithmetic) and end one,
announced to the boards; the compliance and unit pages and exports are per campaign."""

from __future__ import annotations

import re
import threading

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from starlette.testclient import TestClient

from broker.campaigns import MqttAnnouncer
from broker.store import open_store
from broker.web.app import create_app
from ihanoi.contract import campaigns
from ihanoi.contract.clock import SimClock
from ihanoi.contract.keys import generate, load_public
from tests.test_campaigns_cli import HEALTH_WEEK
from tests.test_dashboard_support import (  # noqa: F401
    NOW,
    SECRET,
    csrf_of,
    district,
    log_in,
    make_config,
    table_rows,
    users,
)



def week(quota: int, first="2024-09-16", last="2024-09-20", content="y-te-promo") -> str:
    """The campaign file of the command's tests, another week, from its first day's opening."""
    return (HEALTH_WEEK.format(quota=quota, target='units = ["phuong-bach-mai", "phuong-bach-khoa"]')
            .replace("2024-09-09", first).replace("2024-09-13", last).replace('starts = "13:30"\n', "")
            .replace('"y-te-promo"', f'"{content}"'))


@pytest.fixture
def app(tmp_path, registry, users, mosquitto):
    """An empty store of its own, a signing key and a real broker to announce through."""
    generate(tmp_path / "district.key", tmp_path / "district.pub")
    url = f"sqlite:///{tmp_path / 'store.sqlite3'}"
    base = make_config(tmp_path, url)
    config = base.model_validate(base.model_dump() | {"broker": {"host": mosquitto.host, "port": mosquitto.port},
                                                      "campaigns": {"signing_key": tmp_path / "district.key"}})
    return create_app(config, store=open_store(url), registry=registry, clock=SimClock(NOW), users=users,
                      secret=SECRET, announcer=MqttAnnouncer(config.broker, "ihanoi/v1", client_id="dash-test"))


def retained(broker, topic: str) -> bytes | None:
    got, done = [], threading.Event()
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="board")
    client.on_connect = lambda c, u, f, rc, p: c.subscribe(topic, qos=1)
    client.on_message = lambda c, u, m: got.append(m.payload) if m.retain else None
    client.on_subscribe = lambda *a: threading.Timer(1.0, done.set).start()
    client.connect(broker.host, broker.port)
    client.loop_start()
    done.wait(10)
    client.disconnect()
    client.loop_stop()
    return got[-1] if got else None


def post(client, path, **data):
    page = client.get("/campaigns").text
    return client.post(path, data={"csrf": csrf_of(page), **data}, follow_redirects=False)


def test_an_operator_adds_a_campaign_and_its_boards_receive_it_signed(app, mosquitto, tmp_path):
    with TestClient(app) as client:
        log_in(client, "kythuat")
        r = post(client, "/campaigns", campaign=week(4))
        assert r.status_code == 303
        page = client.get("/campaigns").text
        assert "Đã thêm chiến dịch tuan-le-y-te. Đã gửi tới 2 đơn vị (2 có thay đổi)." in page
        rows = {r["campaign"]: r for r in table_rows(page, "campaigns")}
        assert set(rows) == {"ihanoi", "tuan-le-y-te"} and "Sắp diễn ra" in rows["tuan-le-y-te"]["text"]
    payload = retained(mosquitto, "ihanoi/v1/unit/phuong-bach-mai/campaigns")
    got = campaigns.verify(payload, (load_public(tmp_path / "district.pub"),), "phuong-bach-mai")
    assert [c.id for c in got.campaigns] == ["ihanoi", "tuan-le-y-te"] and got.version == 1

    with TestClient(app) as client:
        log_in(client, "kythuat")
        assert post(client, "/campaigns/tuan-le-y-te/end", on="17/09/2024").status_code == 303
        assert "Đã dừng chiến dịch tuan-le-y-te." in client.get("/campaigns").text
    got = campaigns.verify(retained(mosquitto, "ihanoi/v1/unit/phuong-bach-mai/campaigns"),
                           (load_public(tmp_path / "district.pub"),), "phuong-bach-mai")
    assert got.version == 2 and got.campaigns[1].last_day.isoformat() == "2024-09-17"


def test_a_campaign_that_does_not_fit_is_refused_on_the_page_with_its_arithmetic(app):
    with TestClient(app) as client:
        log_in(client, "kythuat")
        r = post(client, "/campaigns", campaign=week(19))
        assert r.status_code == 400
        error = re.search(r'<pre class="error"[^>]*>(.*?)</pre>', r.text, re.S).group(1)
        assert "chiến dịch dán vào: quota: campaign &#39;tuan-le-y-te&#39; does not fit" in error
        assert "phuong-bach-khoa on Mon 2024-09-16: ihanoi 12 × (1 + 15) = 192 + tuan-le-y-te 19 × (1 + 15) = 304" \
               in error.replace("&#39;", "'")
        assert "quota = 19" in r.text                           # the operator's text is kept to correct
        r = post(client, "/campaigns", campaign=week(4).replace("units = [", "unit = ["))     # a misspelt key
        assert r.status_code == 400 and "target.unit: is not a known setting" in r.text
        assert [row["campaign"] for row in table_rows(client.get("/campaigns").text, "campaigns")] == ["ihanoi"]


def test_a_viewer_reads_the_campaigns_but_changes_nothing(app):
    with TestClient(app) as client:
        log_in(client, "vanhoa")
        page = client.get("/campaigns").text
        assert 'id="add"' not in page and "/campaigns/ihanoi/end" not in page
        assert post(client, "/campaigns", campaign=week(4)).status_code == 403
        assert post(client, "/campaigns/ihanoi/end").status_code == 403


@pytest.fixture(scope="module")
def district_app(district, registry, users, tmp_path_factory):  # noqa: F811
    store = open_store(district)
    from broker.campaigns.files import load_campaign_text
    campaign, seconds = load_campaign_text(week(4, "2024-09-09", "2024-09-13", "ihanoi-promo"), "t", registry)
    store.campaigns.add(campaign, seconds, NOW)
    store.close()
    tmp = tmp_path_factory.mktemp("web")
    return create_app(make_config(tmp, district), store=open_store(district), registry=registry, clock=SimClock(NOW),
                      users=users, secret=SECRET)


def test_the_compliance_and_unit_pages_report_the_campaign_chosen(district_app):
    with TestClient(district_app) as client:
        log_in(client, "vanhoa")
        page = client.get("/compliance").text                 # by default the first active campaign: iHanoi
        assert '<option value="tuan-le-y-te" >' in page.replace("selected", "")
        assert len(table_rows(page, "units")) > 2
        page = client.get("/compliance?campaign=tuan-le-y-te").text
        assert "Thực hiện văn bản số 15/KH-UBND ngày 01/09/2024 của UBND quận Hai Bà Trưng" in page
        assert {r["unit"] for r in table_rows(page, "units")} == {"phuong-bach-mai", "phuong-bach-khoa"}
        assert client.get("/compliance?campaign=bau-cu").status_code == 400
        csv_text = client.get("/compliance.csv?campaign=tuan-le-y-te").content.decode("utf-8-sig")
        assert csv_text.splitlines()[1] == "Thực hiện văn bản số 15/KH-UBND ngày 01/09/2024 của UBND quận Hai Bà Trưng"
        page = client.get("/units/phuong-bach-mai?campaign=tuan-le-y-te").text
        assert "Tuần lễ y tế: văn bản số 15/KH-UBND" in page
        assert client.get("/units/phuong-bach-dang?campaign=tuan-le-y-te").status_code == 400   # not targeted
        page = client.get("/campaigns").text
        across = {r["unit"]: r for r in table_rows(page, "across")}
        assert "phuong-bach-mai" in across and "Đạt tuan-le-y-te" in page
