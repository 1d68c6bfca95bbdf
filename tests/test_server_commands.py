"""The server's command line as a district administrator meets it: paths in a config are
relative to the config file, a command that only reads never invents a database, a database
that cannot be reached is one sentence, times are local, a verb that lacks a package says
which, and the sample district lies inside the campaign."""

from __future__ import annotations

import importlib
import os
import re
import subprocess
import sys
from datetime import date, datetime, timezone
from pathlib import Path

import pytest

import ihanoi.contract.verbs as verbs
from broker import cli
from broker.collector.batch import Incoming, prepare
from broker.collector.config import load_collector_config
from broker.store import open_store
from broker.web.config import load_dashboard_config
from ihanoi.contract import protocol
from ihanoi.contract.registry import load_registry
from ihanoi.tools import sample_district

ROOT = Path(__file__).resolve().parents[1]


def run_cli(argv: list[str], cwd: Path, capsys) -> tuple[int, str, str]:
    old = Path.cwd()
    os.chdir(cwd)
    try:
        code = cli.main(argv)
    finally:
        os.chdir(old)
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.fixture
def district(tmp_path):
    """A config folder with a filled SQLite store beside its collector config."""
    conf = tmp_path / "etc"
    conf.mkdir()
    store = open_store(f"sqlite:///{conf / 'store.sqlite'}")
    registry = load_registry()
    sample_district.simulate_district(store, registry, date(2024, 10, 7), date(2024, 10, 10),
                                      datetime(2024, 10, 10, 17, 30, tzinfo=registry.campaign.tz),
                                      ["phuong-bach-mai"])
    store.close()
    (conf / "collector.toml").write_text('[database]\nurl = "sqlite:///store.sqlite"\n'
                                         '[collector]\noffline_after_s = 3600\n')
    return conf


# --- paths relative to the config file --------------------------------------------------------
def test_a_relative_sqlite_path_in_a_config_is_relative_to_the_file(tmp_path):
    (tmp_path / "c.toml").write_text('[database]\nurl = "sqlite:///var/x.sqlite3"\n')
    (tmp_path / "d.toml").write_text('[database]\nurl = "sqlite:///var/x.sqlite3?timeout=5"\n')
    assert load_collector_config(tmp_path / "c.toml").database.url == f"sqlite:///{tmp_path}/var/x.sqlite3"
    assert load_dashboard_config(tmp_path / "d.toml").database.url == f"sqlite:///{tmp_path}/var/x.sqlite3?timeout=5"
    for url in ("sqlite:////abs/x.sqlite3", "sqlite:///:memory:", "postgresql://ihanoi@db/ihanoi"):
        (tmp_path / "e.toml").write_text(f'[database]\nurl = "{url}"\n')
        assert load_collector_config(tmp_path / "e.toml").database.url == url


def test_report_from_another_folder_reads_the_configs_database(district, tmp_path, capsys):
    code, out, err = run_cli(["report", "--config", str(district / "collector.toml"), "--from", "2024-10-08",
                              "--to", "2024-10-09", "--format", "csv"], tmp_path, capsys)
    assert code == 0, err
    rows = [line for line in out.splitlines() if "Bạch Mai" in line and "Trạm" not in line]
    assert rows and not list(tmp_path.glob("var/*"))


# --- read-only commands never create a database ---------------------------------------------
@pytest.mark.parametrize("verb", [["report"], ["devices"], ["quarantine"], ["serve"]])
def test_a_read_only_command_never_creates_a_database(tmp_path, verb, capsys):
    conf = tmp_path / "etc"
    conf.mkdir()
    (conf / "collector.toml").write_text('[database]\nurl = "sqlite:///var/collector.sqlite3"\n')
    code, out, err = run_cli([*verb, "--config", str(conf / "collector.toml")], tmp_path, capsys)
    assert code == 2
    assert f"no database at {conf / 'var' / 'collector.sqlite3'}" in err
    assert "ihanoi-broker db-upgrade" in err and "ihanoi-broker collect" in err
    assert not (conf / "var").exists() and not (tmp_path / "var").exists()


def test_a_database_without_tables_is_not_reported_as_non_compliance(tmp_path, capsys):
    (tmp_path / "empty.sqlite").write_bytes(b"")
    code, out, err = run_cli(["report", "--database", f"sqlite:///{tmp_path / 'empty.sqlite'}"], tmp_path, capsys)
    assert code == 2 and "has no iHanoi tables" in err and out == ""


