"""QR codes that scan: module-exact on the board, read back with a real decoder (zxing-cpp)."""

from __future__ import annotations

import numpy as np
import pytest
import zxingcpp
from PIL import Image

from edge.content import builtin_pack, compile_pack
from edge.panel.profile import load_profile

URL = "https://ihanoi.hanoi.gov.vn"


def decode(frame: np.ndarray, camera_scale: int = 6) -> list[str]:
    """What a phone would read: the board seen larger, each LED a square of light."""
    big = np.repeat(np.repeat(np.asarray(frame), camera_scale, axis=0), camera_scale, axis=1)
    return [r.text for r in zxingcpp.read_barcodes(Image.fromarray(big))]


def qr_pack(tmp_path, extra=""):
    folder = tmp_path / "pack"
    folder.mkdir()
    (folder / "pack.toml").write_text(
        f'id = "qr"\nversion = "1"\n[[items]]\nkind = "qr"\ndata = "{URL}"\n{extra}', "utf-8")
    return folder


def test_qr_on_a_64x64_board_decodes_to_the_link(tmp_path):
    compiled = compile_pack(qr_pack(tmp_path), load_profile("p4-64x64"), tmp_path / "cache")
    assert decode(compiled.frames[0]) == [URL]


def test_modules_are_whole_pixels_with_a_lit_quiet_zone(tmp_path):
    frame = compile_pack(qr_pack(tmp_path), load_profile("p4-64x64"), tmp_path / "cache").frames[0]
    lit = frame.min(axis=2) > 0
    rows, cols = np.nonzero(lit)
    top, left, size = rows.min(), cols.min(), rows.max() - rows.min() + 1
    assert size == cols.max() - cols.min() + 1
    # 25 modules (version 2) + a 2-module border each side, at 2 pixels per module on 64 px
    scale = size // 29
    assert scale == 2 and size == 29 * scale
    code = lit[top:top + size, left:left + size]
    blocks = code.reshape(29, scale, 29, scale)
    assert (blocks.min(axis=(1, 3)) == blocks.max(axis=(1, 3))).all()  # every module uniform
    modules = blocks[:, 0, :, 0]
    assert modules[:2].all() and modules[-2:].all() and modules[:, :2].all() and modules[:, -2:].all()
    assert set(np.unique(frame)) <= {0, 255}  # no resampling anywhere


def test_fixed_error_level_and_scale_are_respected(tmp_path):
    frame = compile_pack(qr_pack(tmp_path, 'error = "H"\nscale = 1\nborder = 4\n'), load_profile("p4-64x64"),
                         tmp_path / "cache").frames[0]
    lit = frame.min(axis=2) > 0
    rows = np.nonzero(lit.any(axis=1))[0]
    assert rows.max() - rows.min() + 1 == 33 + 8  # version 4-H at one pixel per module
    assert decode(frame) == [URL]


@pytest.mark.parametrize("board", ["p4-128x32", "p4-128x64"])
def test_sample_pack_layout_qr_scans(board, tmp_path):
    compiled = compile_pack(builtin_pack("ihanoi-promo"), load_profile(board), tmp_path / "cache")
    layout = next(s for s in compiled.items if "layout" in s.label)
    frame = compiled.frames[layout.first + layout.count // 2]
    height = compiled.height
    assert decode(frame[:, :height]) == [URL]  # the QR zone on the left, a square
