"""The piomatter output against Adafruit's real Piomatter package (it builds on a PC too): every
profile it can drive maps onto a real pinout and geometry, what it cannot honour is refused,
off a Pi 5 the output fails with the project's error, and the library's own exit() when
/dev/pio0 cannot be opened is caught by the trial run."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from edge.panel import PanelError, open_panel
from edge.panel.piomatter import brightness_table, matrix_spec
from edge.panel.piomatter_pins import unsupported_fields
from edge.panel.profile import available_profiles, load_profile
from tests.rgbmatrix_build import ROOT

pm = pytest.importorskip("adafruit_blinka_raspberry_pi5_piomatter",
                         reason="pip install adafruit-blinka-raspberry-pi5-piomatter (the test extra)")


def test_every_profile_it_can_drive_maps_onto_a_real_pinout_and_geometry():
    driven = []
    for name in available_profiles():
        profile = load_profile(name)
        if unsupported_fields(profile):
            continue
        spec = matrix_spec(profile)
        geometry = pm.Geometry(width=spec["width"], height=spec["height"], n_addr_lines=spec["n_addr_lines"],
                               n_planes=spec["n_planes"], rotation=pm.Orientation.Normal)
        assert (geometry.width, geometry.height) == (profile.width, profile.height)
        assert getattr(pm.Pinout, spec["pinout"]) is not None
        driven.append(name)
    assert set(driven) == {"p4-64x64", "p4-128x32", "p4-128x64", "p4-256x64-hat"}
    assert unsupported_fields(load_profile("p3-256x128")) == [
        "parallel = 2: this output drives one chain with Piomatter; use the rgbmatrix output (its Pi 5 backend "
        "drives parallel chains)"]


def test_the_brightness_table_dims_in_one_pass_and_zero_is_black():
    frame = np.arange(256, dtype=np.uint8).repeat(3).reshape(16, 16, 3)
    out = np.empty_like(frame)
    assert np.array_equal(np.take(brightness_table(100), frame, out=out), frame)
    np.take(brightness_table(50), frame, out=out)
    assert out.max() == 128 and out[0, 1, 0] == 0 and out[0, 2, 0] == 1
    assert np.take(brightness_table(0), frame, out=out).max() == 0


def test_off_a_pi_5_it_is_the_projects_error(tmp_path, monkeypatch):
    monkeypatch.delenv("IHANOI_PANEL", raising=False)
    with pytest.raises(PanelError, match="the piomatter output drives a HUB75 board .* not a Raspberry Pi"):
        open_panel("piomatter", load_profile("p4-128x64"), tmp_path)


def test_piomatter_exiting_when_dev_pio0_cannot_be_opened_is_caught_by_the_trial_run():
    spec = matrix_spec(load_profile("p4-128x64"))
    code = ("from edge.panel.probe import trial_run\n"
            f"trial_run('piomatter', {spec!r})\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert proc.returncode == 1, proc.stderr
    assert "PanelError: the piomatter library exited with status 1 while opening the board in a trial run" in proc.stderr
    assert "Failed to open PIO device 0" in proc.stderr
