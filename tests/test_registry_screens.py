"""The registry says which boards are LED and which are LCD/TV screens (default LED, so nothing else changes)."""

from __future__ import annotations

import pytest

from ihanoi.contract.errors import RegistryError
from ihanoi.contract.registry import DEFAULT_PATH, load_registry


def test_boards_are_led_unless_the_registry_says_lcd(registry):
    lcd = {d.id for _, d in registry.screens("lcd")}
    assert lcd == {"hbt-ttyt-quan-01", "hbt-tyt-vinh-tuy-01", "hbt-thcs-ngo-gia-tu-01"}
    assert registry.device("hbt-bach-mai-01").screen == "led"
    assert len(registry.screens("led")) + len(lcd) == len(registry.devices())
    assert registry.device("nobody") is None


def grown(tmp_path, device: str):
    path = tmp_path / "units.toml"
    path.write_text(DEFAULT_PATH.read_text() + '\n[[units]]\nid = "phuong-thu"\nname = "UBND phường Thử"\n'
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
