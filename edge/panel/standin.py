"""A stand-in Raspberry Pi for the real rpi-rgb-led-matrix library on a PC (tests, benchmarks).

Off a Pi the library cannot start: it maps the GPIO block through ``/dev/gpiomem`` at the
peripheral address of the model it reads from ``/proc/cpuinfo``. In a private mount namespace
(``unshare --mount``; root is needed to make it, not to run in it) this gives it what it needs
and nothing of the host's:

- ``/dev`` is a fresh tmpfs with only ``null``, ``zero``, ``full``, ``random``, ``urandom`` and a
  sparse regular file as ``/dev/gpiomem`` (its GPIO registers are one page of that file);
  there is no ``/dev/mem``, so the library can never touch the host's physical memory;
- ``/proc/cpuinfo`` carries a Pi 4's revision code, so the library and ``pimodel`` see a Pi 4;
- ``/proc/sys/kernel/sched_rt_runtime_us`` is shadowed by a file, so the library's write of
  990000 lands there and the host is untouched;
- the command then runs as an unprivileged user with no capabilities, like the agent's unit
  in ``gpiomem`` mode.

The library runs for real (its refresh thread, its bit planes, its GPIO writes into the file),
only the LEDs are missing.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

PI4_REVISION = "c03114"             # Raspberry Pi 4 Model B, 4 GB
BCM2711_GPIO = 0xFE000000 + 0x200000  # where lib/gpio.cc maps the Pi 4's GPIO block
NOBODY = 65534

SETUP = r"""
work=$1; uid=$2; gid=$3; size=$4; shift 4
mkdir -p "$work/hostdev"
mount --bind /dev "$work/hostdev"
mount -t tmpfs -o mode=755 ihanoi-standin /dev
for node in null zero full random urandom; do
    touch "/dev/$node"; mount --bind "$work/hostdev/$node" "/dev/$node"
done
ln -s /proc/self/fd /dev/fd; ln -s fd/0 /dev/stdin; ln -s fd/1 /dev/stdout; ln -s fd/2 /dev/stderr
mkdir /dev/shm; mount -t tmpfs -o mode=1777 ihanoi-standin-shm /dev/shm
umount -l "$work/hostdev"
truncate -s "$size" /dev/gpiomem
chown "$uid:$gid" /dev/gpiomem; chmod 0660 /dev/gpiomem
mount --bind "$work/cpuinfo" /proc/cpuinfo
mount --bind "$work/sched_rt_runtime_us" /proc/sys/kernel/sched_rt_runtime_us
exec setpriv --reuid="$uid" --regid="$gid" --clear-groups --inh-caps=-all --bounding-set=-all -- "$@"
"""


def unavailable() -> str | None:
    """Why the stand-in cannot run here (None when it can)."""
    if os.geteuid() != 0:
        return "making a private mount namespace needs root"
    for tool in ("unshare", "setpriv", "truncate"):
        if shutil.which(tool) is None:
            return f"{tool} is missing (apt-get install util-linux coreutils)"
    return None


def prepare(work: Path, uid: int = NOBODY) -> Path:
    """The files the namespace shadows the host's with; ``work`` must be reachable by ``uid``."""
    work.mkdir(parents=True, exist_ok=True)
    os.chmod(work, 0o755)
    (work / "cpuinfo").write_text("processor\t: 0\nmodel name\t: ARMv8 Processor rev 3 (v8l)\n"
                                  f"Hardware\t: BCM2835\nRevision\t: {PI4_REVISION}\n"
                                  "Model\t\t: Raspberry Pi 4 Model B Rev 1.4\n")
    sched = work / "sched_rt_runtime_us"
    sched.write_text("950000\n")
    os.chown(sched, uid, -1)
    return work


def argv(command: list[str], work: Path, uid: int = NOBODY, gid: int = NOBODY) -> list[str]:
    """``command`` run inside the stand-in Pi 4, as ``uid``:``gid``."""
    size = BCM2711_GPIO + 4096
    return ["unshare", "--mount", "--propagation", "private", "--", "sh", "-ec", SETUP, "standin",
            str(work), str(uid), str(gid), str(size), *command]


def sched_rt_written(work: Path) -> int:
    """What the library wrote into the shadowed sched_rt_runtime_us."""
    return int((work / "sched_rt_runtime_us").read_text().strip())
