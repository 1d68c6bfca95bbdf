"""The TV's filler: 1920x1080, every Vietnamese letter and tone mark drawn (glyph by glyph, in each
packaged font the board may use), and a QR code a phone can read."""

from __future__ import annotations

import unicodedata
from datetime import datetime

import numpy as np
import pytest
from PIL import Image, ImageDraw

from edge.hdmi import filler
from edge.hdmi.filler import FONTS, QR_DATA, render_filler, write_filler
from ihanoi.contract.clock import CAMPAIGN_TZ
from ihanoi.contract.errors import FontError
from tests.test_content_fonts import TONES, VOWELS, alphabet

INSTALLED = [f for f in FONTS if f.regular.is_file() and f.bold.is_file()]
NOW = datetime(2024, 9, 4, 14, 5, tzinfo=CAMPAIGN_TZ)


@pytest.fixture(params=FONTS, ids=[f.package for f in FONTS])
def font(request):
    if not (request.param.regular.is_file() and request.param.bold.is_file()):
        pytest.skip(f"{request.param.package} is not installed (apt-get install -y {request.param.package})")
    return request.param


def glyph(ch: str, path, size: int = 72) -> np.ndarray:
    face = filler._face(path, size)
    image = Image.new("L", (size * 2, size * 2), 0)
    ImageDraw.Draw(image).text((size // 2, size // 4), ch, font=face, fill=255)
    return np.asarray(image) > 96


def test_both_packaged_fonts_are_known_and_one_is_installed():
    assert {f.package for f in FONTS} == {"fonts-noto-core", "fonts-dejavu-core"}
    assert INSTALLED, "install fonts-noto-core or fonts-dejavu-core"


@pytest.mark.parametrize("weight", ["regular", "bold"])
def test_every_vietnamese_letter_has_its_own_glyph(font, weight):
    path = getattr(font, weight)
    assert filler.missing(path, "".join(alphabet())) == []
    for ch in alphabet():
        mask = glyph(ch, path)
        assert mask.any(), ch
        base = unicodedata.normalize("NFD", ch)[0]
        if base != ch:
            assert (mask & ~glyph(base, path)).any(), f"{ch} looks like {base} in {font.name} {weight}"
    assert not np.array_equal(glyph("đ", path), glyph("d", path))
    assert not np.array_equal(glyph("Đ", path), glyph("D", path))


def test_tone_marks_stay_distinct(font):
    for vowel in VOWELS + VOWELS.upper():
        shapes = {glyph(unicodedata.normalize("NFC", vowel + t), font.bold).tobytes() for t in TONES}
        assert len(shapes) == len(TONES), vowel


def test_the_filler_is_full_hd_with_a_readable_qr_code(font):
    import zxingcpp

    image = render_filler("UBND phường Bạch Mai", NOW, font=font)
    assert image.size == (1920, 1080) and image.mode == "RGB"
    codes = zxingcpp.read_barcodes(image)
    assert [c.text for c in codes] == [QR_DATA]


def test_the_time_and_the_name_change_the_picture(font):
    base = np.asarray(render_filler("UBND phường Bạch Mai", NOW, font=font))
    later = np.asarray(render_filler("UBND phường Bạch Mai", NOW.replace(minute=6), font=font))
    other = np.asarray(render_filler("UBND phường Đồng Tâm", NOW, font=font))
    unset = np.asarray(render_filler("UBND phường Bạch Mai", None, font=font))
    assert (base != later).any() and (base != other).any() and (base != unset).any()


@pytest.mark.parametrize("name", ["Ban Quản lý dự án đầu tư xây dựng quận Hai Bà Trưng",
                                  "Ban Quản lý dự án đầu tư xây dựng quận Hai Bà Trưng và các đơn vị trực thuộc "
                                  "của Ủy ban nhân dân quận trên địa bàn thành phố Hà Nội"])
def test_a_long_name_stays_left_of_the_qr_code(font, name):
    image = np.asarray(render_filler(name, NOW, font=font))
    middle = (image[540, 1000:] == 255).all(axis=1)
    qr_left = 1000 + int(np.argmax(middle))              # where the QR code's white quiet zone starts
    assert 1100 < qr_left < 1400
    white = (image[100:400, qr_left - 60:qr_left] == 255).all(axis=2)
    assert not white.any()                               # no name text runs into the QR code's margin
    assert (image[100:400, 110:400] == 255).all(axis=2).any()   # and the name is there


def test_a_character_the_font_lacks_is_named():
    with pytest.raises(FontError, match=r"'漢' \(U\+6F22 CJK UNIFIED IDEOGRAPH-6F22\)"):
        render_filler("Giá 漢", NOW)


def test_no_font_installed_says_what_to_install(monkeypatch):
    monkeypatch.setattr(filler, "FONTS", ())
    with pytest.raises(FontError, match="apt-get install fonts-noto-core"):
        filler.filler_font()


def test_write_filler_writes_a_png_in_one_step(tmp_path):
    path = write_filler(tmp_path / "filler.png", "UBND phường Bạch Mai", NOW)
    assert Image.open(path).size == (1920, 1080)
    assert [p.name for p in tmp_path.iterdir()] == ["filler.png"]
