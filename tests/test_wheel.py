"""The wheel, installed as a district machine installs it: not editable, into fresh venvs, one per kind.

Every other test runs against the editable checkout, where data files sit beside the sources
whether or not the wheel carries them. Here the wheel is built from this checkout and installed
with only the extras a machine of each kind gets, and the verbs that machine uses are run for
real, with the registry, panel profiles, promo pack, migrations, templates and Mosquitto drop-in
found in the installed package:

- a lobby Pi (``[pi]``; on a PC without its GPIO library): check-config on every example config,
  preview, render-text, simulate, and a simulated hour of ``run`` reporting to Mosquitto;
- the central server (``[server]``): check-registry, db-upgrade, collect (storing what a board
  sent), report, devices, quarantine and the dashboard's ``serve``;
- Mosquitto started with the packaged drop-in.

Each venv also proves what it must NOT have: no server packages on a Pi, no display stack on the
server. Needs network access to PyPI (or a pip cache) for the dependencies.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import urllib.request
from datetime import datetime, timedelta
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from ihanoi.contract.clock import CAMPAIGN_TZ
from ihanoi.tools.net import free_port, wait_port
from tests.mosquitto import MOSQUITTO

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = sorted((ROOT / "firmware_config" / "devices").glob("*.toml"))


def sh(*args, cwd=None, env=None, timeout=600, check=True) -> subprocess.CompletedProcess:
    result = subprocess.run([str(a) for a in args], cwd=cwd, env=env, capture_output=True, text=True,
                            timeout=timeout, stdin=subprocess.DEVNULL)
    if check and result.returncode != 0:
        raise AssertionError(f"{' '.join(map(str, args))} -> {result.returncode}\n{result.stdout}\n{result.stderr}")
    return result


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    src = tmp_path_factory.mktemp("src") / "checkout"
    # A copy without build leftovers, so the wheel holds only what the sources declare.
    shutil.copytree(ROOT, src, ignore=shutil.ignore_patterns(".venv", ".git", "build", "*.egg-info", "var",
                                                             "__pycache__", ".hypothesis", ".pytest_cache"))
    sh(sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", out, src)
    [built] = out.glob("ihanoi_signage-*.whl")
    return built


class Venv:
    def __init__(self, folder: Path, wheel: Path, extra: str):
        self.folder = folder
        sh(sys.executable, "-m", "venv", folder)
        sh(self.bin("python"), "-m", "pip", "install", "-q", f"{wheel}[{extra}]", timeout=1200)
        # No IHANOI_* from the test session: the packaged registry and profiles must be found.
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("IHANOI_")}
        self.env.update(PYTHONPATH="", IHANOI_PANEL="null")

    def bin(self, name: str) -> Path:
        return self.folder / "bin" / name

    def run(self, *args, cwd=None, **kw) -> subprocess.CompletedProcess:
        # Never from the checkout: ``python -m``/``-c`` put the working directory on sys.path.
        return sh(self.bin(args[0]), *args[1:], cwd=cwd or self.folder.parent, env=self.env, **kw)

    def lacks(self, module: str) -> bool:
        return self.run("python", "-c", f"import {module}", check=False).returncode != 0


@pytest.fixture(scope="module")
def pi(wheel, tmp_path_factory) -> Venv:
    return Venv(tmp_path_factory.mktemp("pi") / "venv", wheel, "pi")


@pytest.fixture(scope="module")
def server(wheel, tmp_path_factory) -> Venv:
    return Venv(tmp_path_factory.mktemp("server") / "venv", wheel, "server")


@pytest.fixture
def packaged_broker(tmp_path, server):
    """Mosquitto with the drop-in from the installed package (not from the checkout)."""
    conf_d = Path(server.run("python", "-c", "from broker.mosquitto import CONF_D; print(CONF_D)").stdout.strip())
    assert server.folder in conf_d.parents and (conf_d / "ihanoi-queues.conf").is_file()
    port = free_port()
    store = tmp_path / "mosquitto"
    store.mkdir()
    shutil.chown(store, "mosquitto") if os.geteuid() == 0 and _has_user("mosquitto") else None
    conf = tmp_path / "mosquitto.conf"
    conf.write_text(f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence true\n"
                    f"persistence_location {store}/\ninclude_dir {conf_d}\n")
    proc = subprocess.Popen([MOSQUITTO, "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        wait_port("127.0.0.1", port)
        yield port
    finally:
        proc.terminate()
        proc.wait(10)


def _has_user(name: str) -> bool:
    import pwd

    try:
        pwd.getpwnam(name)
        return True
    except KeyError:
        return False


def device_config(folder: Path, port: int) -> Path:
    path = folder / "device.toml"
    path.write_text(f'device = "hbt-bach-dang-01"\nunit = "phuong-bach-dang"\ndata_dir = "data"\n'
                    f'[broker]\nhost = "127.0.0.1"\nport = {port}\n[panel]\nprofile = "p4-128x32"\noutput = "null"\n'
                    f'[pir]\npin = 5\n', encoding="utf-8")
    return path


def test_a_pi_install_has_no_server_packages_and_runs_the_boards_verbs(pi, tmp_path):
    for module in ("sqlalchemy", "starlette", "alembic", "psycopg", "openpyxl", "broker.store"):
        assert pi.lacks(module), f"a Pi must not need {module}"
    for example in EXAMPLES:
        out = pi.run("ihanoi-edge", "check-config", "--skip-files", example).stdout
        assert "OK — device" in out, out
    pi.run("ihanoi-edge", "preview", "ihanoi-promo", "--panel", "p4-128x64", "--out", tmp_path / "promo.gif")
    assert (tmp_path / "promo.gif").stat().st_size > 1000 and (tmp_path / "promo-leds.png").exists()
    pi.run("ihanoi-edge", "render-text", "Công dân Thủ đô số", "--panel", "p4-128x32", "--out", tmp_path / "line.png")
    assert (tmp_path / "line.png").exists()
    pi.run("python", "-m", "ihanoi.tools.tracegen", "--out", tmp_path / "trace.csv", "--first", "2024-09-02",
           "--weeks", "1", "--seed", "3")
    pi.run("ihanoi-edge", "simulate", "--trace", tmp_path / "trace.csv", "--config", EXAMPLES[0],
           "--out", tmp_path / "plays.json")
    plays = json.loads((tmp_path / "plays.json").read_text())
    assert plays and "plays" in json.dumps(plays)


def test_a_pi_install_plays_and_reports_to_a_broker_with_the_packaged_settings(pi, packaged_broker, tmp_path):
    seen: list[dict] = []
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="wheel-watcher")
    client.on_message = lambda c, u, m: seen.append(json.loads(m.payload))
    client.connect("127.0.0.1", packaged_broker)
    client.subscribe("ihanoi/v1/dev/+/play", qos=1)
    client.loop_start()
    try:
        config = device_config(tmp_path, packaged_broker)
        trace = tmp_path / "trace.csv"
        pi.run("python", "-m", "ihanoi.tools.tracegen", "--out", trace, "--first", "2024-09-04", "--weeks", "1")
        pi.run("ihanoi-edge", "run", "--config", config, "--speed", "600", "--start", "2024-09-04T07:55:00+07:00",
               "--until", "2024-09-04T09:30:00+07:00", "--pir-trace", trace, cwd=tmp_path, timeout=300)
        deadline = time.monotonic() + 15
        while not seen and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        client.loop_stop()
        client.disconnect()
    assert seen and seen[0]["device"] == "hbt-bach-dang-01" and seen[0]["content"]["id"] == "ihanoi-promo"


def test_a_server_install_has_no_display_stack_and_runs_the_servers_verbs(server, packaged_broker, tmp_path):
    for module in ("numpy", "PIL", "av", "gpiozero", "edge.content"):
        assert server.lacks(module), f"the server must not need {module}"
    out = server.run("ihanoi-broker", "check-registry").stdout
    assert "site-packages/ihanoi/contract/units.toml: OK" in out, out
    config = tmp_path / "collector.toml"
    config.write_text(f'[broker]\nhost = "127.0.0.1"\nport = {packaged_broker}\n'
                      f'[collector]\nclient_id = "wheel-collector"\n'
                      f'[database]\nurl = "sqlite:///{tmp_path / "collector.sqlite3"}"\n', encoding="utf-8")
    assert "-> " in server.run("ihanoi-broker", "db-upgrade", "--config", config).stdout
    collector = subprocess.Popen([str(server.bin("ihanoi-broker")), "collect", "--config", str(config)],
                                 env=server.env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            # Sent again until stored: the collector may not have subscribed yet; the same
            # (device, stream, seq) is counted once however often it arrives.
            _publish_a_play(packaged_broker)
            report = json.loads(server.run("ihanoi-broker", "report", "--config", config, "--from", "2024-09-04",
                                           "--to", "2024-09-04", "--format", "json").stdout)
            if report["district"]["plays"] >= 1:
                break
            time.sleep(0.5)
    finally:
        collector.terminate()
        out = collector.communicate(timeout=20)[0]
    assert report["district"]["plays"] == 1, out
    assert "hbt-bach-dang-01" in server.run("ihanoi-broker", "devices", "--config", config).stdout
    server.run("ihanoi-broker", "quarantine", "--config", config)
    _dashboard_answers(server, config, tmp_path)


def _publish_a_play(port: int) -> None:
    start = datetime(2024, 9, 4, 9, 0, tzinfo=CAMPAIGN_TZ)
    play = {"schema": "ihanoi.play/1", "device": "hbt-bach-dang-01", "stream": "0b0c7c2e-6f43-4f6e-9d2a-2f4a3c1d0e11",
            "seq": 1, "content": {"id": "ihanoi-promo", "version": "2024.08.1", "sha256": "0" * 64},
            "start": start.isoformat(), "end": (start + timedelta(seconds=45)).isoformat(), "completed": True,
            "audience": 3, "reason": "peak", "clock_synced": True}
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="edge-hbt-bach-dang-01", protocol=mqtt.MQTTv5)
    client.connect("127.0.0.1", port)
    client.loop_start()
    client.publish("ihanoi/v1/dev/hbt-bach-dang-01/play", json.dumps(play), qos=1).wait_for_publish(10)
    client.loop_stop()
    client.disconnect()


def _dashboard_answers(server: Venv, collector_config: Path, tmp_path: Path) -> None:
    port = free_port()
    (tmp_path / "dashboard-secret").write_text("x" * 48)
    hashed = server.run("python", "-c", "from broker.web.users import hash_password; print(hash_password('pw-123456'))")
    (tmp_path / "dashboard-users.toml").write_text(
        f'[[user]]\nname = "vanhoa"\nrole = "viewer"\npassword = "{hashed.stdout.strip()}"\n', encoding="utf-8")
    config = tmp_path / "dashboard.toml"
    database = collector_config.read_text().split("[database]")[1]
    config.write_text(f"[database]{database}\n[dashboard]\nhost = \"127.0.0.1\"\nport = {port}\ncommands = false\n",
                      encoding="utf-8")
    proc = subprocess.Popen([str(server.bin("ihanoi-broker")), "serve", "--config", str(config)], env=server.env,
                            cwd=tmp_path,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        wait_port("127.0.0.1", port, timeout=30)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/login", timeout=10) as page:
            assert page.status == 200 and "Đăng nhập" in page.read().decode()
    finally:
        proc.terminate()
        out = proc.communicate(timeout=20)[0]
    assert proc.returncode in (0, -15), out