def test_an_unreachable_database_is_one_sentence_not_a_traceback(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "broker.cli", "devices", "--database",
                           "postgresql://nobody@127.0.0.1:1/ihanoi"], capture_output=True, text=True, cwd=tmp_path)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
    assert proc.stderr.startswith("error: cannot use the database postgresql://nobody@127.0.0.1:1/ihanoi")


# --- what the output says -------------------------------------------------------------------
def test_report_notes_speak_of_the_moment_given_not_the_wall_clock(district, tmp_path, capsys):
    args = ["report", "--config", str(district / "collector.toml"), "--from", "2024-10-08", "--to", "2024-10-10"]
    _, at_end, _ = run_cli([*args, "--now", "2024-10-10T17:45:00+07:00"], tmp_path, capsys)
    _, later, _ = run_cli([*args, "--now", "2024-12-01T09:00:00+07:00"], tmp_path, capsys)
    offline = re.compile(r"hbt-bach-mai-01 \(phuong-bach-mai\): mất kết nối từ 10/10/2024")
    assert not offline.search(at_end)           # seen a quarter of an hour before: online
    assert offline.search(later)


def test_quarantine_shows_local_day_and_time(district, tmp_path, capsys):
    registry = load_registry()
    received = datetime(2024, 10, 9, 2, 5, 6, tzinfo=timezone.utc)          # 09:05:06 in Hanoi
    store = open_store(f"sqlite:///{district / 'store.sqlite'}")
    topics = protocol.Topics()
    p = prepare([Incoming(topics.up("hbt-bach-mai-01", "play"), b"{not json", 0, 1, 0)], topics, registry, received)
    store.write_batch(p.events, p.quarantined)
    store.close()
    code, out, err = run_cli(["quarantine", "--config", str(district / "collector.toml")], tmp_path, capsys)
    assert code == 0, err
    assert "09/10/2024 09:05:06" in out and "2024-10-09" not in out


def test_a_verb_missing_a_package_says_which_whatever_options_follow(monkeypatch, capsys):
    real = importlib.import_module

    def without_lunardate(name, *args, **kw):
        if name == "broker.commands.report":
            raise ModuleNotFoundError("No module named 'lunardate'", name="lunardate")
        return real(name, *args, **kw)

    monkeypatch.setattr(verbs.importlib, "import_module", without_lunardate)
    with pytest.raises(SystemExit) as stop:
        cli.main(["report", "--from", "2024-09-02", "--format", "csv"])
    assert stop.value.code == 2
    err = capsys.readouterr().err
    assert "'report' needs the package 'lunardate'" in err and "unrecognized" not in err
    with pytest.raises(SystemExit):
        cli.main(["devices", "--no-such-option"])
    assert "unrecognized arguments: --no-such-option" in capsys.readouterr().err


# --- the sample district --------------------------------------------------------------------
def test_the_sample_district_fills_days_the_dashboard_opens_on_inside_the_campaign():
    campaign = load_registry().campaign
    first, last = sample_district.sample_days(campaign, None, None)
    assert campaign.first_day <= first <= last == campaign.last_day
    assert (last - first).days >= 6                      # the dashboard opens on the last 7 days
    assert sample_district.sample_days(campaign, date(2024, 9, 9), None) == (date(2024, 9, 9), date(2024, 9, 20))
    assert sample_district.sample_days(campaign, None, date(2026, 11, 30)) == (None, None)
    assert sample_district.sample_days(campaign, date(2024, 8, 1), date(2024, 8, 30)) == (None, None)


def test_the_readmes_sample_error_is_what_the_program_prints(tmp_path):
    readme = (ROOT / "README.md").read_text()
    block = re.search(r"allowed, e\.g\.\n\n```\n(.*?)\n```", readme, re.S).group(1)
    device = (ROOT / "firmware_config/devices/hbt-bach-mai-01.toml").read_text()
    (tmp_path / "device.toml").write_text(re.sub(r"(?m)^pin = \d+", "pin = 17", device))
    proc = subprocess.run([sys.executable, "-m", "edge.cli", "check-config", "--skip-files", "device.toml"],
                          capture_output=True, text=True, cwd=tmp_path)
    assert proc.returncode != 0
    assert proc.stderr.strip().replace(str(tmp_path), "/etc/ihanoi") == block.strip()
