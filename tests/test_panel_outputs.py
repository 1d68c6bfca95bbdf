"""Panel outputs behind one interface: chosen by name or IHANOI_PANEL; the emulator and the recorder
receive exactly the compiled frames; the real output says how to get its library."""

from __future__ import annotations

import io
import socket
import urllib.request
import numpy as np
import pytest
from PIL import Image

from edge.content import compile_pack
from edge.panel import OUTPUTS, PanelError, open_panel, open_panel_or_dark
from edge.panel.profile import load_profile
from edge.panel.ledmatrix_c import LIBRARY_ENV, to_structs
from edge.panel.rgbmatrix import matrix_options
from edge.player import Player


@pytest.fixture(scope="module")
def board():
    return load_profile("p4-128x32")


@pytest.fixture(scope="module")
def compiled(tmp_path_factory, board):
    """A small pack (under the emulator's 128 kept frames): a GIF, a still text and a QR code."""
    folder = tmp_path_factory.mktemp("pack")
    frames = [Image.new("RGB", (16, 8), c) for c in [(255, 0, 0), (0, 200, 0), (0, 0, 255)]]
    frames[0].save(folder / "dots.gif", save_all=True, append_images=frames[1:], duration=[50, 80, 120], loop=0)
    (folder / "pack.toml").write_text(
        'id = "small"\nversion = "1"\n'
        '[[items]]\nkind = "gif"\nfile = "dots.gif"\nloops = 2\n'
        '[[items]]\nkind = "text"\ntext = "Hà Nội"\nduration = 1\n'
        '[[items]]\nkind = "text"\ntext = "Công dân Thủ đô số"\nspeed = 60\nduration = 1\n'
        '[[items]]\nkind = "qr"\ndata = "https://ihanoi.hanoi.gov.vn"\nduration = 1\n', "utf-8")
    return compile_pack(folder, board, tmp_path_factory.mktemp("cache"))


def test_outputs_are_chosen_by_name_and_the_environment_overrides(board, monkeypatch, tmp_path):
    monkeypatch.delenv("IHANOI_PANEL", raising=False)
    assert open_panel("null", board, tmp_path).output == "null"
    assert open_panel("recorder", board, tmp_path).output == "recorder"
    monkeypatch.setenv("IHANOI_PANEL", "recorder")
    panel = open_panel("rgbmatrix", board, tmp_path)
    assert panel.output == "recorder" and (panel.width, panel.height) == (128, 32)
    monkeypatch.setenv("IHANOI_PANEL", "hologram")
    with pytest.raises(PanelError, match="unknown panel output 'hologram' \\(from IHANOI_PANEL\\).*rgbmatrix"):
        open_panel("null", board, tmp_path)
    assert set(OUTPUTS) == {"rgbmatrix", "piomatter", "emulator", "recorder", "null"}


def test_recorder_receives_exactly_the_compiled_frames(board, compiled, sim_clock, tmp_path):
    panel = open_panel("recorder", board, tmp_path, keep=None)
    result = Player(panel, sim_clock).play(compiled)
    assert result.frames_shown == len(compiled) == len(panel.frames)
    for shown, frame in zip(panel.frames, compiled.frames):
        assert np.array_equal(shown, frame)
    assert np.array_equal(panel.snapshot(), compiled.frames[-1])


def test_a_frame_of_the_wrong_size_is_refused(board, tmp_path):
    panel = open_panel("null", board, tmp_path)
    with pytest.raises(PanelError, match="frame is 64x32 but the null panel is 128x32"):
        panel.show(np.zeros((32, 64, 3), np.uint8))
    with pytest.raises(PanelError, match="0..100"):
        panel.set_brightness(150)


