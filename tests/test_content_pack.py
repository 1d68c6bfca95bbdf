"""Content packs: the sample pack compiles for every board, the cache is reused until something
changes, scrolling text is one strip seen through views, and bad packs fail naming the item."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from edge.content import PackError, builtin_pack, compile_pack, render_text_frame
from edge.panel.profile import available_profiles, load_profile


def write_pack(folder: Path, items: str, **files) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "pack.toml").write_text(f'id = "test-pack"\nversion = "1"\n{items}', "utf-8")
    for name, data in files.items():
        (folder / name.replace("__", ".")).write_bytes(data)
    return folder


@pytest.fixture(scope="module")
def board():
    return load_profile("p4-128x32")


@pytest.mark.parametrize("name", available_profiles())
def test_sample_pack_compiles_for_every_profile(name, tmp_path):
    profile = load_profile(name)
    compiled = compile_pack(builtin_pack("ihanoi-promo"), profile, tmp_path)
    assert compiled.id == "ihanoi-promo"
    assert len(compiled.sha256) == 64
    assert compiled.content == {"id": "ihanoi-promo", "version": compiled.version, "sha256": compiled.sha256}
    assert all(f.shape == (profile.height, profile.width, 3) for f in compiled.frames)
    assert [s.label.split(" ")[1] for s in compiled.items] == ["(image", "(text", "(gif", "(layout"]
    assert 20 < compiled.total_duration < 120


def test_cache_is_reused_until_the_pack_or_the_board_changes(tmp_path, board):
    pack = write_pack(tmp_path / "pack", '[[items]]\nkind = "text"\ntext = "Xin chào"\n')
    first = compile_pack(pack, board, tmp_path / "cache")
    marker = first.path / "meta.json"
    stamp = marker.stat().st_mtime_ns
    again = compile_pack(pack, board, tmp_path / "cache")
    assert again.path == first.path and marker.stat().st_mtime_ns == stamp

    other_board = compile_pack(pack, load_profile("p4-128x64"), tmp_path / "cache")
    assert other_board.path != first.path and other_board.height == 64

    (pack / "pack.toml").write_text('id = "test-pack"\nversion = "2"\n[[items]]\nkind = "text"\ntext = "Tạm biệt"\n',
                                    "utf-8")
    changed = compile_pack(pack, board, tmp_path / "cache")
    assert changed.path != first.path and changed.sha256 != first.sha256
    assert not first.path.exists()  # the stale cache of this pack and board is gone


def test_scrolling_text_is_one_strip_played_through_views(tmp_path, board):
    pack = write_pack(tmp_path / "pack", '[[items]]\nkind = "text"\ntext = "Tải ứng dụng iHanoi ngay hôm nay"\n'
                                         'speed = 30\ncolor = "#ffd200"\n')
    compiled = compile_pack(pack, board, tmp_path / "cache")
    strip = compiled.sources[0]
    assert isinstance(strip, np.memmap) and strip.ndim == 3
    assert all(np.shares_memory(f, strip) for f in compiled.frames)
    assert strip.nbytes < 3 * board.height * (2 * board.width + 400)  # one strip, not a frame per step
    assert compiled.durations == pytest.approx(np.full(len(compiled), 1 / 30))
    # each frame is the previous one moved one pixel left
    assert np.array_equal(compiled.frames[51][:, :-1], compiled.frames[50][:, 1:])
    assert compiled.frames[0].max() == 0 and compiled.frames[len(compiled) // 2].max() > 0
    colours = {tuple(c) for c in compiled.frames[len(compiled) // 2].reshape(-1, 3)}
    assert colours == {(0, 0, 0), (255, 210, 0)}  # crisp: no blended edge pixels


def test_images_are_scaled_crisply_and_the_colour_table_applies_once(tmp_path, board):
    art = np.zeros((16, 64, 3), np.uint8)
    art[4:12, 8:56] = (200, 100, 50)
    from io import BytesIO

    buf = BytesIO()
    Image.fromarray(art).save(buf, "PNG")
    pack = write_pack(tmp_path / "pack", 'level = 50\n[[items]]\nkind = "image"\nfile = "art.png"\n',
                      art__png=buf.getvalue())
    frame = compile_pack(pack, board, tmp_path / "cache").frames[0]
    expected = np.repeat(np.repeat(art, 2, axis=0), 2, axis=1) // 2  # x2 nearest, 50 % level
    assert np.abs(frame.astype(int) - expected).max() <= 1


BAD_PACKS = {
    "missing file": ('[[items]]\nname = "logo"\nkind = "image"\nfile = "logo.png"\n', {},
                     ["items[0] (image 'logo')", "logo.png", "not found"]),
    "unknown kind": ('[[items]]\nkind = "text"\ntext = "a"\n[[items]]\nname = "x"\nkind = "slideshow"\n', {},
                     ["items[1]", "unknown kind 'slideshow'", "image, gif, video, text, qr, layout"]),
    "broken image": ('[[items]]\nname = "card"\nkind = "image"\nfile = "card.png"\n',
                     {"card__png": b"\x89PNG\r\n\x1a\n not really"},
                     ["items[0] (image 'card')", "card.png", "not a readable image"]),
    "broken gif": ('[[items]]\nkind = "gif"\nfile = "a.gif"\n', {"a__gif": b"GIF89a\x01"},
                   ["items[0] (gif)", "a.gif"]),
    "unsupported character": ('[[items]]\nname = "hello"\nkind = "text"\ntext = "Xin chào 漢字"\n', {},
                              ["items[0] (text 'hello')", "'漢' (U+6F22", "'字' (U+5B57"]),
    "qr too big": (('[[items]]\nkind = "layout"\nname = "dl"\n[[items.zones]]\nsize = 20\n'
                    'item = { kind = "qr", data = "https://ihanoi.hanoi.gov.vn/a/very/long/link/that/needs/many/modules" }\n'
                    '[[items.zones]]\nitem = { kind = "text", text = "iHanoi" }\n'), {},
                   ["items[0] (layout 'dl').zones[0] (qr)", "too big", "zone is 20x32"]),
    "bad colour": ('[[items]]\nkind = "text"\ntext = "a"\ncolor = "octarine"\n', {},
                   ["items[0] (text).color", "octarine"]),
    "zones do not add up": (('[[items]]\nkind = "layout"\n[[items.zones]]\nsize = 100\nitem = { kind = "text", text = "a" }\n'
                             '[[items.zones]]\nsize = 100\nitem = { kind = "text", text = "b" }\n'), {},
                            ["items[0] (layout)", "200 of 128"]),
}


@pytest.mark.parametrize("case", BAD_PACKS)
def test_bad_packs_fail_naming_the_item(case, tmp_path, board):
    items, files, needles = BAD_PACKS[case]
    pack = write_pack(tmp_path / "pack", items, **files)
    with pytest.raises(PackError) as err:
        compile_pack(pack, board, tmp_path / "cache")
    message = str(err.value)
    assert str(pack / "pack.toml") in message
    for needle in needles:
        assert needle in message
    assert not any((tmp_path / "cache").glob("test-pack*"))  # nothing half-written is left as a cache


def test_missing_manifest_names_the_file(tmp_path, board):
    with pytest.raises(PackError, match="pack.toml: file not found"):
        compile_pack(tmp_path, board, tmp_path / "cache")


def test_render_text_frame_for_the_filler(board):
    frame = render_text_frame("Bạch Mai", board, color=(0, 255, 0))
    assert frame.shape == (32, 128, 3)
    lit = np.argwhere(frame[..., 1] == 255)
    assert lit.size and lit[:, 1].min() > 0 and lit[:, 1].max() < 127  # centred, inside the board
    with pytest.raises(PackError, match="U\\+6F22"):
        render_text_frame("漢", board)


def test_text_can_be_enlarged_by_whole_pixels(tmp_path):
    board = load_profile("p4-128x64")
    one = write_pack(tmp_path / "one", '[[items]]\nkind = "text"\ntext = "Hà"\n')
    two = write_pack(tmp_path / "two", '[[items]]\nkind = "text"\ntext = "Hà"\nscale = 2\n')
    small = compile_pack(one, board, tmp_path / "cache").frames[0].max(axis=2) > 0
    big = compile_pack(two, board, tmp_path / "cache").frames[0].max(axis=2) > 0
    assert big.sum() == 4 * small.sum()
    rows = np.nonzero(big.any(axis=1))[0]
    blocks = big[rows.min():rows.min() + 40:2, :]
    assert np.array_equal(big[rows.min():rows.min() + 40].reshape(20, 2, 128)[:, 0], blocks)
    too_big = write_pack(tmp_path / "big", '[[items]]\nname = "huge"\nkind = "text"\ntext = "Hà"\nfont = "fixed-10x20"\nscale = 4\n')
    with pytest.raises(PackError, match=r"items\[0\] \(text 'huge'\).*80 px high but the zone is 64 px"):
        compile_pack(too_big, board, tmp_path / "cache")
