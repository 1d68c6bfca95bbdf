"""The device config's screen: ``[panel]`` for an LED board, ``[hdmi]`` for an LCD/TV board, as the
registry's ``screen`` says; a bad ``[hdmi]`` value is named with its file, key, value and what is allowed."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edge.cli import main
from edge.config import check_config, load_config
from ihanoi.contract.errors import ConfigError

TV_HEAD = """
device = "hbt-ttyt-quan-01"
unit = "ttyt-quan"
data_dir = "data"
"""
LED_HEAD = """
device = "hbt-bach-mai-01"
unit = "phuong-bach-mai"
data_dir = "data"
"""
HDMI = """
[hdmi]
board = "pi5"
output = "drm"
connector = "HDMI-A-1"
volume = 70
[hdmi.cec]
enabled = true
device = "/dev/cec1"
"""
PANEL = """
[panel]
profile = "p4-128x64"
output = "recorder"
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "device.toml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def problems(path: Path) -> dict[str, str]:
    with pytest.raises(ConfigError) as info:
        check_config(path)
    assert info.value.path == str(path)
    return dict(info.value.problems)


def test_a_tv_boards_config_has_an_hdmi_section_and_no_panel(tmp_path, capsys):
    path = write(tmp_path, TV_HEAD + HDMI)
    config, registry, profile = check_config(path)
    assert profile is None and config.panel is None and config.screen == "lcd"
    assert (config.hdmi.board, config.hdmi.volume, config.hdmi.cec.device) == ("pi5", 70, "/dev/cec1")
    assert main(["check-config", str(path)]) == 0
    out = capsys.readouterr().out
    assert "OK — device hbt-ttyt-quan-01" in out and "TV over HDMI (mpv drm, pi5, 1920x1080, volume 70, " \
                                                       "HDMI-CEC on /dev/cec1)" in out


def test_a_tv_without_hdmi_cec_is_said_so(tmp_path, capsys):
    path = write(tmp_path, TV_HEAD + "[hdmi]\n[hdmi.cec]\nenabled = false\n")
    assert main(["check-config", str(path)]) == 0
    assert "no HDMI-CEC (power not managed)" in capsys.readouterr().out


def test_a_tv_board_with_a_panel_instead_is_refused_by_the_registrys_screen(tmp_path):
    found = problems(write(tmp_path, TV_HEAD + PANEL))
    assert set(found) == {"hdmi"}
    assert found["hdmi"].startswith("is required but missing: the registry lists 'hbt-ttyt-quan-01' with "
                                    "screen = 'lcd'") and "drop [panel]" in found["hdmi"]


def test_an_led_board_with_hdmi_is_refused_by_the_registrys_screen(tmp_path):
    found = problems(write(tmp_path, LED_HEAD + HDMI))
    assert found == {"hdmi": "makes no sense here: the registry lists 'hbt-bach-mai-01' with screen = 'led' (a HUB75 "
                             "LED board); drop [hdmi], or set screen = \"lcd\" for this device in the registry if it "
                             "drives a TV"}


@pytest.mark.parametrize("head", [TV_HEAD, LED_HEAD])
def test_both_screens_or_none_are_refused_whatever_the_registry_says(tmp_path, head):
    with pytest.raises(ConfigError) as both:
        load_config(write(tmp_path, head + PANEL + HDMI))
    assert [k for k, _ in both.value.problems] == ["hdmi"] and "a board drives one screen" in str(both.value)
    with pytest.raises(ConfigError) as neither:
        load_config(write(tmp_path, head))
    assert [k for k, _ in neither.value.problems] == ["panel"]
    assert "an LCD/TV board an [hdmi] section" in str(neither.value)


@pytest.mark.parametrize("line, key, says", [
    ("volume = 150", "hdmi.volume", "= 150 is not allowed: Input should be less than or equal to 100"),
    ('board = "pi3"', "hdmi.board", "= 'pi3' is not allowed: Input should be 'pi4' or 'pi5'"),
    ('output = "x11"', "hdmi.output", "= 'x11' is not allowed: Input should be 'drm', 'window' or 'null'"),
    ('mode = "1080p"', "hdmi.mode", "= '1080p' is not allowed"),
    ('connector = "HDMI A 1"', "hdmi.connector", "= 'HDMI A 1' is not allowed"),
    ("colour = 3", "hdmi.colour", "is not a known setting"),
    ("hang_seconds = 0", "hdmi.hang_seconds", "= 0 is not allowed"),
])
def test_a_bad_hdmi_value_names_the_key_the_value_and_what_is_allowed(tmp_path, line, key, says):
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, TV_HEAD + "[hdmi]\n" + line + "\n"))
    found = dict(info.value.problems)
    assert set(found) == {key} and found[key].startswith(says), found
    assert str(info.value).startswith(f"{tmp_path / 'device.toml'}: {key}")


@pytest.mark.parametrize("line, key", [("warmup_minutes = -1", "hdmi.cec.warmup_minutes"),
                                       ('osd_name = "a name longer than fourteen"', "hdmi.cec.osd_name"),
                                       ('device = ""', "hdmi.cec.device")])
def test_a_bad_cec_value_is_named_too(tmp_path, line, key):
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, TV_HEAD + "[hdmi]\n[hdmi.cec]\n" + line + "\n"))
    assert [k for k, _ in info.value.problems] == [key]


VALUES = st.one_of(st.integers(-10**6, 10**6), st.floats(allow_nan=False, allow_infinity=False), st.booleans(),
                   st.text(st.characters(blacklist_categories=("Cc", "Cs")), max_size=20))


def _toml(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)      # a TOML basic string
    return repr(value)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.sampled_from(["board", "output", "connector", "mode", "volume", "audio_device", "sound", "hang_seconds",
                        "cec.enabled", "cec.device", "cec.warmup_minutes", "cec.timeout_s"]), VALUES)
def test_any_hdmi_value_is_taken_or_refused_by_name(tmp_path, key, value):
    section, _, name = ("hdmi." + key).rpartition(".")
    path = write(tmp_path, TV_HEAD + f"[{section}]\n{name} = {_toml(value)}\n")
    try:
        config = load_config(path)
    except ConfigError as exc:
        assert [k for k, _ in exc.problems] == [f"hdmi.{key}"], exc.problems
        return
    assert config.hdmi is not None
