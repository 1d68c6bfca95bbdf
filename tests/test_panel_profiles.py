"""Panel profiles in edge/panel/profiles: all valid, and a wrong one is refused naming the key."""

from __future__ import annotations

import pytest

from edge.panel.profile import available_profiles, load_profile
from ihanoi.contract.errors import ConfigError


@pytest.mark.parametrize("name", available_profiles())
def test_every_shipped_profile_is_valid(name):
    profile = load_profile(name)
    assert profile.name == name
    assert profile.width % 32 == 0 and profile.height % 16 == 0
    assert 1 <= profile.fps <= 120


def test_the_benchmark_boards_exist():
    sizes = {(load_profile(n).width, load_profile(n).height) for n in available_profiles()}
    assert {(128, 32), (128, 64), (256, 128), (64, 64)} <= sizes


def test_a_bad_profile_names_the_key_and_what_is_allowed(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text('name = "bad"\nrows = 48\ncols = 64\nparallel = 2\nhardware_mapping = "adafruit-hat"\n'
                    '[gpio_slowdown]\npi7 = 3\n', "utf-8")
    with pytest.raises(ConfigError) as err:
        load_profile(path)
    text = str(err.value)
    assert "rows" in text and "48" in text
    assert "pi7" in text and "pi4" in text
