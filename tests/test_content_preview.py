"""The preview and render-text commands: a GIF that keeps the pack's timing, a contact sheet of LEDs,
and one line of text at the board's native pixels."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from edge.cli import main


def test_preview_writes_a_gif_and_a_contact_sheet(tmp_path, capsys):
    out = tmp_path / "promo.gif"
    code = main(["preview", "ihanoi-promo", "--panel", "p4-128x32", "--out", str(out),
                 "--cache", str(tmp_path / "cache"), "--scale", "2"])
    assert code == 0
    printed = capsys.readouterr()
    assert "ihanoi-promo" in printed.out and "compiling items[1] (text 'slogan')" in printed.err
    gif = Image.open(out)
    assert gif.size == (256, 64)
    total_ms = 0
    for i in range(gif.n_frames):
        gif.seek(i)
        total_ms += gif.info["duration"]
    seconds = float(printed.out.split(" frames, ")[1].split(" s")[0])
    assert total_ms / 1000 == pytest.approx(seconds, abs=0.1)  # the pack's timing, in GIF's 10 ms steps
    sheet = Image.open(tmp_path / "promo-leds.png")
    assert sheet.width > 3 * 128 * 6  # three tiles across, 6 screen pixels per LED


def test_render_text_writes_native_pixels(tmp_path, capsys):
    out = tmp_path / "line.png"
    assert main(["render-text", "Thủ đô số", "--panel", "p4-128x32", "--out", str(out), "--color", "#ffd200"]) == 0
    img = np.asarray(Image.open(out).convert("RGB"))
    assert img.shape == (32, 128, 3)
    assert {tuple(c) for c in img.reshape(-1, 3)} == {(0, 0, 0), (255, 210, 0)}
    assert "fits the board" in capsys.readouterr().out


def test_render_text_names_a_missing_character(tmp_path, capsys):
    assert main(["render-text", "Hà Nội 漢", "--panel", "p4-128x32", "--out", str(tmp_path / "x.png")]) == 2
    assert "U+6F22" in capsys.readouterr().err
