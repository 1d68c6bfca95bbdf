"""Before an LED library is loaded, the machine is checked: what is missing is a PanelError that
names it and the fix, never the library's exit() or a segfault (the checks are pure: a Host
value stands for the machine)."""

from __future__ import annotations

import pytest

from edge.panel.hostcheck import Host, hardware_pulsed, plan_piomatter, plan_rgbmatrix, try_open
from edge.panel.profile import load_profile
from ihanoi.contract.errors import PanelError

OK = "ok"


def host(model="pi4", *, mem="permission denied", gpiomem=OK, pio0="missing", gpiomem0="missing",
         modules=(), euid=999, caps=("CAP_SYS_NICE",), rt=990000, isolated="3") -> Host:
    return Host(model=model, board={"pi4": "Raspberry Pi 4 Model B Rev 1.4", "pi5": "Raspberry Pi 5 Model B Rev 1.0",
                                    "pi3": "Raspberry Pi 3 Model B Rev 1.2"}.get(model, ""),
                user="ihanoi", euid=euid, capabilities=frozenset(caps),
                devices={"/dev/mem": mem, "/dev/gpiomem": gpiomem, "/dev/pio0": pio0, "/dev/gpiomem0": gpiomem0},
                modules=frozenset(modules), sched_rt_runtime_us=rt, isolated_cpus=isolated)


@pytest.fixture(scope="module")
def regular():
    return load_profile("p4-128x64")


@pytest.fixture(scope="module")
def hat():
    return load_profile("p4-256x64-hat")


def test_off_a_pi_it_says_so_and_names_the_emulator(regular):
    with pytest.raises(PanelError, match="not a Raspberry Pi it knows .*no /proc/device-tree/model.*emulator"):
        plan_rgbmatrix(host(model=None), regular)
    with pytest.raises(PanelError, match="not a Raspberry Pi"):
        plan_piomatter(host(model=None), regular)


def test_mem_mode_without_dev_mem_names_the_node_the_user_and_both_fixes(regular):
    with pytest.raises(PanelError) as err:
        plan_rgbmatrix(host(), regular, "mem")
    text = str(err.value)
    assert "/dev/mem cannot be opened for writing by user 'ihanoi' (permission denied)" in text
    assert "ihanoi_agent_gpio_access: mem" in text and 'panel.gpio_access = "gpiomem"' in text


def test_gpiomem_mode_turns_hardware_pulsing_off_so_regular_profiles_open(regular):
    assert hardware_pulsed("regular") and not regular.disable_hardware_pulsing
    plan = plan_rgbmatrix(host(), regular, "gpiomem")
    assert plan.mode == "gpiomem" and plan.options["disable_hardware_pulsing"] is True
    assert any("timed in software" in w for w in plan.warnings)
    # auto: /dev/mem does not open, /dev/gpiomem does
    assert plan_rgbmatrix(host(), regular).mode == "gpiomem"
    auto_mem = plan_rgbmatrix(host(mem=OK), regular)
    assert auto_mem.mode == "mem" and auto_mem.options["disable_hardware_pulsing"] is False


def test_gpiomem_mode_without_the_node_is_refused(regular):
    with pytest.raises(PanelError, match=r"/dev/gpiomem cannot be opened .*\(missing\).*group gpio"):
        plan_rgbmatrix(host(gpiomem="missing"), regular, "gpiomem")


def test_the_sound_module_stops_hardware_pulsing_but_not_a_hat_without_it(regular, hat):
    with pytest.raises(PanelError, match="snd_bcm2835 is loaded.*blacklist it.*update-initramfs -u"):
        plan_rgbmatrix(host(mem=OK, modules=("snd_bcm2835",)), regular, "mem")
    assert not hardware_pulsed("adafruit-hat")            # OE on GPIO 4: the PWM block is not used
    assert plan_rgbmatrix(host(mem=OK, modules=("snd_bcm2835",)), hat, "mem").mode == "mem"
    off = regular.model_copy(update={"disable_hardware_pulsing": True})
    assert plan_rgbmatrix(host(mem=OK, modules=("snd_bcm2835",)), off, "mem").mode == "mem"


