"""The dashboard's small parts: Vietnamese formatting, charts, the users file, the config."""

from __future__ import annotations

import re
import subprocess
import sys
from datetime import date, datetime, timezone

import pytest

from broker.web import charts, fmt
from broker.web.config import load_dashboard_config
from broker.web.users import hash_password, load_users, verify_password
from ihanoi.contract.clock import CAMPAIGN_TZ
from ihanoi.contract.errors import ConfigError


# --- how Vietnamese readers see numbers and dates ---------------------------------------------
@pytest.mark.parametrize("value, decimals, text", [
    (1234567, 0, "1.234.567"), (1234.5, 1, "1.234,5"), (9.96, 1, "10,0"), (0, 0, "0"), (None, 0, "—"),
])
def test_numbers_group_thousands_with_dots_and_decimals_with_a_comma(value, decimals, text):
    assert fmt.number(value, decimals) == text


def test_dates_are_day_month_year_and_times_are_local():
    assert fmt.day(date(2024, 9, 3)) == "03/09/2024"
    assert fmt.weekday_day(date(2024, 9, 2)) == "Thứ Hai, 02/09/2024"
    assert fmt.moment(datetime(2024, 9, 3, 1, 5, tzinfo=timezone.utc), CAMPAIGN_TZ) == "08:05 03/09/2024"
    assert fmt.percent(0.625, 1) == "62,5 %"


def test_days_are_read_as_typed_or_as_the_browser_sends_them():
    assert fmt.parse_day("3/9/2024") == fmt.parse_day("2024-09-03") == date(2024, 9, 3)
    for bad in ("31/02/2024", "9/2024", "hôm qua"):
        with pytest.raises(ValueError):
            fmt.parse_day(bad)


def test_durations_read_as_words():
    assert fmt.duration(25 * 60) == "25 phút"
    assert fmt.duration(3 * 86400 + 4 * 3600) == "3 ngày 4 giờ"


# --- charts ----------------------------------------------------------------------------------
def test_the_hourly_chart_draws_one_bar_per_hour_and_the_plays_as_a_line():
    svg = charts.hourly([8, 9, 10], [12.5, 30.0, 4.0], [1.0, 3.0, 0.5], "Bạch Mai & <co>")
    assert svg.count('class="bar traffic"') == 3 and svg.count('class="dot plays"') == 3
    assert "Bạch Mai &amp; &lt;co&gt;" in svg and "<co>" not in svg
    assert "30,0 lượt chuyển động/ngày, 3,0 lần phát/ngày" in svg


def test_the_daily_chart_colours_days_by_compliance_and_draws_the_quota():
    bars = [charts.DayBar(date(2024, 9, 9), 11, 10, True), charts.DayBar(date(2024, 9, 10), 7, 10, False),
            charts.DayBar(date(2024, 9, 11), 3, 10, None)]
    svg = charts.daily(bars, "x")
    assert 'class="bar ok"' in svg and 'class="bar behind"' in svg and 'class="bar closed"' in svg
    assert svg.count("M") >= 2 and 'class="quota"' in svg
    assert "10/09/2024: 7 lần phát, định mức 10 — Chưa đạt" in svg


@pytest.mark.parametrize("value, top", [(0, 4), (3, 4), (9, 10), (11, 20), (94, 100), (123, 200), (0.7, 0.8)])
def test_chart_axes_end_on_round_numbers(value, top):
    assert charts._nice_max(value) == pytest.approx(top)


# --- users ------------------------------------------------------------------------------------
def test_a_password_hash_verifies_only_its_password():
    encoded = hash_password("mật khẩu dài")
    assert encoded.startswith("scrypt$") and "mật khẩu" not in encoded
    assert verify_password("mật khẩu dài", encoded)
    assert not verify_password("mat khau dai", encoded)
    assert hash_password("x" * 8) != hash_password("x" * 8)   # salted


