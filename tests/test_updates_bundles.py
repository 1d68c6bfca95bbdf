"""Several bundles on one board: the promo and a campaign's bundle side by side, each with its own rules.

Each bundle name has its own versions ("not-newer" per name, judged before any download), its
own switch, previous and roll-back; a power cut while one switches leaves the other alone; a
board whose content folder was made before several bundles keeps its installed promo.
"""

from __future__ import annotations

import signal
import tarfile
from pathlib import Path

import io
import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edge.updates.bundle import check_folder
from edge.updates.installer import Installer
from edge.updates.manifest import MANIFEST
from edge.updates.store import SHELF, adopt_old_layout
from ihanoi.contract.clock import RealClock
from ihanoi.contract.keys import load_private, load_trusted
from tests.test_updates_installer import serve, server  # noqa: F401 (the bundle server fixture)
from tests.test_updates_powercut import install_in_child
from tests.updates_kit import compiler, desired_for, make_bundle, make_keys, pack_label

UNIT, DEVICE = "phuong-bach-mai", "hbt-bach-mai-01"
PROMO, VNEID = "ihanoi-promo", "vneid-promo"
OLD_LAYOUT = Path(__file__).parent / "data" / "old-content-layout.tar.gz"


def installer(tmp_path, pub, **kw):
    return Installer(tmp_path / "device", DEVICE, UNIT, [pub], compiler(tmp_path / "frames"), RealClock(),
                     fallback=tmp_path / "builtin", promo=PROMO, **kw)


def offer(inst, server, path, version, bundle=PROMO):
    return inst.handle(desired_for(path, serve(server, path), version, bundle))


def campaign_bundle(tmp_path, key, version, name=None, units=(UNIT,)):
    return make_bundle(tmp_path, key, version, units=list(units), pack_id=VNEID, name=name or f"vneid-v{version}")


def test_a_campaigns_bundle_is_installed_beside_the_promo_with_versions_of_its_own(tmp_path, server):
    key, pub = make_keys(tmp_path / "keys")
    inst = installer(tmp_path, pub)
    assert offer(inst, server, make_bundle(tmp_path, key, 3, units=[UNIT]), 3).state == "installed"
    # version 1 of another bundle: below the promo's 3, and yet new for its own name
    assert offer(inst, server, campaign_bundle(tmp_path, key, 1), 1, VNEID).state == "installed"
    assert pack_label(inst.current_pack()) == "v3"                       # the promo is still the promo
    assert pack_label(inst.pack_of(VNEID, VNEID)) == "v1"
    assert inst.pack_of(None, VNEID) == inst.pack_of(VNEID, "")          # found by its pack id too
    assert inst.pack_of(None, "bau-cu-promo") is None

    status = inst.status()
    assert (status["content_id"], status["content_version"]) == (PROMO, 3)
    assert status["details"]["bundles"] == {PROMO: {"version": 3, "pack": PROMO, "pack_version": "v3"},
                                            VNEID: {"version": 1, "pack": VNEID, "pack_version": "v1"}}
    assert status["details"]["update"]["bundle"] == VNEID                # the last result of any bundle

    # the version rules hold per bundle: no replay of either, and nothing downloaded to find out
    requests = len(server.ranges)
    for path, version, bundle in ((campaign_bundle(tmp_path, key, 1, "vneid-again", [UNIT, "phuong-bach-dang"]), 1,
                                   VNEID), (make_bundle(tmp_path, key, 2, units=[UNIT], name="promo-old"), 2, PROMO)):
        result = offer(inst, server, path, version, bundle)
        assert (result.state, result.reason) == ("refused", "not-newer")
        assert bundle in result.detail
    assert len(server.ranges) == requests
    # each moves on by itself, keeping its own previous
    assert offer(inst, server, campaign_bundle(tmp_path, key, 2), 2, VNEID).state == "installed"
    assert pack_label(inst.pack_of(VNEID, VNEID)) == "v2" and pack_label(inst.current_pack()) == "v3"
    assert pack_label(inst.slot(VNEID).store.target("previous") / "pack") == "v1"
    assert inst.slot(PROMO).store.target("previous") is None

    # a restart finds both
    again = installer(tmp_path, pub)
    assert pack_label(again.current_pack()) == "v3" and pack_label(again.pack_of(VNEID, VNEID)) == "v2"


def test_an_announcement_naming_another_bundle_than_its_signed_manifest_is_refused(tmp_path, server):
    key, pub = make_keys(tmp_path / "keys")
    inst = installer(tmp_path, pub)
    assert offer(inst, server, make_bundle(tmp_path, key, 5, units=[UNIT]), 5).state == "installed"
    # the promo's v6 announced as the campaign's bundle: it must not land in (or replace) another name
    result = offer(inst, server, make_bundle(tmp_path, key, 6, units=[UNIT], name="promo-v6"), 6, VNEID)
    assert (result.state, result.reason) == ("refused", "bad-bundle")
    assert "signed manifest is bundle ihanoi-promo" in result.detail
    assert pack_label(inst.current_pack()) == "v5" and inst.pack_of(VNEID, VNEID) is None
    assert inst.slot(PROMO).highest_version == 5 and inst.slot(VNEID).highest_version == 0


def test_a_bundle_file_on_the_board_goes_to_the_slot_its_manifest_names(tmp_path):
    key, pub = make_keys(tmp_path / "keys")
    inst = installer(tmp_path, pub)
    assert inst.install_file(campaign_bundle(tmp_path, key, 4)).state == "installed"
    assert inst.current_pack() == tmp_path / "builtin" and pack_label(inst.pack_of(None, VNEID)) == "v4"
    junk = tmp_path / "junk.tar"
    junk.write_bytes(b"not a tar at all")
    assert inst.install_file(junk).reason == "bad-bundle"