def test_a_pi_5_uses_rp1_pio_and_needs_dev_pio0(regular):
    with pytest.raises(PanelError, match=r"/dev/pio0 cannot be opened .*\(missing\).*rp1-pio.*gpio_access: pio"):
        plan_rgbmatrix(host("pi5"), regular)
    plan = plan_rgbmatrix(host("pi5", pio0=OK), regular)
    assert plan.mode == "pio" and plan.options == {"rp1_rio": 0}
    rio = plan_rgbmatrix(host("pi5", gpiomem0=OK), regular, "rio")
    assert rio.mode == "rio" and rio.options == {"rp1_rio": 1}
    with pytest.raises(PanelError, match="'mem' cannot work on a Raspberry Pi 5.*no BCM GPIO block"):
        plan_rgbmatrix(host("pi5", mem=OK, pio0=OK), regular, "mem")
    classic_pi1 = regular.model_copy(update={"hardware_mapping": "classic-pi1"})
    with pytest.raises(PanelError, match="'classic-pi1' .* not supported by the library's Pi 5 backend"):
        plan_rgbmatrix(host("pi5", pio0=OK), classic_pi1)


def test_a_pi_4_cannot_use_the_pi_5_modes(regular):
    with pytest.raises(PanelError, match="'pio' is for the Pi 5 family"):
        plan_rgbmatrix(host(), regular, "pio")


def test_what_makes_the_picture_worse_is_a_warning_with_its_fix(regular):
    plan = plan_rgbmatrix(host(mem=OK, caps=(), rt=950000, isolated=""), regular)
    text = " | ".join(plan.warnings)
    assert "kernel.sched_rt_runtime_us = 950000, not 990000" in text and "/etc/sysctl.d/ihanoi-hub75.conf" in text
    assert "CAP_SYS_NICE" in text and "CPU 3 is not isolated" in text
    assert plan_rgbmatrix(host(mem=OK), regular).warnings == ()
    assert plan_rgbmatrix(host(mem=OK, isolated="0-4"), regular).warnings == ()
    assert plan_rgbmatrix(host(mem=OK, isolated="1,2"), regular).warnings != ()


def test_piomatter_needs_a_pi_5_dev_pio0_and_a_profile_it_can_honour(regular):
    with pytest.raises(PanelError, match="Piomatter drives the Pi 5 family's RP1 PIO only.*Raspberry Pi 4"):
        plan_piomatter(host(), regular)
    with pytest.raises(PanelError, match="/dev/pio0 cannot be opened"):
        plan_piomatter(host("pi5"), regular)
    assert plan_piomatter(host("pi5", pio0=OK), regular).mode == "pio"
    with pytest.raises(PanelError, match="parallel = 2: this output drives one chain"):
        plan_piomatter(host("pi5", pio0=OK), load_profile("p3-256x128"))
    fm = regular.model_copy(update={"panel_type": "FM6126A", "hardware_mapping": "classic"})
    with pytest.raises(PanelError, match="hardware_mapping = 'classic'.*panel_type = 'FM6126A'"):
        plan_piomatter(host("pi5", pio0=OK), fm)


def test_device_nodes_are_tried_for_real(tmp_path):
    node = tmp_path / "gpiomem"
    node.write_bytes(b"")
    assert try_open(str(node)) == "ok"
    assert try_open(str(tmp_path / "absent")) == "missing"
    assert try_open(str(tmp_path)) != "ok"                     # a folder cannot be opened for writing
    here = Host.read()
    assert set(here.devices) == {"/dev/mem", "/dev/gpiomem", "/dev/pio0", "/dev/gpiomem0"}
