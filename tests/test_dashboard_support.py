"""Fixtures shared by the dashboard's tests: a simulated district in a real SQLite store,
users, and an app on a fixed clock. (No tests here; the dashboard test modules import it.)"""

from __future__ import annotations

import html
import re
from datetime import date, datetime

import pytest

from broker.store import open_store
from broker.web.app import create_app
from broker.web.config import DashboardConfig, DashboardSettings
from broker.web.users import User, Users, hash_password
from ihanoi.contract.clock import CAMPAIGN_TZ, SimClock
from ihanoi.tools.sample_district import simulate_district

FIRST, LAST = date(2024, 9, 9), date(2024, 9, 13)      # Monday to Friday
NOW = datetime(2024, 9, 13, 15, 0, tzinfo=CAMPAIGN_TZ)   # Friday afternoon: today is in progress
# One of each kind, a unit with two boards (Bạch Mai) and a raised quota (Bách Khoa).
UNITS = ["phuong-bach-dang", "phuong-bach-khoa", "phuong-bach-mai", "phuong-bui-thi-xuan", "phuong-cau-den",
         "phuong-dong-mac", "phuong-dong-nhan", "phuong-dong-tam"]
PASSWORDS = {"vanhoa": "xem-bao-cao-2024", "kythuat": "ky-thuat-2024"}
SECRET = "s" * 32


@pytest.fixture(scope="module")
def district(tmp_path_factory, registry):
    """The database URL of a store filled by eight units' boards over a week, as the collector writes it."""
    path = tmp_path_factory.mktemp("district") / "store.sqlite3"
    url = f"sqlite:///{path}"
    store = open_store(url)
    extra = [u.id for u in registry.units if u.kind != "ward"]
    kinds = {registry.unit(u).kind for u in extra}
    units = UNITS + [next(u for u in extra if registry.unit(u).kind == k) for k in sorted(kinds)]
    simulate_district(store, registry, FIRST, LAST, NOW, units)
    store.close()
    return url


@pytest.fixture(scope="module")
def users():
    return Users((User(name="vanhoa", role="viewer", display_name="Phòng Văn hóa và Thông tin",
                       password=hash_password(PASSWORDS["vanhoa"])),
                  User(name="kythuat", role="operator", password=hash_password(PASSWORDS["kythuat"]))))


def make_config(tmp_path, url: str, **dashboard) -> DashboardConfig:
    settings = DashboardSettings(snapshot_dir=tmp_path / "snapshots", **dashboard)
    return DashboardConfig.model_validate({"database": {"url": url}}).model_copy(update={"dashboard": settings})


def make_app(tmp_path, url, registry, users, now=NOW, board=None, **dashboard):
    from broker.store import open_store as _open

    return create_app(make_config(tmp_path, url, **dashboard), store=_open(url), registry=registry,
                      clock=SimClock(now), users=users, board=board, secret=SECRET)


def csrf_of(page: str) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', page).group(1)


def log_in(client, name: str) -> None:
    page = client.get("/login").text
    r = client.post("/login", data={"username": name, "password": PASSWORDS[name], "csrf": csrf_of(page),
                                    "next": "/compliance"}, follow_redirects=False)
    assert r.status_code == 303, r.text


def vi_number(text: str) -> float | None:
    """'1.234,5' -> 1234.5; '61 %' -> 0.61; '—' -> None."""
    text = html.unescape(text).strip()
    if text in ("—", ""):
        return None
    share = text.endswith("%")
    value = float(text.rstrip(" %").replace(".", "").replace(",", "."))
    return value / 100 if share else value


def table_rows(page: str, table_id: str) -> list[dict]:
    """Rows of ``<table id=...>``: their data-* attributes and data-col cells."""
    body = re.search(rf'<table[^>]*id="{table_id}".*?</table>', page, re.S).group(0)
    rows = []
    for attrs, cells in re.findall(r"<tr ([^>]*)>(.*?)</tr>", body, re.S):
        row = dict(re.findall(r'data-([a-z_]+)="([^"]*)"', attrs))
        row.update({k: vi_number(v) for k, v in re.findall(r'data-col="([a-z_]+)">([^<]*)<', cells)})
        row["class"] = (re.search(r'class="([^"]*)"', attrs) or [None, ""])[1]
        row["text"] = html.unescape(re.sub(r"<[^>]+>", " ", cells))
        rows.append(row)
    return rows
