"""check-config names the file, the key, the bad value and what is allowed."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from edge.cli import main
from edge.config import check_config, load_config
from ihanoi.contract.errors import ConfigError
from ihanoi.contract.registry import DEFAULT_PATH as REGISTRY_FILE
from tests.conftest import TEST_REGISTRY

ROOT = Path(__file__).resolve().parents[1]

GOOD = """
device = "hbt-bach-mai-01"
unit = "phuong-bach-mai"
data_dir = "data"

[broker]
host = "127.0.0.1"
port = 1883

[panel]
profile = "p4-128x64"
output = "recorder"

[pir]
pin = 5
"""


def write(tmp_path: Path, text: str, name: str = "device.toml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def problems(path: Path) -> dict[str, str]:
    with pytest.raises(ConfigError) as info:
        check_config(path)
    assert info.value.path == str(path)
    return dict(info.value.problems)


def test_shipped_examples_are_valid():
    for example in sorted((ROOT / "firmware_config" / "devices").glob("*.toml")):
        config, registry, profile = check_config(example, check_files=False)
        assert registry.unit_of(config.device).id == config.unit


def test_good_config_and_relative_paths(tmp_path):
    config, registry, profile = check_config(write(tmp_path, GOOD))
    assert config.data_dir == (tmp_path / "data").resolve()
    assert (profile.width, profile.height) == (128, 64)
    assert config.mqtt_username == "hbt-bach-mai-01"


@pytest.mark.parametrize("mapping_profile, pin, signal", [
    ("p4-128x64", 4, "LAT of hardware mapping 'regular'"),
    ("p4-128x64", 17, "CLK of hardware mapping 'regular'"),
    ("p4-128x64", 15, "E of hardware mapping 'regular'"),     # 64-row panels use address line E
    ("p4-256x64-hat", 4, "OE of hardware mapping 'adafruit-hat'"),
    ("p4-256x64-hat", 17, "CLK of hardware mapping 'adafruit-hat'"),
    ("p4-256x64-hat", 23, "P0 of hardware mapping 'adafruit-hat'"),
])
def test_pir_pin_that_the_hub75_mapping_drives_is_refused(tmp_path, mapping_profile, pin, signal):
    text = GOOD.replace('profile = "p4-128x64"', f'profile = "{mapping_profile}"').replace("pin = 5", f"pin = {pin}")
    found = problems(write(tmp_path, text))
    assert f"= {pin} collides with the HUB75 board: GPIO {pin} is {signal}" in found["pir.pin"]
    assert "free pins:" in found["pir.pin"]


def test_pin_e_is_free_on_32_row_panels(tmp_path):
    text = GOOD.replace('"p4-128x64"', '"p4-128x32"').replace("pin = 5", "pin = 15")
    config, _, _ = check_config(write(tmp_path, text))
    assert config.pir.pin == 15


def test_pir_pin_off_the_header(tmp_path):
    found = problems(write(tmp_path, GOOD.replace("pin = 5", "pin = 40")))
    assert found["pir.pin"] == "= 40 is not allowed: GPIO 40 is not on the 40-pin header; allowed: BCM 2..27"


@pytest.mark.parametrize("old, new, key, expected", [
    ('output = "recorder"', 'output = "hdmi"', "panel.output",
     "= 'hdmi' is not allowed: Input should be 'rgbmatrix', 'piomatter', 'emulator', 'recorder' or 'null'"),
    ("port = 1883", "port = 70000", "broker.port", "= 70000 is not allowed: Input should be less than or equal to 65535"),
    ('device = "hbt-bach-mai-01"', 'device = "Bach Mai/01"', "device", "= 'Bach Mai/01' is not allowed: String should match pattern"),
    ("pin = 5", "pin = 5\nhold = 3", "pir.hold", "is not a known setting"),
    ("[pir]", "[planner]\nmin_gap_minutes = 0\n[pir]", "planner.min_gap_minutes", "= 0 is not allowed: Input should be greater than or equal to 1"),
    ("[pir]", "[planner.hours]\nmon = [\"08:00-25:00\"]\n[pir]", "planner.hours.mon", "must look like 'HH:MM-HH:MM'"),
    ("[pir]", "[planner.hours]\nmon = [\"12:00-08:00\"]\n[pir]", "planner.hours.mon", "ends before it starts"),
    ("[pir]", "[outbox]\nwindow = 70000\n[pir]", "outbox.window", "= 70000 is not allowed: Input should be less than or equal to 65535"),
])
def test_bad_values_name_key_value_and_allowed(tmp_path, old, new, key, expected):
    path = write(tmp_path, GOOD.replace(old, new, 1))
    with pytest.raises(ConfigError) as info:
        load_config(path)
    found = dict(info.value.problems)
    assert expected in found[key], found
    assert str(path) in str(info.value)


def test_missing_required_key(tmp_path):
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, GOOD.replace('unit = "phuong-bach-mai"', "")))
    assert dict(info.value.problems)["unit"] == "is required but missing"


def test_toml_syntax_error_names_the_file(tmp_path):
    path = write(tmp_path, GOOD + "\n[broker\n")
    with pytest.raises(ConfigError, match=rf"{path}: not valid TOML: .*line"):
        load_config(path)


def test_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="file not found"):
        load_config(tmp_path / "nope.toml")


def test_unknown_unit_and_unlisted_device(tmp_path):
    found = problems(write(tmp_path, GOOD.replace('"phuong-bach-mai"', '"phuong-khong-co"')))
    assert "is not a unit of the registry" in found["unit"]
    found = problems(write(tmp_path, GOOD.replace('"hbt-bach-mai-01"', '"hbt-bach-mai-09"')))
    assert "is not listed under unit 'phuong-bach-mai'" in found["device"]


def test_device_listed_under_another_unit(tmp_path):
    found = problems(write(tmp_path, GOOD.replace('"hbt-bach-mai-01"', '"hbt-vinh-tuy-01"')))
    assert found["unit"] == "= 'phuong-bach-mai' but the registry lists device 'hbt-vinh-tuy-01' under 'phuong-vinh-tuy'"


def test_quota_below_the_units_quota(tmp_path):
    text = GOOD.replace('"hbt-bach-mai-01"', '"hbt-bach-khoa-01"').replace('"phuong-bach-mai"', '"phuong-bach-khoa"')
    found = problems(write(tmp_path, text.replace("[pir]", "[planner]\nquota = 10\n[pir]")))
    assert "= 10 is below 12, the quota of UBND phường Bách Khoa; a unit may raise it, never lower it" in found["planner.quota"]


def test_unknown_panel_profile_lists_known_ones(tmp_path):
    found = problems(write(tmp_path, GOOD.replace('"p4-128x64"', '"p9-999"')))
    assert "panel profile not found; known profiles: " in found["panel.profile"]
    assert "p4-128x32" in found["panel.profile"]


def test_bad_panel_profile_is_validated_like_the_config(tmp_path):
    write(tmp_path, 'name = "bad"\nrows = 48\ncols = 64\nhardware_mapping = "adafruit-hat"\nparallel = 2\n', "bad.toml")
    found = problems(write(tmp_path, GOOD.replace('"p4-128x64"', '"bad.toml"')))
    assert "bad.toml: rows: = 48 is not allowed: Input should be 16, 32 or 64" in found["panel.profile"]


def test_parallel_chains_the_mapping_cannot_drive(tmp_path):
    write(tmp_path, 'name = "bad"\nrows = 32\ncols = 64\nhardware_mapping = "adafruit-hat"\nparallel = 2\n', "bad.toml")
    found = problems(write(tmp_path, GOOD.replace('"p4-128x64"', '"bad.toml"')))
    assert "parallel = 2 but hardware mapping 'adafruit-hat' drives at most 1 chain(s)" in found["panel.profile"]


def test_missing_secret_files_unless_skipped(tmp_path):
    text = GOOD.replace("port = 1883", 'port = 8883\ntls = true\nca_file = "ca.crt"\npassword_file = "pw"')
    path = write(tmp_path, text)
    found = problems(path)
    assert found["broker.ca_file"].startswith(f"= '{tmp_path / 'ca.crt'}' does not exist")
    assert "--skip-files" in found["broker.ca_file"]
    assert "broker.password_file" in found
    check_config(path, check_files=False)


def test_campaign_sets_are_checked_with_their_own_keys_or_else_the_content_keys(tmp_path):
    (tmp_path / "keys").mkdir()
    for name in ("content-1.pub", "campaign-1.pub"):
        (tmp_path / "keys" / name).write_text("public key")
    content_only = GOOD + '\n[content]\ntrusted_keys = ["keys/content-1.pub"]\n'
    config, _, _ = check_config(write(tmp_path, content_only))
    assert config.campaign_keys() == [tmp_path / "keys/content-1.pub"]        # as before the server had its own
    both = content_only + '\n[campaigns]\ntrusted_keys = ["keys/campaign-1.pub"]\n'
    config, _, _ = check_config(write(tmp_path, both))
    assert config.campaign_keys() == [tmp_path / "keys/campaign-1.pub"]
    missing = write(tmp_path, both.replace("campaign-1.pub", "campaign-2.pub"))
    assert problems(missing)["campaigns.trusted_keys.0"].startswith(
        f"= '{tmp_path / 'keys/campaign-2.pub'}' does not exist")
    check_config(missing, check_files=False)
    three = both.replace('["keys/campaign-1.pub"]', '["a.pub", "b.pub", "c.pub"]')
    assert "campaigns.trusted_keys" in problems(write(tmp_path, three))


def test_cli_exit_codes_and_messages(tmp_path, capsys):
    good = write(tmp_path, GOOD)
    assert main(["check-config", str(good)]) == 0
    assert "OK — device hbt-bach-mai-01 of UBND phường Bạch Mai" in capsys.readouterr().out
    bad = write(tmp_path, GOOD.replace("pin = 5", "pin = 17"), "bad.toml")
    assert main(["check-config", str(bad)]) == 1
    err = capsys.readouterr().err
    assert f"{bad}: pir.pin: = 17 collides with the HUB75 board" in err


def test_the_districts_registry_is_valid_and_complete():
    """The production registry, tested only for its own validity (the tests use tests/data/units.toml)."""
    from ihanoi.contract.registry import load_registry

    reg = load_registry(REGISTRY_FILE)
    assert sum(u.kind == "ward" for u in reg.units) == 18
    assert {u.kind for u in reg.units} == {"ward", "department", "health", "education", "organisation"}
    assert "UBND phường Đống Mác" in {u.name for u in reg.units}
    assert all(reg.unit_of(d.id) == u for u in reg.units for d in u.devices)


def test_registry_rules(tmp_path):
    from ihanoi.contract.errors import RegistryError
    from ihanoi.contract.registry import load_registry

    src = TEST_REGISTRY.read_text(encoding="utf-8")
    dup = src.replace('id = "hbt-vinh-tuy-01"', 'id = "hbt-bach-mai-01"')
    (tmp_path / "u.toml").write_text(dup, encoding="utf-8")
    with pytest.raises(RegistryError, match="'hbt-bach-mai-01' is listed under both 'phuong-bach-mai' and 'phuong-vinh-tuy'"):
        load_registry(tmp_path / "u.toml")
    low = src.replace("quota = 12", "quota = 8")
    (tmp_path / "u.toml").write_text(low, encoding="utf-8")
    with pytest.raises(RegistryError, match="8 is below the district's quota of 10"):
        load_registry(tmp_path / "u.toml")


def test_the_allowed_panel_outputs_are_the_registry_of_outputs():
    from typing import get_args

    from edge.config import PanelSettings
    from edge.panel import OUTPUT_NAMES, OUTPUTS

    assert get_args(PanelSettings.model_fields["output"].annotation) == OUTPUT_NAMES == tuple(OUTPUTS)


def _profile_file(tmp_path, mapping: str, rows: int = 64, parallel: int = 1) -> Path:
    path = tmp_path / f"{mapping}-{rows}.toml"
    path.write_text(f'name = "{mapping}-{rows}"\nrows = {rows}\ncols = 64\nparallel = {parallel}\n'
                    f'hardware_mapping = "{mapping}"\n', "utf-8")
    return path


def _mappings():
    from typing import get_args

    from edge.panel.profile import HardwareMapping

    return get_args(HardwareMapping)


@pytest.mark.parametrize("mapping", _mappings())
def test_a_pir_on_any_line_of_any_hardware_mapping_is_refused(tmp_path, mapping):
    """Every mapping the profiles allow, every line it drives (all chains it has): no mapping is skipped."""
    from edge.panel.hub75 import HEADER_GPIOS, RESERVED, max_parallel, pins_in_use

    parallel = max_parallel(mapping)
    profile = _profile_file(tmp_path, mapping, parallel=parallel)
    lines = pins_in_use(mapping, 64, parallel)
    assert set(lines) >= {p for pins in __import__("edge.panel.hub75", fromlist=["MAPPINGS"]).MAPPINGS[mapping].values()
                          for p in pins if p in HEADER_GPIOS}
    assert set(RESERVED.get(mapping, {})) <= set(lines)
    for pin in sorted(p for p in lines if p in HEADER_GPIOS):
        text = GOOD.replace('profile = "p4-128x64"', f'profile = "{profile}"').replace("pin = 5", f"pin = {pin}")
        found = problems(write(tmp_path, text))
        assert f"= {pin} collides with the HUB75 board: GPIO {pin} is " in found["pir.pin"], (mapping, pin)


def test_adafruit_hat_pwm_also_takes_gpio_4_which_the_pwm_mod_bridges_to_oe(tmp_path):
    profile = _profile_file(tmp_path, "adafruit-hat-pwm")
    found = problems(write(tmp_path, GOOD.replace('profile = "p4-128x64"', f'profile = "{profile}"')
                           .replace("pin = 5", "pin = 4")))
    assert "GPIO 4 is bridged to OE (GPIO 18) by the PWM mod" in found["pir.pin"]
    assert "free pins: 2, 3, 7," in found["pir.pin"] and " 4," not in found["pir.pin"].split("free pins:")[1]


def test_piomatter_active3_with_64_row_panels_leaves_no_pin_and_says_which_wiring_does(tmp_path):
    text = GOOD.replace('output = "recorder"', 'output = "piomatter"')
    found = problems(write(tmp_path, text))
    message = found["pir.pin"]
    assert "GPIO 5 is RGB of Piomatter pinout 'Active3'" in message
    assert "takes every GPIO 2..27" in message
    assert "hardware_mapping = 'adafruit-hat' and one chain leaves GPIO 2, 3, 7" in message
    # 32-row panels need one address line less: GPIO 15 is free for the PIR
    ok = GOOD.replace('output = "recorder"', 'output = "piomatter"').replace('"p4-128x64"', '"p4-128x32"')
    config, _, _ = check_config(write(tmp_path, ok.replace("pin = 5", "pin = 15")))
    assert config.pir.pin == 15


def test_piomatter_refuses_a_profile_it_cannot_honour_naming_the_field(tmp_path):
    text = GOOD.replace('output = "recorder"', 'output = "piomatter"').replace('"p4-128x64"', '"p3-256x128"')
    found = problems(write(tmp_path, text.replace("pin = 5", "pin = 15")))
    assert "parallel = 2: this output drives one chain with Piomatter" in found["panel.output"]


# What one chain of each other wiring leaves free on 64-row panels (hub75.MAPPINGS, Piomatter's Bonnet pinout).
LEAVES_PIOMATTER_HAT = ("panel.output = 'piomatter' with hardware_mapping = 'adafruit-hat' and one chain leaves "
                        "GPIO 2, 3, 7, 8, 9, 10, 11, 14, 15, 18, 19, 25")
LEAVES_REGULAR = ("panel.output = 'rgbmatrix' with hardware_mapping = 'regular' and one chain leaves "
                  "GPIO 2, 3, 5, 6, 12, 13, 14, 16, 19, 20, 21, 26")
LEAVES_HAT = ("panel.output = 'rgbmatrix' with hardware_mapping = 'adafruit-hat' and one chain leaves "
              "GPIO 2, 3, 7, 8, 9, 10, 11, 14, 15, 18, 19, 25")
NO_PIN_LEFT = "this wiring takes every GPIO 2..27, so no pin is left for the PIR; wire the board another way: "


def test_a_wiring_that_leaves_no_pin_names_every_other_wiring_and_its_free_pins(tmp_path):
    """Three chains on the regular mapping take all of GPIO 2..27: the advice lists the other wirings,
    each with the pins its one chain leaves, and never the wiring already refused."""
    profile = _profile_file(tmp_path, "regular", parallel=3)
    text = GOOD.replace('profile = "p4-128x64"', f'profile = "{profile}"').replace('output = "recorder"',
                                                                                  'output = "rgbmatrix"')
    message = problems(write(tmp_path, text))["pir.pin"]
    assert message == ("= 5 collides with the HUB75 board: GPIO 5 is P1 of hardware mapping 'regular' "
                       f"(profile 'regular-64'); {NO_PIN_LEFT}{LEAVES_PIOMATTER_HAT}; {LEAVES_HAT}")


def test_piomatters_no_pin_left_advice_is_exact():
    from edge.config import pir_pin_problem
    from edge.panel.profile import load_profile

    one_chain = load_profile("p4-128x64")
    expected = ("= 5 collides with the HUB75 board: GPIO 5 is RGB of Piomatter pinout 'Active3' (profile 'p4-128x64'); "
                f"{NO_PIN_LEFT}{LEAVES_PIOMATTER_HAT}; {LEAVES_REGULAR}; {LEAVES_HAT}")
    assert pir_pin_problem(5, "piomatter", one_chain) == expected
    # the advice is for one chain whatever the refused profile has (a second chain would take GPIO 5, 6, ...)
    assert pir_pin_problem(5, "piomatter", one_chain.model_copy(update={"parallel": 2})) == expected
