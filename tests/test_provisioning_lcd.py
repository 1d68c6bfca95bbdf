"""Provisioning an LCD/TV board: the registry's screen kind picks the set-up, and the hdmi_screen role
applied for real (ansible's local connection) to stand-ins of a Pi's boot partition."""

from __future__ import annotations

import json
import re
import shutil

import pytest

from tests.test_provisioning_boot import CMDLINE_TXT, CONFIG_TXT
from tests.test_provisioning_render import NEW_UNIT_TOML, grown_registry, inventory, run_ansible

pytestmark = pytest.mark.skipif(shutil.which("ansible-playbook") is None,
                                reason="ansible is not installed (apt-get install -y ansible)")

PLAYBOOK = """\
- name: An LCD board's set-up on a stand-in Pi
  hosts: localhost
  connection: local
  gather_facts: false
  roles:
    - role: hdmi_screen
      vars:
        hdmi_screen_packages: []
        hdmi_screen_user: ""
        hdmi_screen_boot_candidates: {candidates}
        hdmi_screen_modprobe_dir: {modprobe}
        hdmi_screen_reboot: false
"""
HUB75_BLOCK = """\
# BEGIN iHanoi HUB75 (managed by ansible, firmware_config/boot/config.txt)
[all]
dtparam=audio=off
dtparam=spi=off
# END iHanoi HUB75 (managed by ansible, firmware_config/boot/config.txt)
"""


def apply(tmp_path, boot_dirs):
    modprobe = tmp_path / "modprobe.d"
    modprobe.mkdir(exist_ok=True)
    playbook = tmp_path / "lcd.yml"
    playbook.write_text(PLAYBOOK.format(candidates=json.dumps([str(d) for d in boot_dirs]),
                                        modprobe=json.dumps(str(modprobe))))
    proc = run_ansible(["ansible-playbook", str(playbook)], tmp_path)
    changed = int(re.search(r"localhost\s*:.*changed=(\d+)", proc.stdout).group(1))
    return proc.stdout, changed


def test_the_inventory_groups_boards_by_screen(tmp_path, registry):
    inv = inventory(tmp_path, IHANOI_REGISTRY=str(grown_registry(tmp_path, NEW_UNIT_TOML + 'screen = "lcd"\n')))
    lcd = {d.id for _, d in registry.screens("lcd")} | {"hbt-thu-nghiem-01"}
    assert set(inv["screen_lcd"]["hosts"]) == lcd
    assert "hbt-bach-mai-01" in inv["screen_led"]["hosts"] and not lcd & set(inv["screen_led"]["hosts"])
    hostvars = inv["_meta"]["hostvars"]
    assert hostvars["hbt-ttyt-quan-01"]["ihanoi_screen"] == "lcd"
    assert hostvars["hbt-bach-mai-01"]["ihanoi_screen"] == "led"


def test_a_screen_kind_the_inventory_does_not_know_stops_it(tmp_path):
    bad = grown_registry(tmp_path, NEW_UNIT_TOML + 'screen = "plasma"\n')
    proc = run_ansible(["ansible-inventory", "--list"], tmp_path, check=False, IHANOI_REGISTRY=str(bad))
    assert proc.returncode != 0 and "screen = 'plasma'" in proc.stderr and "led, lcd" in proc.stderr


def test_the_site_playbook_picks_the_roles_by_screen(tmp_path):
    from tests.test_provisioning_render import ANSIBLE

    site = (ANSIBLE / "site.yml").read_text()
    assert "role: hdmi_screen\n      when: ihanoi_screen | default('led') == 'lcd'" in site
    assert "role: pi_boot\n      when: ihanoi_screen | default('led') == 'led'" in site
    assert "role: rgbmatrix\n      when: ihanoi_screen | default('led') == 'led'" in site


def test_an_led_board_turned_tv_board_gets_kms_and_loses_its_hub75_settings(tmp_path):
    firmware = tmp_path / "boot" / "firmware"
    firmware.mkdir(parents=True)
    led_config = CONFIG_TXT.replace("dtparam=audio=on\n", "").replace("dtoverlay=vc4-kms-v3d\n", "") + HUB75_BLOCK
    (firmware / "config.txt").write_text(led_config)
    (firmware / "cmdline.txt").write_text(CMDLINE_TXT.replace("quiet", "isolcpus=3 quiet"))
    (tmp_path / "modprobe.d").mkdir()
    (tmp_path / "modprobe.d" / "ihanoi-hub75.conf").write_text("blacklist snd_bcm2835\n")

    out, changed = apply(tmp_path, [firmware, tmp_path / "boot"])
    assert changed > 0
    assert "RUNNING HANDLER [hdmi_screen : Reboot the Pi for the HDMI screen]" in out
    config = (firmware / "config.txt").read_text()
    assert "iHanoi HUB75" not in config and "dtparam=spi=off" not in config and "dtparam=audio=off" not in config
    block = config[config.index("# BEGIN iHanoi HDMI screen"):]
    assert block.splitlines()[1:3] == ["[all]", "dtoverlay=vc4-kms-v3d"]
    assert "[cm4]" in config and "camera_auto_detect=1" in config          # the rest is kept
    params = (firmware / "cmdline.txt").read_text().split()
    assert "video=HDMI-A-1:1920x1080@60D" in params and not any(p.startswith("isolcpus") for p in params)
    assert "root=PARTUUID=4e639091-02" in params and "rootwait" in params
    assert not (tmp_path / "modprobe.d" / "ihanoi-hub75.conf").exists()

    before = {p: p.read_bytes() for p in firmware.iterdir()}
    out, changed = apply(tmp_path, [firmware, tmp_path / "boot"])
    assert changed == 0, out
    assert {p: p.read_bytes() for p in firmware.iterdir()} == before


def test_a_fresh_bookworm_image_in_the_old_layout(tmp_path):
    boot = tmp_path / "boot"
    boot.mkdir()
    (boot / "config.txt").write_text(CONFIG_TXT.replace("dtoverlay=vc4-kms-v3d", "dtoverlay=vc4-fkms-v3d"))
    (boot / "cmdline.txt").write_text(CMDLINE_TXT)
    apply(tmp_path, [boot / "firmware", boot])
    config = (boot / "config.txt").read_text()
    assert "vc4-fkms-v3d" not in config and "dtoverlay=vc4-kms-v3d" in config
    assert "dtparam=audio=on" in config.splitlines()                 # a TV board keeps its sound
    _, changed = apply(tmp_path, [boot / "firmware", boot])
    assert changed == 0
