"""The demo with an LCD/TV board beside an LED board: the TV agent plays through mpv (no picture
output), its plays reach the collector and the report like the LED board's, and its snapshot
(mpv's picture) is on the dashboard's fleet page that ``--serve`` serves."""

from __future__ import annotations

import io
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from PIL import Image

from tests.hdmi_support import needs_mpv, short_dir
from tests.mosquitto import free_port, wait_port
from tests.polling import eventually

ROOT = Path(__file__).resolve().parents[1]
TV, LED = "hbt-ttyt-quan-01", "hbt-bach-dang-01"


@pytest.fixture
def workdir():
    path = short_dir()                 # the TV board's mpv socket lives under it: keep the path short
    yield path / "demo"
    shutil.rmtree(path, ignore_errors=True)


@needs_mpv
@pytest.mark.slow
def test_the_demos_lcd_board_plays_is_reported_and_its_snapshot_is_on_the_fleet_page(workdir):
    port = free_port()
    demo = subprocess.Popen([sys.executable, "-m", "ihanoi.tools.demo", "--units", "ttyt-quan,phuong-bach-dang",
                             "--speed", "1800", "--no-emulator", "--progress", "2", "--workdir", str(workdir),
                             "--serve", "--dashboard-port", str(port)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=ROOT,
                            env=dict(os.environ, PYTHONPATH=str(ROOT)), start_new_session=True)
    out = []
    try:
        for line in demo.stdout:
            out.append(line)
            if "user demo, password" in line:
                break
        text = "".join(out)
        login = re.search(r"dashboard: (http://127\.0\.0\.1:\d+)/\S*\s+user demo, password (\S+)", text)
        assert login, text[-3000:]
        assert f"1 LCD/TV board(s) play through mpv without a picture output: {TV}" in text
        # the report's day rows: the clinic's TV made its quota like the ward's LED board, none on a TV that was off
        for unit in ("Trung tâm Y tế quận Hai Bà Trưng", "UBND phường Bạch Đằng"):
            row = re.search(rf"^\S+\s+{unit}\s+1\s+(\d+)\s+(\d+)\s+10\s", text, re.M)
            assert row and int(row.group(1)) >= 10 and row.group(2) == "0", (unit, text[-4000:])
        with sqlite3.connect(workdir / "collector.sqlite3") as db:
            stored = db.execute("SELECT COUNT(*), SUM(completed), MIN(screen_power), MAX(screen_power) FROM plays "
                                "WHERE device = ?", (TV,)).fetchone()
            led = db.execute("SELECT COUNT(*), COUNT(screen_power) FROM plays WHERE device = ?", (LED,)).fetchone()
        assert stored[1] >= 10 and stored[2:] == ("unmanaged", "unmanaged"), stored
        assert led[0] >= 10 and led[1] == 0, "an LED board's plays say nothing of a screen"

        base, password = login.group(1), login.group(2)
        wait_port("127.0.0.1", port, timeout=30)                  # the line comes just before the server
        with httpx.Client(base_url=base, follow_redirects=False, timeout=10) as client:
            page = client.get("/login").text
            csrf = re.search(r'name="csrf" value="([^"]+)"', page).group(1)
            r = client.post("/login", data={"username": "demo", "password": password, "csrf": csrf, "next": "/fleet"})
            assert r.status_code == 303, r.text

            def snapshot_shown() -> bool:
                fleet = client.get("/fleet").text
                cell = re.search(rf'<tr id="{TV}".*?</tr>', fleet, re.S)
                return bool(cell) and f'src="/snapshots/{TV}.png"' in cell.group(0)

            assert eventually(snapshot_shown, 30), "the TV's snapshot is on the fleet page"
            png = client.get(f"/snapshots/{TV}.png")
            assert png.status_code == 200 and png.headers["content-type"] == "image/png"
            assert Image.open(io.BytesIO(png.content)).size in ((1920, 1080), (480, 270))
            fleet = client.get("/fleet").text
            cell = re.search(rf'<tr id="{TV}".*?</tr>', fleet, re.S).group(0)
            assert "Màn hình LCD/TV" in cell, cell
    finally:
        if demo.poll() is None:
            demo.send_signal(signal.SIGTERM)          # the demo stops what it started
        try:
            demo.wait(60)
        except subprocess.TimeoutExpired:
            demo.kill()
            demo.wait(10)
