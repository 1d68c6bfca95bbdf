"""Power cut (SIGKILL) at every step of an install: the board plays the old or the new content, never nothing.

The install runs in a child process (this module run with ``-m``) whose step hook kills it
with SIGKILL at the named step; the test then starts an installer on the same data folder,
as the agent does after the power returns, and looks at what it would play.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from edge.updates.bundle import check_folder
from edge.updates.installer import STEPS, Installer
from ihanoi.contract.keys import load_trusted
from ihanoi.contract.clock import RealClock
from tests.updates_kit import compiler, desired_for, make_bundle, make_keys, pack_label

UNIT, DEVICE = "phuong-bach-mai", "hbt-bach-mai-01"
ROOT = Path(__file__).resolve().parent.parent
SWITCHED = {"load", "commit", "cleanup"}    # the new bundle is current from here on


def open_installer(tmp: Path, pub: Path) -> Installer:
    return Installer(tmp / "device", DEVICE, UNIT, [pub], compiler(tmp / "frames"), RealClock(),
                     fallback=tmp / "builtin")


def install_in_child(tmp: Path, pub: Path, bundle: Path, version: int, crash_at: str | None,
                     name: str = "ihanoi-promo"):
    desired = desired_for(bundle, bundle.as_uri(), version, name)
    return subprocess.run([sys.executable, "-m", "tests.test_updates_powercut", str(tmp), str(pub),
                           desired.to_bytes().decode(), crash_at or "-"], cwd=ROOT, capture_output=True,
                          text=True, timeout=60)


@pytest.mark.parametrize("step", STEPS)
def test_power_cut_at_each_step_leaves_old_or_new_content(tmp_path, step):
    key, pub = make_keys(tmp_path / "keys")
    v1 = make_bundle(tmp_path, key, 1, units=[UNIT])
    assert open_installer(tmp_path, pub).handle(desired_for(v1, v1.as_uri(), 1)).state == "installed"
    v2 = make_bundle(tmp_path, key, 2, units=[UNIT])

    child = install_in_child(tmp_path, pub, v2, 2, step)
    assert child.returncode == -signal.SIGKILL, child.stderr

    after = open_installer(tmp_path, pub)               # the power is back
    playing = after.current_pack()
    assert playing is not None and playing != tmp_path / "builtin"
    check_folder(playing.parent, load_trusted([pub]))   # complete and signed, not half of anything
    assert pack_label(playing) == ("v2" if step in SWITCHED else "v1")
    assert after.installed_version == (2 if step in SWITCHED else 1)
    assert not any(after.slot("ihanoi-promo").store.staging.iterdir())
    # the retained command is still there: the device finishes the job
    result = after.handle(desired_for(v2, v2.as_uri(), 2))
    assert result.state == "installed" and pack_label(after.current_pack()) == "v2"
    assert pack_label(after.slot("ihanoi-promo").store.target("previous") / "pack") == "v1"


@pytest.mark.parametrize("step", ["stage", "switch-current", "load"])
def test_power_cut_during_the_first_install_falls_back_to_the_configured_pack(tmp_path, step):
    key, pub = make_keys(tmp_path / "keys")
    v1 = make_bundle(tmp_path, key, 1, units=[UNIT])
    child = install_in_child(tmp_path, pub, v1, 1, step)
    assert child.returncode == -signal.SIGKILL, child.stderr
    playing = open_installer(tmp_path, pub).current_pack()
    if step == "load":                                  # switched before the cut: recovery commits it
        assert pack_label(playing) == "v1"
    else:
        assert playing == tmp_path / "builtin"


def test_without_a_power_cut_the_child_installs(tmp_path):
    key, pub = make_keys(tmp_path / "keys")
    v1 = make_bundle(tmp_path, key, 1, units=[UNIT])
    child = install_in_child(tmp_path, pub, v1, 1, None)
    assert child.returncode == 0 and "installed" in child.stdout, child.stderr
    assert pack_label(open_installer(tmp_path, pub).current_pack()) == "v1"


def _child(tmp: str, pub: str, desired_json: str, crash_at: str) -> None:
    from edge.updates.manifest import parse_desired

    def hook(step: str, version: int) -> None:
        if step == crash_at:
            os.kill(os.getpid(), signal.SIGKILL)
    tmp_path = Path(tmp)
    inst = Installer(tmp_path / "device", DEVICE, UNIT, [Path(pub)], compiler(tmp_path / "frames"), RealClock(),
                     fallback=tmp_path / "builtin", on_step=hook)
    print(inst.handle(parse_desired(desired_json.encode())).state, flush=True)


if __name__ == "__main__":
    _child(*sys.argv[1:5])
