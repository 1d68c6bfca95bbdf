"""The agent's systemd unit allows exactly what each GPIO access mode needs: the device node the
LED library opens in that mode (the same node the agent's start-up check tries) and the
capabilities that mode needs, nothing more; and every variant passes systemd-analyze verify."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from edge.panel.hostcheck import MODE_CAPABILITIES, MODE_NODES

ROOT = Path(__file__).resolve().parents[1]
TEMPLATE = ROOT / "firmware_config" / "systemd" / "ihanoi-edge.service.j2"
MODES = ("mem", "gpiomem", "pio", "rio")


def render(mode: str, venv: Path) -> str:
    jinja2 = pytest.importorskip("jinja2")
    env = jinja2.Environment(undefined=jinja2.StrictUndefined, keep_trailing_newline=True)
    return env.from_string(TEMPLATE.read_text()).render(
        ihanoi_agent_venv=str(venv), ihanoi_agent_etc="/etc/ihanoi", ihanoi_agent_user="ihanoi",
        ihanoi_agent_gpio_access=mode, ihanoi_agent_watchdog_sec=30)


def settings(unit: str, key: str) -> list[str]:
    return [m.group(1).strip() for m in re.finditer(rf"^{key}=(.*)$", unit, re.M)]


@pytest.fixture
def venv(tmp_path):
    """The unit's ExecStart must exist for systemd-analyze: a venv folder with the real command."""
    folder = tmp_path / "venv"
    (folder / "bin").mkdir(parents=True)
    (folder / "bin" / "ihanoi-edge").symlink_to(Path(sys.executable).parent / "ihanoi-edge")
    return folder


@pytest.mark.parametrize("mode", MODES)
def test_each_mode_allows_its_device_and_capabilities_and_nothing_else(mode, venv):
    unit = render(mode, venv)
    assert settings(unit, "DevicePolicy") == ["closed"]
    assert sorted(settings(unit, "DeviceAllow")) == sorted([f"{MODE_NODES[mode]} rw", "char-gpiochip rw"])
    wanted = {"CAP_SYS_NICE", *MODE_CAPABILITIES[mode]}
    for key in ("AmbientCapabilities", "CapabilityBoundingSet"):
        (line,) = settings(unit, key)
        assert set(line.split()) == wanted, (mode, key)
    # the kernel stays read-only to the agent: provisioning sets what the library would write
    assert settings(unit, "ProtectKernelTunables") == ["yes"]
    assert settings(unit, "SupplementaryGroups") == ["gpio"]


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="apt-get install -y systemd")
@pytest.mark.parametrize("mode", MODES)
def test_each_mode_passes_systemd_analyze_verify(mode, venv, tmp_path):
    path = tmp_path / "ihanoi-edge.service"
    path.write_text(render(mode, venv))
    proc = subprocess.run(["systemd-analyze", "verify", str(path)], capture_output=True, text=True)
    problems = [line for line in proc.stderr.splitlines() if "ihanoi-edge.service" in line]
    assert proc.returncode == 0 and not problems, proc.stderr
