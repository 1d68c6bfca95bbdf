"""Vietnamese that citizens can read: every letter, both cases, every tone mark, in crisp pixel fonts."""

from __future__ import annotations

import unicodedata

import numpy as np
import pytest

from edge.content import fonts

BASE = "aăâbcdđeêghiklmnoôơpqrstuưvxy"
TONES = "\u0300\u0301\u0309\u0303\u0323"  # huyền, sắc, hỏi, ngã, nặng
VOWELS = "aăâeêioôơuưy"


def alphabet() -> list[str]:
    letters = set(BASE) | set(BASE.upper())
    for vowel in VOWELS + VOWELS.upper():
        for tone in TONES:
            letters.add(unicodedata.normalize("NFC", vowel + tone))
    letters |= {chr(c) for c in range(0x1EA0, 0x1EFA)}
    return sorted(letters)


def test_the_alphabet_is_complete():
    letters = alphabet()
    assert len(letters) == 2 * (len(BASE) + len(VOWELS) * len(TONES))  # 29 letters + 60 toned vowels, x2
    assert all(len(ch) == 1 for ch in letters)  # every one a precomposed code point


@pytest.mark.parametrize("zone", [32, 16])
def test_every_letter_renders_with_its_diacritics(zone):
    font = fonts.choose("auto", zone)
    assert font.height <= zone
    assert fonts.missing(font, "".join(alphabet())) == []
    for ch in alphabet():
        mask = fonts.render_mask(ch, font)
        assert mask.shape[0] == font.height and mask.any(), ch
        base = unicodedata.normalize("NFD", ch)[0]
        if base != ch:
            # the marks are drawn: the glyph has lit pixels its bare letter does not
            plain = fonts.render_mask(base, font)
            assert (mask & ~plain).any(), f"{ch} looks like {base} in {font.name}"
        if ch == "đ" or ch == "Đ":
            assert not np.array_equal(mask, fonts.render_mask("d" if ch == "đ" else "D", font))


def test_tone_marks_stay_distinct():
    font = fonts.choose("auto", 32)
    for vowel in VOWELS + VOWELS.upper():
        shapes = {fonts.render_mask(unicodedata.normalize("NFC", vowel + t), font).tobytes() for t in TONES}
        assert len(shapes) == len(TONES), vowel


def test_glyphs_are_crisp_bitmaps():
    mask_font = fonts.load(fonts.FONTS["fixed-10x20"])
    from PIL import Image, ImageDraw

    img = Image.new("L", (200, 20))
    draw = ImageDraw.Draw(img)
    draw.fontmode = "1"
    draw.text((0, 0), "Thủ đô Hà Nội", font=mask_font, fill=255)
    assert set(np.unique(np.asarray(img))) <= {0, 255}


def test_every_listed_font_covers_vietnamese():
    text = "".join(alphabet())
    for font in fonts.FONTS.values():
        assert fonts.missing(font, text) == [], font.name


def test_a_missing_character_is_named():
    font = fonts.choose("auto", 32)
    with pytest.raises(fonts.FontError, match=r"'€' \(U\+20AC EURO SIGN\)|'漢' \(U\+6F22"):
        fonts.render_mask("Giá 10€ 漢", font)


def test_a_missing_font_package_says_what_to_install(monkeypatch, tmp_path):
    monkeypatch.setattr(fonts, "FONT_DIRS", (tmp_path,))
    monkeypatch.delenv("IHANOI_FONT_DIRS", raising=False)
    with pytest.raises(fonts.FontError, match="apt-get install xfonts-base"):
        fonts.font_path(fonts.FONTS["fixed-10x20"])


def test_auto_picks_the_largest_font_that_fits():
    assert fonts.choose("auto", 32).name == "fixed-10x20"
    assert fonts.choose("auto", 16).name == "fixed-9x15"
    assert fonts.choose("auto", 13).name == "fixed-7x13"
    with pytest.raises(fonts.FontError, match="no pixel font fits"):
        fonts.choose("auto", 8)