def test_the_hash_command_prints_a_line_for_the_users_file(tmp_path):
    out = subprocess.run([sys.executable, "-m", "broker.web.users", "hash", "--stdin"], input="ky-thuat-2024\n",
                         capture_output=True, text=True, check=True).stdout
    line = re.fullmatch(r'password = "(scrypt\$[^"]+)"\n', out)
    assert line and verify_password("ky-thuat-2024", line.group(1))


def test_a_users_file_with_a_plain_password_is_refused_with_the_fix(tmp_path):
    path = tmp_path / "users.toml"
    path.write_text('[[user]]\nname = "vanhoa"\nrole = "viewer"\npassword = "123456"\n', encoding="utf-8")
    with pytest.raises(ConfigError) as exc:
        load_users(path)
    assert "user[0].password" in str(exc.value) and "python -m broker.web.users hash" in str(exc.value)
    path.write_text('[[user]]\nname = "vanhoa"\nrole = "admin"\n', encoding="utf-8")
    with pytest.raises(ConfigError, match=r"user\[0\]\.role"):
        load_users(path)


def test_the_same_user_twice_is_refused(tmp_path):
    path = tmp_path / "users.toml"
    path.write_text('[[user]]\nname = "a1"\nrole = "viewer"\n[[user]]\nname = "a1"\nrole = "operator"\n')
    with pytest.raises(ConfigError, match="appears twice"):
        load_users(path)


def test_authentication_needs_the_right_password_and_a_known_name(tmp_path):
    path = tmp_path / "users.toml"
    path.write_text(f'[[user]]\nname = "kythuat"\nrole = "operator"\npassword = "{hash_password("dung-roi-1")}"\n'
                    '[[user]]\nname = "proxyonly"\nrole = "viewer"\n')
    users = load_users(path)
    assert users.authenticate("kythuat", "dung-roi-1").can_operate
    assert users.authenticate("kythuat", "sai-roi-1") is None
    assert users.authenticate("nobody", "dung-roi-1") is None
    assert users.authenticate("proxyonly", "") is None      # no password: only through the proxy
    assert users.get("proxyonly").role == "viewer"


# --- config -----------------------------------------------------------------------------------
def test_the_dashboard_shares_the_collectors_file_and_resolves_paths_beside_it(tmp_path):
    path = tmp_path / "server.toml"
    path.write_text('[database]\nurl = "sqlite:///x.sqlite"\n[collector]\noffline_after_s = 600\n'
                    '[dashboard]\nport = 8081\nusers_file = "users.toml"\nsession_secret_file = "/etc/x/secret"\n')
    config = load_dashboard_config(path)
    assert config.dashboard.port == 8081 and config.collector.offline_after_s == 600
    assert config.dashboard.users_file == tmp_path / "users.toml"
    assert str(config.dashboard.session_secret_file) == "/etc/x/secret"
    assert config.dashboard.snapshot_dir == tmp_path / "snapshots"


def test_a_bad_setting_names_the_file_and_key(tmp_path):
    path = tmp_path / "server.toml"
    path.write_text('[dashboard]\nauth = "ldap"\nport = 0\ncolour = "red"\n')
    with pytest.raises(ConfigError) as exc:
        load_dashboard_config(path)
    text = str(exc.value)
    assert str(path) in text and "dashboard.auth" in text and "dashboard.port" in text and "dashboard.colour" in text


def test_a_missing_or_short_session_secret_says_how_to_make_one(tmp_path):
    path = tmp_path / "server.toml"
    path.write_text('[dashboard]\nsession_secret_file = "secret"\n')
    config = load_dashboard_config(path)
    with pytest.raises(ConfigError, match="head -c 32 /dev/urandom"):
        config.session_secret()
    (tmp_path / "secret").write_text("short\n")
    with pytest.raises(ConfigError, match="shorter than 16"):
        config.session_secret()
    (tmp_path / "secret").write_text("a" * 44 + "\n")
    assert config.session_secret() == "a" * 44