@pytest.mark.parametrize("step", ["verify", "stage", "switch-previous", "switch-current", "load", "commit"])
def test_a_power_cut_while_one_bundle_switches_leaves_the_other_untouched(tmp_path, step):
    key, pub = make_keys(tmp_path / "keys")
    first = Installer(tmp_path / "device", DEVICE, UNIT, [pub], compiler(tmp_path / "frames"), RealClock(),
                      fallback=tmp_path / "builtin")
    promo = make_bundle(tmp_path, key, 7, units=[UNIT])
    assert first.handle(desired_for(promo, promo.as_uri(), 7)).state == "installed"
    v1 = campaign_bundle(tmp_path, key, 1)
    assert first.handle(desired_for(v1, v1.as_uri(), 1, VNEID)).state == "installed"
    promo_files = sorted((p.relative_to(tmp_path), p.read_bytes()) for p in
                         (tmp_path / "device" / "content" / SHELF / PROMO).rglob("*") if p.is_file())

    child = install_in_child(tmp_path, pub, campaign_bundle(tmp_path, key, 2), 2, step, VNEID)
    assert child.returncode == -signal.SIGKILL, child.stderr

    after = installer(tmp_path, pub)                   # the power is back
    assert sorted((p.relative_to(tmp_path), p.read_bytes()) for p in
                  (tmp_path / "device" / "content" / SHELF / PROMO).rglob("*") if p.is_file()) == promo_files
    assert pack_label(after.current_pack()) == "v7" and after.installed_version == 7
    playing = after.pack_of(VNEID, VNEID)
    check_folder(playing.parent, load_trusted([pub]))
    assert pack_label(playing) == ("v2" if step in {"load", "commit"} else "v1")


def unpack_old_layout(tmp_path: Path) -> tuple[Path, Path]:
    """A board's data folder as the single-bundle installer left it: promo v2 current, v1 previous."""
    with tarfile.open(OLD_LAYOUT) as tar:
        tar.extractall(tmp_path / "device", filter="tar")
    keys = tmp_path / "device" / "keys"
    return keys / "old-layout.key", keys / "old-layout.pub"


def test_a_board_upgraded_in_place_keeps_its_installed_promo_without_a_download(tmp_path, server):
    private, pub = unpack_old_layout(tmp_path)
    assert (tmp_path / "device" / "content" / "state.json").is_file()     # the old layout, as it was made
    inst = installer(tmp_path, pub)
    assert sorted(p.name for p in (tmp_path / "device" / "content").iterdir()) == [SHELF]
    assert pack_label(inst.current_pack()) == "v2" and inst.installed_version == 2
    assert pack_label(inst.slot(PROMO).store.target("previous") / "pack") == "v1"
    assert inst.status()["content_version"] == 2 and inst.status()["content_id"] == PROMO

    # the retained announcement of v2 (the same file: builds are reproducible) is still there: nothing to do,
    # nothing downloaded
    v2 = make_bundle(tmp_path, load_private(private), 2, units=[UNIT], name="v2-as-announced")
    result = offer(inst, server, v2, 2)
    assert (result.state, result.version) == ("installed", 2) and server.ranges == []
    # its highest version came along: a replay of v1 is refused; v3 installs and v2 becomes previous
    assert offer(inst, server, make_bundle(tmp_path, load_private(private), 1, units=[UNIT]), 1).reason == "not-newer"
    assert offer(inst, server, make_bundle(tmp_path, load_private(private), 3, units=[UNIT]), 3).state == "installed"
    assert pack_label(inst.slot(PROMO).store.target("previous") / "pack") == "v2"


def test_a_power_cut_between_the_two_renames_of_the_adoption_is_finished_at_the_next_start(tmp_path):
    _private, pub = unpack_old_layout(tmp_path)
    content = tmp_path / "device" / "content"
    parking = content.with_name("content.adopting")
    (parking / SHELF).mkdir(parents=True)
    content.rename(parking / SHELF / PROMO)            # the first rename done, the second not
    assert pack_label(installer(tmp_path, pub).current_pack()) == "v2"
    assert not parking.exists()


def test_an_old_folder_with_nothing_installed_is_cleared(tmp_path):
    content = tmp_path / "content"
    for name in ("bundles", "downloads", "staging"):
        (content / name).mkdir(parents=True)
    assert adopt_old_layout(content) is None and not content.exists()


def _tar_with_manifest(body: bytes) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as tar:
        info = tarfile.TarInfo(MANIFEST)
        info.size = len(body)
        tar.addfile(info, io.BytesIO(body))
    return out.getvalue()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(raw=st.one_of(st.binary(max_size=2048),
                     st.builds(lambda name: _tar_with_manifest(json.dumps({"bundle": name}).encode()),
                               st.one_of(st.text(max_size=80), st.integers(), st.none())),
                     st.builds(_tar_with_manifest, st.binary(max_size=512))))
def test_any_bytes_as_a_bundle_file_are_refused_and_change_nothing(tmp_path, raw):
    """A bundle file's claimed name picks its place only once signed: junk, odd names, a path in the name."""
    pub = tmp_path / "keys" / "tech.pub"
    if not pub.exists():                    # one key pair for every example
        make_keys(tmp_path / "keys")
    inst = installer(tmp_path, pub)
    path = tmp_path / "suspect.tar"
    path.write_bytes(raw)
    result = inst.install_file(path)
    assert result.state == "refused" and result.reason in {"bad-bundle", "unsigned"}
    assert inst.status()["details"].get("bundles") is None and inst.current_pack() == tmp_path / "builtin"
    shelf = tmp_path / "device" / "content" / SHELF
    assert all(folder.parent == shelf and ".." not in folder.name for folder in shelf.iterdir())
