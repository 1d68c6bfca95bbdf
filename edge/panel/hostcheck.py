"""What the LED libraries need from this machine, checked before they are loaded.

rpi-rgb-led-matrix and Piomatter do not report a missing precondition as an error: the first
returns a NULL matrix (its Python binding then segfaulted; the C API path checks it) or calls
``exit(1)``/``abort()``, the second ``exit(1)``s when ``/dev/pio0`` cannot be opened (read from
their sources: ``lib/gpio.cc``, ``lib/led-matrix.cc``, ``lib/rp1/*``, ``piolib.c``). So the
outputs first read the machine into a ``Host`` (a thin shell: device nodes tried for real,
capabilities, loaded modules, kernel settings) and ``plan_rgbmatrix``/``plan_piomatter``
(pure) decide how the board will be driven or raise ``PanelError`` naming every missing piece
and what to do about it.

GPIO access modes (``panel.gpio_access`` in the device config, the unit's sandbox follows the
same name through ansible's ``ihanoi_agent_gpio_access``):
  mem      Pi 1-4, /dev/mem: hardware pulsing of OE (steady brightness); CAP_SYS_RAWIO
  gpiomem  Pi 1-4, /dev/gpiomem (group gpio): no capabilities; hardware pulsing is off
  pio      Pi 5 family, RP1's PIO through /dev/pio0 (hzeller's RP1 backend, or Piomatter)
  rio      Pi 5 family, RP1's registered I/O through /dev/gpiomem0 (hzeller's backend only)
  auto     pio on a Pi 5, else mem when /dev/mem opens, else gpiomem
"""

from __future__ import annotations

import errno
import os
import pwd
from dataclasses import dataclass, field
from pathlib import Path

from edge.panel.hub75 import MAPPINGS
from edge.panel.pimodel import RP1_MODELS, board_name, pi_model
from ihanoi.contract.errors import PanelError

GPIO_ACCESS = ("auto", "mem", "gpiomem", "pio", "rio")
DEVICE_NODES = ("/dev/mem", "/dev/gpiomem", "/dev/pio0", "/dev/gpiomem0")
SCHED_RT_RUNTIME = Path("/proc/sys/kernel/sched_rt_runtime_us")
WANTED_RT_RUNTIME = 990000     # what the library writes: 10 ms a second left to the kernel, not 50 ms
ISOLATED = Path("/sys/devices/system/cpu/isolated")
# What each mode opens and which capabilities it needs beyond CAP_SYS_NICE (the real-time
# refresh thread): the agent's unit allows exactly these (firmware_config/systemd/).
MODE_NODES = {"mem": "/dev/mem", "gpiomem": "/dev/gpiomem", "pio": "/dev/pio0", "rio": "/dev/gpiomem0"}
MODE_CAPABILITIES = {"mem": ("CAP_SYS_RAWIO", "CAP_DAC_OVERRIDE"), "gpiomem": (), "pio": (), "rio": ()}
# The modes each kind of board can use.
BCM_MODES = ("mem", "gpiomem")
RP1_MODES = ("pio", "rio")
# The mappings hzeller's RP1 backend supports (lib/rp1/*: MappingNameSupported).
RP1_MAPPINGS = ("regular", "adafruit-hat", "adafruit-hat-pwm", "classic")
# Capability bits of /proc/self/status CapEff that matter here.
CAPABILITIES = {"CAP_DAC_OVERRIDE": 1, "CAP_SYS_RAWIO": 17, "CAP_SYS_NICE": 23}


@dataclass(frozen=True)
class Host:
    """What the library will find: read once by ``Host.read()``, a plain value for the checks."""
    model: str | None                     # one of PI_MODELS, None off a Raspberry Pi
    board: str = ""                       # the device tree's name for it
    user: str = ""
    euid: int = 0
    capabilities: frozenset[str] = frozenset()
    devices: dict[str, str] = field(default_factory=dict)   # node -> "ok" | why it cannot be opened
    modules: frozenset[str] = frozenset()
    sched_rt_runtime_us: int | None = None
    isolated_cpus: str = ""

    @classmethod
    def read(cls) -> Host:
        euid = os.geteuid()
        try:
            user = pwd.getpwuid(euid).pw_name
        except KeyError:
            user = str(euid)
        return cls(model=pi_model(), board=board_name(), user=user, euid=euid,
                   capabilities=_capabilities(), devices={node: try_open(node) for node in DEVICE_NODES},
                   modules=_modules(), sched_rt_runtime_us=_int_file(SCHED_RT_RUNTIME),
                   isolated_cpus=_text(ISOLATED))

    def can_open(self, node: str) -> bool:
        return self.devices.get(node) == "ok"

    def why_not(self, node: str) -> str:
        return self.devices.get(node, "not checked")

    @property
    def realtime(self) -> bool:
        return self.euid == 0 or "CAP_SYS_NICE" in self.capabilities


