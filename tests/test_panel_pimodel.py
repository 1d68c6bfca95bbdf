"""Raspberry Pi models, defined once: read from the device tree's name or the revision code,
including the Pi 5 family and the compute modules rpi-rgb-led-matrix knows."""

from __future__ import annotations

import pytest

from edge.config import PanelSettings
from edge.panel import PI_MODELS, pi_model
from edge.panel.pimodel import model_from_revision, revision_from_cpuinfo
from edge.panel.profile import PanelProfile


@pytest.mark.parametrize("text, model", [
    ("Raspberry Pi 4 Model B Rev 1.4", "pi4"),
    ("Raspberry Pi 400 Rev 1.0", "pi4"),
    ("Raspberry Pi Compute Module 4 Rev 1.1", "pi4"),
    ("Raspberry Pi 3 Model B Plus Rev 1.3", "pi3"),
    ("Raspberry Pi Compute Module 3 Plus Rev 1.0", "pi3"),
    ("Raspberry Pi Zero 2 W Rev 1.0", "pi-zero-2"),
    ("Raspberry Pi Zero W Rev 1.1", "pi-zero"),
    ("Raspberry Pi 5 Model B Rev 1.0", "pi5"),          # once read as a Pi 1 ("Model B")
    ("Raspberry Pi Compute Module 5 Rev 1.0", "pi5"),
    ("Raspberry Pi 500 Rev 1.0", "pi5"),
    ("Raspberry Pi 2 Model B Rev 1.1", "pi2"),
    ("Raspberry Pi Model B Rev 2", "pi1"),
    ("Generic x86 box", None),
])
def test_the_model_is_read_from_the_device_tree(tmp_path, text, model):
    path = tmp_path / "model"
    path.write_bytes(text.encode() + b"\0")
    assert pi_model(path, tmp_path / "no-cpuinfo") == model


@pytest.mark.parametrize("code, model", [(0xc04170, "pi5"), (0xd04171, "pi5"), (0xd04190, "pi5"),  # Pi 5, 500
                                         (0xb04180, "pi5"),                                       # CM5
                                         (0xc03114, "pi4"), (0xa220a0, "pi3"), (0xa02100, "pi3"),  # CM3, CM3+
                                         (0x902120, "pi-zero-2"), (0x9000c1, "pi-zero"),
                                         (0x000e, "pi1"), (0xc0ff00, None)])
def test_the_model_is_read_from_the_revision_code_where_the_name_is_unfamiliar(tmp_path, code, model):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text(f"processor\t: 0\nHardware\t: BCM2835\nRevision\t: {code:06x}\nSerial\t\t: 1\n")
    assert revision_from_cpuinfo(cpuinfo.read_text()) == code
    assert model_from_revision(code) == model
    assert pi_model(tmp_path / "no-model", cpuinfo) == model
    assert pi_model(tmp_path / "no-model", tmp_path / "no-cpuinfo") is None


def test_profiles_and_the_device_config_take_their_models_from_the_one_list():
    assert "pi5" in PI_MODELS
    settings = PanelSettings(profile="p4-64x64", pi_model="pi5")
    assert settings.pi_model == "pi5"
    profile = PanelProfile(name="x", rows=32, cols=64, gpio_slowdown={"pi5": 1})
    assert profile.slowdown_for("pi5") == 1
    with pytest.raises(ValueError, match="pi7"):
        PanelProfile(name="x", rows=32, cols=64, gpio_slowdown={"pi7": 1})