def test_the_example_config_is_valid_and_the_example_users_must_be_filled_in():
    from pathlib import Path

    import broker.web

    here = Path(broker.web.__file__).parent
    config = load_dashboard_config(here / "dashboard.example.toml")
    assert config.dashboard.users_file == here / "dashboard-users.toml"
    with pytest.raises(ConfigError, match="python -m broker.web.users hash"):
        load_users(here / "dashboard-users.example.toml")


def test_a_missing_users_file_says_where_to_start(tmp_path):
    with pytest.raises(ConfigError, match="dashboard-users.example.toml"):
        load_users(tmp_path / "users.toml")


# --- sessions on the server -------------------------------------------------------------------
def test_a_session_lives_until_logout_its_lifetime_or_a_change_of_its_users_password():
    from broker.web.auth import SessionBook
    from broker.web.users import User, Users
    from ihanoi.contract.clock import SimClock

    clock = SimClock(datetime(2024, 9, 3, 8, 0, tzinfo=CAMPAIGN_TZ))
    alice = User(name="alice", role="viewer", password=hash_password("mat-khau-1"))
    users = Users((alice,))
    book = SessionBook(clock, lifetime_s=3600)
    first, second = book.open(alice), book.open(alice)
    assert first != second and book.user(first, users) == alice
    book.close(first)
    assert book.user(first, users) is None and book.user(second, users) == alice
    clock.advance(3600)
    assert book.user(second, users) is None and len(book) == 0
    third = book.open(alice)
    renamed = Users((alice.model_copy(update={"password": hash_password("mat-khau-2")}),))
    assert book.user(third, renamed) is None
    assert book.user(third, users) is None, "the old password back does not revive the session"
    fourth = book.open(alice)
    assert book.user(fourth, Users(())) is None and book.user(fourth, users) is None   # removed, then back
    for junk in (None, 7, "", "x" * 100):
        assert book.user(junk, users) is None


def test_the_session_book_stays_bounded():
    from broker.web.auth import SessionBook
    from broker.web.users import User, Users
    from ihanoi.contract.clock import SimClock

    clock = SimClock(datetime(2024, 9, 3, 8, 0, tzinfo=CAMPAIGN_TZ))
    bob = User(name="bob", role="viewer", password=hash_password("mat-khau-1"))
    book = SessionBook(clock, lifetime_s=3600, limit=3)
    sids = [book.open(bob) for _ in range(5)]
    assert len(book) == 3 and book.user(sids[0], Users((bob,))) is None and book.user(sids[-1], Users((bob,))) == bob


def test_the_users_file_is_read_again_when_it_changes_and_a_broken_one_lets_nobody_in(tmp_path, caplog):
    import os

    path = tmp_path / "users.toml"

    def write(text: str) -> None:
        (tmp_path / "new").write_text(text, encoding="utf-8")
        os.replace(tmp_path / "new", path)

    write(f'[[user]]\nname = "a1"\nrole = "viewer"\npassword = "{hash_password("mat-khau-1")}"\n')
    users = load_users(path)
    assert users.get("a1").role == "viewer" and users.get("b2") is None
    write(f'[[user]]\nname = "b2"\nrole = "operator"\npassword = "{hash_password("mat-khau-2")}"\n')
    assert users.get("a1") is None and users.get("b2").can_operate
    assert users.authenticate("b2", "mat-khau-2").name == "b2"
    write('[[user]]\nname = "b2"\nrole = "admin"\n')
    assert users.get("b2") is None and users.authenticate("b2", "mat-khau-2") is None
    assert "nobody can sign in" in caplog.text and "user[0].role" in caplog.text
    write(f'[[user]]\nname = "b2"\nrole = "viewer"\npassword = "{hash_password("mat-khau-2")}"\n')
    assert users.get("b2").role == "viewer"