def try_open(node: str) -> str:
    """Open a device node for reading and writing, as the library will, and close it again.

    ``access()`` would be wrong here: it ignores the capabilities systemd gives a service
    (CAP_DAC_OVERRIDE, CAP_SYS_RAWIO) and the unit's device policy.
    """
    try:
        fd = os.open(node, os.O_RDWR | os.O_CLOEXEC)
    except FileNotFoundError:
        return "missing"
    except OSError as exc:
        return {errno.EACCES: "permission denied", errno.EPERM: "not permitted"}.get(exc.errno, exc.strerror or str(exc))
    os.close(fd)
    return "ok"


def _capabilities() -> frozenset[str]:
    text = _text(Path("/proc/self/status"))
    for line in text.splitlines():
        if line.startswith("CapEff:"):
            bits = int(line.split()[1], 16)
            return frozenset(name for name, bit in CAPABILITIES.items() if bits & (1 << bit))
    return frozenset()


def _modules() -> frozenset[str]:
    return frozenset(line.split()[0] for line in _text(Path("/proc/modules")).splitlines() if line.strip())


def _text(path: Path) -> str:
    try:
        return path.read_text(errors="replace")
    except OSError:
        return ""


def _int_file(path: Path) -> int | None:
    try:
        return int(_text(path).strip())
    except ValueError:
        return None


def cpu_list(text: str) -> set[int]:
    """The CPUs of a kernel CPU list such as "3" or "1-3,5"."""
    cpus: set[int] = set()
    for part in text.strip().split(","):
        low, _, high = part.partition("-")
        if low.strip().isdigit():
            cpus.update(range(int(low), int(high or low) + 1))
    return cpus


@dataclass(frozen=True)
class Plan:
    """How the board will be driven: the mode, what changes in the library's options, and
    warnings (the board runs, but worse) for the log."""
    mode: str
    options: dict = field(default_factory=dict)
    warnings: tuple[str, ...] = ()


def hardware_pulsed(mapping: str) -> bool:
    """True when the mapping's OE is on GPIO 12 or 18, which the library pulses with the PWM block."""
    return MAPPINGS[mapping]["oe"] in ((12,), (18,))


def _not_a_pi(host: Host, output: str) -> PanelError:
    seen = f" (the device tree says {host.board!r})" if host.board else " (no /proc/device-tree/model)"
    return PanelError(f"the {output} output drives a HUB75 board from a Raspberry Pi's GPIO, and this machine is "
                      f"not a Raspberry Pi it knows{seen}: on a PC set panel.output = \"emulator\" (or "
                      f"IHANOI_PANEL=emulator)")


def _refuse(output: str, problems: list[str]) -> PanelError:
    return PanelError(f"the {output} output cannot drive this board: " + "; ".join(problems))


def _node_problem(host: Host, node: str, what: str, fix: str) -> str | None:
    if host.can_open(node):
        return None
    return f"{node} cannot be opened for writing by user {host.user!r} ({host.why_not(node)}); {what} needs it: {fix}"


