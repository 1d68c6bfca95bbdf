"""The registry says which boards are LED and which are LCD/TV screens (default LED, so nothing else changes)."""

from __future__ import annotations

import pytest

from ihanoi.contract.errors import RegistryError
from ihanoi.contract.registry import DEFAULT_PATH, load_registry
from tests.conftest import TEST_REGISTRY


def test_the_district_marks_its_tv_boards_and_the_rest_stay_led():
    district = load_registry(DEFAULT_PATH)
    lcd = {d.id for _, d in district.screens("lcd")}
    assert lcd == {"hbt-ttyt-quan-01", "hbt-tyt-vinh-tuy-01", "hbt-thcs-ngo-gia-tu-01"}
    assert district.device("hbt-bach-mai-01").screen == "led"
    assert len(district.screens("led")) + len(lcd) == len(district.devices())
    assert district.device("nobody") is None


def test_the_tests_registry_has_a_tv_board(registry):
    assert [d.id for _, d in registry.screens("lcd")] == ["hbt-ttyt-quan-01"]


def grown(tmp_path, device: str):
    path = tmp_path / "units.toml"
    path.write_text(TEST_REGISTRY.read_text() + '\n[[units]]\nid = "phuong-thu"\nname = "UBND phường Thử"\n'
                    'kind = "ward"\nhours = "one-stop"\n[[units.devices]]\nid = "hbt-thu-01"\n' + device)
    return path


def test_a_screen_kind_outside_the_list_is_refused_with_what_is_allowed(tmp_path):
    with pytest.raises(RegistryError) as caught:
        load_registry(grown(tmp_path, 'screen = "oled"\n'))
    assert "screen" in str(caught.value) and "'led'" in str(caught.value) and "'lcd'" in str(caught.value)


def test_a_hub75_panel_on_a_tv_board_is_refused(tmp_path):
    with pytest.raises(RegistryError, match='panel = \'p4-128x64\' is a HUB75 panel profile, but screen = "lcd"'):
        load_registry(grown(tmp_path, 'screen = "lcd"\npanel = "p4-128x64"\n'))
    assert load_registry(grown(tmp_path, 'screen = "lcd"\n')).device("hbt-thu-01").screen == "lcd"