def test_emulator_receives_exactly_the_compiled_frames(board, compiled, sim_clock, tmp_path, monkeypatch):
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    panel = open_panel("emulator", board, tmp_path / "data", adapter="raw")
    panel.set_brightness(100)  # the emulator dims in software; at 100 % pixels pass unchanged
    start = panel.adapter.frame
    Player(panel, sim_clock).play(compiled)
    got = [panel.adapter.frames[k] for k in range(start, panel.adapter.frame)]
    assert len(got) == len(compiled)
    for shown, frame in zip(got, compiled.frames):
        assert np.array_equal(shown, frame)
    # its config lives in the agent's data directory, not wherever the agent was started
    assert (tmp_path / "data" / "emulator" / "emulator_config.json").exists()
    assert list(cwd.iterdir()) == []

    panel.set_brightness(50)  # brightness re-sends the frame, dimmed
    assert panel.adapter.frames[panel.adapter.frame - 1].max() == 127


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_emulator_browser_view_serves_the_board_on_the_configured_port(board, tmp_path):
    port = free_port()
    panel = open_panel("emulator", board, tmp_path, adapter="browser", port=port)
    assert panel.url == f"http://localhost:{port}/"
    frame = np.zeros((32, 128, 3), np.uint8)
    frame[:, :64] = (255, 255, 255)
    panel.set_brightness(100)
    panel.show(frame)
    page = urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=10)
    assert page.status == 200
    image = Image.open(io.BytesIO(urllib.request.urlopen(f"http://127.0.0.1:{port}/image", timeout=10).read()))
    pixels = np.asarray(image.convert("L"))
    w = pixels.shape[1]
    assert pixels[:, : w // 4].mean() > pixels[:, -w // 4:].mean() + 100  # lit left half, dark right half


def test_rgbmatrix_without_its_library_says_what_to_do(board, monkeypatch, tmp_path):
    monkeypatch.delenv("IHANOI_PANEL", raising=False)
    monkeypatch.setenv(LIBRARY_ENV, str(tmp_path / "librgbmatrix.so.1"))
    with pytest.raises(PanelError, match="rpi-rgb-led-matrix shared library .*cannot be loaded.*ansible role "
                                         "'rgbmatrix'.*IHANOI_RGBMATRIX_LIB.*emulator"):
        open_panel("rgbmatrix", board)
    (tmp_path / "librgbmatrix.so.1").write_bytes(b"not a library")
    with pytest.raises(PanelError, match="cannot be loaded"):
        open_panel("rgbmatrix", board)


def test_rgbmatrix_options_come_from_the_profile_into_the_librarys_c_structures(board):
    spec = matrix_options(board, model="pi4")
    options, runtime = to_structs(spec)
    assert (options.rows, options.cols, options.chain_length, options.parallel) == (32, 64, 2, 1)
    assert options.hardware_mapping == b"regular" and options.pwm_bits == 11 and options.led_rgb_sequence == b"RGB"
    assert options.panel_type is None                   # "" is the library's default: NULL
    assert runtime.gpio_slowdown == 4 and options.limit_refresh_rate_hz == 200
    assert to_structs(matrix_options(board, model="pi3"))[1].gpio_slowdown == 2
    # The agent stays the service user (it writes its data dir): the C API reads 0 as "the
    # default", which drops privileges, so "never" is -1.
    assert spec["drop_privileges"] == 0 and runtime.drop_privileges == -1
    assert runtime.daemon == 0 and runtime.do_gpio_init is False    # zero: the library's defaults (no fork, GPIO set up)
    with pytest.raises(PanelError, match="'brightnes' is not one of rpi-rgb-led-matrix's C options"):
        to_structs({"brightnes": 50})


def test_brightness_zero_is_a_dark_board(board, tmp_path):
    panel = open_panel("recorder", board, tmp_path, brightness=40)
    assert panel.brightness == 40
    frame = np.full((32, 128, 3), 200, np.uint8)
    panel.show(frame)
    panel.set_brightness(0)
    assert panel.snapshot().max() == 0 and panel.frames[-1].max() == 0
    panel.show(frame)
    assert panel.frames[-1].max() == 0
    panel.set_brightness(70)
    assert np.array_equal(panel.snapshot(), frame) and np.array_equal(panel.frames[-1], frame)
    assert panel.brightness_changes == [40, 0, 70]


class Exploding:
    """A library that fails mid-show the way a binding does: a Python exception from its call."""

    def __init__(self, after: int):
        self.after = after

    def __call__(self, frame):
        self.after -= 1
        if self.after < 0:
            raise RuntimeError("Canvas was destroyed or not initialized, you cannot use this object anymore")


def test_a_library_failing_mid_show_leaves_a_dark_board_with_its_reason_not_a_crash(board, compiled, sim_clock,
                                                                                      tmp_path):
    panel = open_panel("recorder", board, tmp_path, keep=None)
    panel._present = Exploding(after=5)
    result = Player(panel, sim_clock).play(compiled)        # the play runs to its end
    assert result.completed and result.frames_shown == len(compiled)
    assert panel.frames_shown == 5 and panel.frames_dark == len(compiled) - 5
    assert panel.dark and "recorder output failed while showing a frame" in panel.fault
    assert "Canvas was destroyed" in panel.fault
    assert panel.snapshot().max() == 0                      # what the board shows: nothing
    panel.set_brightness(50)                                # no further calls into the library
    assert panel.brightness == 50 and panel.dark


def test_a_board_that_cannot_be_opened_gives_a_dark_panel_that_says_why(board, tmp_path, monkeypatch):
    monkeypatch.delenv("IHANOI_PANEL", raising=False)
    with pytest.raises(PanelError) as err:
        open_panel("rgbmatrix", board, tmp_path)
    panel = open_panel_or_dark("rgbmatrix", board, tmp_path, brightness=40)
    assert panel.output == "dark" and panel.wanted == "rgbmatrix" and panel.fault == str(err.value)
    assert (panel.width, panel.height) == (128, 32) and panel.brightness == 40
    panel.show(np.full((32, 128, 3), 255, np.uint8))
    assert panel.frames_shown == 0 and panel.frames_dark == 1 and panel.snapshot().max() == 0
    assert open_panel_or_dark("null", board, tmp_path).fault is None


def test_the_docs_say_what_the_librarys_brightness_is():
    """rpi-rgb-led-matrix scales colours through a CIE1931 table; it is not a hardware dimmer."""
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    for path in (root / "docs" / "panel.md", root / "edge" / "panel" / "rgbmatrix.py"):
        text = path.read_text()
        assert "CIE1931" in text, path
        assert "hardware brightness" not in text and "(hardware PWM)" not in text, path