def plan_rgbmatrix(host: Host, profile, gpio_access: str = "auto") -> Plan:
    """Check what hzeller's library needs for ``profile`` in ``gpio_access`` mode on ``host``."""
    if gpio_access not in GPIO_ACCESS:
        raise PanelError(f"gpio_access {gpio_access!r} is not allowed; allowed: {', '.join(GPIO_ACCESS)}")
    if host.model is None:
        raise _not_a_pi(host, "rgbmatrix")
    mapping = profile.hardware_mapping
    problems: list[str] = []
    warnings: list[str] = []
    options: dict = {}
    if host.model in RP1_MODELS:
        mode = "pio" if gpio_access == "auto" else gpio_access
        if mode in BCM_MODES:
            problems.append(f"panel.gpio_access = {mode!r} cannot work on a {host.board or 'Pi 5'}: the Pi 5 family "
                            f"has no BCM GPIO block to map; use 'pio' (RP1 PIO, /dev/pio0) or 'rio' (/dev/gpiomem0)")
        if mapping not in RP1_MAPPINGS:
            problems.append(f"hardware mapping {mapping!r} of profile {profile.name!r} is not supported by the "
                            f"library's Pi 5 backend; supported: {', '.join(RP1_MAPPINGS)}")
        if profile.row_address_type not in (0, 2):
            problems.append(f"row_address_type = {profile.row_address_type} of profile {profile.name!r} is not "
                            f"supported by the library's Pi 5 backend; use 0 or 2")
        if mode == "pio":
            problems.append(_node_problem(host, MODE_NODES["pio"], "the Pi 5 PIO backend",
                                          "update the kernel (Raspberry Pi OS Bookworm, 6.6 or later has the rp1-pio "
                                          "driver), let group gpio use it (ansible role ihanoi_agent's udev rule) and "
                                          "allow it in the unit (ihanoi_agent_gpio_access: pio)"))
        elif mode == "rio":
            problems.append(_node_problem(host, MODE_NODES["rio"], "the Pi 5 RIO backend",
                                          "add the user to group gpio and allow it in the unit "
                                          "(ihanoi_agent_gpio_access: rio)"))
        options["rp1_rio"] = 1 if mode == "rio" else 0
    else:
        if gpio_access in RP1_MODES:
            problems.append(f"panel.gpio_access = {gpio_access!r} is for the Pi 5 family; this is a "
                            f"{host.board or host.model}: use 'mem' or 'gpiomem'")
            mode = gpio_access
        elif gpio_access == "auto":
            mode = "mem" if host.can_open(MODE_NODES["mem"]) else "gpiomem"
        else:
            mode = gpio_access
        pulsed = hardware_pulsed(mapping) and not profile.disable_hardware_pulsing
        if mode == "mem":
            problems.append(_node_problem(host, MODE_NODES["mem"], "mem mode (hardware pulsing, the steadiest picture)",
                                          "run the unit with ihanoi_agent_gpio_access: mem (CAP_SYS_RAWIO, "
                                          "CAP_DAC_OVERRIDE, DeviceAllow=/dev/mem) or set panel.gpio_access = "
                                          "\"gpiomem\""))
            if pulsed and "snd_bcm2835" in host.modules:
                problems.append("the on-board sound driver snd_bcm2835 is loaded and uses the PWM block the library "
                                "pulses OE with (the library would exit): blacklist it (ansible role pi_boot, "
                                "firmware_config/boot/modprobe-hub75.conf, then update-initramfs -u) and reboot, "
                                "or set disable_hardware_pulsing = true in the panel profile")
            options["disable_hardware_pulsing"] = not pulsed
        elif mode == "gpiomem":
            problems.append(_node_problem(host, MODE_NODES["gpiomem"], "gpiomem mode",
                                          "add the user to group gpio and allow /dev/gpiomem in the unit "
                                          "(ihanoi_agent_gpio_access: gpiomem)"))
            # /dev/gpiomem maps the GPIO block only, not the PWM and clock registers: the library
            # would exit(1) asking for root. Pulsing in software flickers a little more.
            options["disable_hardware_pulsing"] = True
            if pulsed:
                warnings.append(f"gpiomem mode: OE of mapping {mapping!r} is timed in software, not by the PWM "
                                f"block (more flicker); panel.gpio_access = \"mem\" gives the steadiest picture")
        if "w1_gpio" in host.modules and 4 in {p for pins in MAPPINGS[mapping].values() for p in pins}:
            warnings.append("the 1-wire driver w1_gpio is loaded and GPIO 4 is a panel line: remove "
                            "dtoverlay=w1-gpio from config.txt (ansible role pi_boot)")
    if not host.realtime:
        warnings.append(f"user {host.user!r} may not raise the refresh thread to real-time priority (CAP_SYS_NICE): "
                        f"expect flicker under load")
    if host.sched_rt_runtime_us not in (None, -1, WANTED_RT_RUNTIME):
        warnings.append(f"kernel.sched_rt_runtime_us = {host.sched_rt_runtime_us}, not {WANTED_RT_RUNTIME}: the "
                        f"kernel pauses the refresh thread 50 ms a second (visible flicker); provisioning sets it in "
                        f"/etc/sysctl.d/ihanoi-hub75.conf (ansible role pi_boot)")
    if host.model not in ("pi1", "pi-zero") and 3 not in cpu_list(host.isolated_cpus):
        warnings.append("CPU 3 is not isolated (isolcpus in cmdline.txt): other tasks share the refresh thread's core")
    problems = [p for p in problems if p]
    if problems:
        raise _refuse("rgbmatrix", problems)
    return Plan(mode, options, tuple(warnings))


def plan_piomatter(host: Host, profile) -> Plan:
    """Check what Adafruit's Piomatter needs: a Pi 5 family board and /dev/pio0 it can open."""
    from edge.panel.piomatter_pins import unsupported_fields

    if host.model is None:
        raise _not_a_pi(host, "piomatter")
    problems = []
    if host.model not in RP1_MODELS:
        problems.append(f"Piomatter drives the Pi 5 family's RP1 PIO only, and this is a {host.board or host.model}: "
                        f"use panel.output = \"rgbmatrix\"")
    problems += [f"profile {profile.name!r}: {why}" for why in unsupported_fields(profile)]
    if host.model in RP1_MODELS:
        problems.append(_node_problem(host, MODE_NODES["pio"], "Piomatter",
                                      "update the kernel (Raspberry Pi OS Bookworm, 6.6 or later), let group gpio "
                                      "use it (ansible role ihanoi_agent's udev rule) and allow it in the unit "
                                      "(ihanoi_agent_gpio_access: pio)"))
    problems = [p for p in problems if p]
    if problems:
        raise _refuse("piomatter", problems)
    return Plan("pio")
