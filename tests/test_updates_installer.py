"""The device's installer: installs, keeps the previous bundle, refuses and rolls back, resumes downloads."""

from __future__ import annotations

import shutil
from datetime import datetime

import pytest

from edge.updates.installer import Installer
from ihanoi.contract.clock import RealClock
from tests.updates_kit import (
    BundleServer,
    compiler,
    desired_for,
    make_bundle,
    make_keys,
    pack_label,
)

UNIT, DEVICE = "phuong-bach-mai", "hbt-bach-mai-01"


@pytest.fixture
def keys(tmp_path):
    return make_keys(tmp_path / "keys")


@pytest.fixture
def server(tmp_path):
    srv = BundleServer(tmp_path / "served")
    yield srv
    srv.close()


def installer(tmp_path, pub, **kw):
    kw.setdefault("compile_fn", compiler(tmp_path / "frames"))
    return Installer(tmp_path / "device", DEVICE, UNIT, [pub], clock=RealClock(), **kw)


def serve(server, path):
    shutil.copy(path, server.folder / path.name)
    return f"{server.url}/bundles/{path.name}"


def test_installs_newer_bundles_and_keeps_the_previous_one(tmp_path, keys, server):
    key, pub = keys
    fallback = tmp_path / "builtin"
    inst = installer(tmp_path, pub, fallback=fallback)
    assert inst.current_pack() == fallback and inst.status()["content_version"] is None
    for version in (1, 2):
        path = make_bundle(tmp_path, key, version, units=[UNIT])
        result = inst.handle(desired_for(path, serve(server, path), version))
        assert result.state == "installed" and result.version == version
    assert pack_label(inst.current_pack()) == "v2"
    assert pack_label(inst.slot("ihanoi-promo").store.target("previous") / "pack") == "v1"
    assert sorted(p.name for p in inst.slot("ihanoi-promo").store.bundles.iterdir()) == ["1", "2"]
    status = inst.status()
    assert status["content_version"] == 2 and status["details"]["update"]["state"] == "installed"
    # the same retained command again (a reconnect) is not a refusal
    assert inst.handle(desired_for(path, serve(server, path), 2)).state == "installed"


@pytest.mark.parametrize("case", ["one-byte", "unknown-key", "replayed-older", "does-not-compile", "wrong-target"])
def test_refusals_keep_the_old_content_playing(tmp_path, keys, server, case):
    key, pub = keys
    inst = installer(tmp_path, pub)
    good = make_bundle(tmp_path, key, 5, units=[UNIT])
    assert inst.handle(desired_for(good, serve(server, good), 5)).state == "installed"
    if case == "one-byte":
        bad = make_bundle(tmp_path, key, 6, units=[UNIT])
        raw = bytearray(bad.read_bytes())
        raw[raw.index(b"iHanoi v6")] ^= 0x20
        bad.write_bytes(bytes(raw))
        version, reason = 6, "tampered"
    elif case == "unknown-key":
        stranger, _ = make_keys(tmp_path / "stranger", "stranger")
        bad, version, reason = make_bundle(tmp_path, stranger, 6, units=[UNIT]), 6, "bad-signature"
    elif case == "replayed-older":
        bad, version, reason = make_bundle(tmp_path, key, 4, units=[UNIT], name="old"), 4, "not-newer"
    elif case == "does-not-compile":
        bad, version, reason = make_bundle(tmp_path, key, 6, units=[UNIT], broken=True), 6, "compile-failed"
    else:
        bad, version, reason = make_bundle(tmp_path, key, 6, units=["phuong-bach-dang"]), 6, "wrong-target"
    result = inst.handle(desired_for(bad, serve(server, bad), version))
    assert (result.state, result.reason) == ("refused", reason)
    assert pack_label(inst.current_pack()) == "v5"
    assert inst.status()["details"]["update"]["reason"] == reason
    assert inst.status()["content_version"] == 5
    if case == "does-not-compile":
        assert "title.png" in result.detail
    if case != "replayed-older":      # a file that was judged is never fetched again: the same answer
        requests = len(server.ranges)
        assert inst.handle(desired_for(bad, serve(server, bad), version)) == result
        assert len(server.ranges) == requests


def test_a_replayed_older_bundle_is_refused_even_when_the_announcement_lies(tmp_path, keys, server):
    key, pub = keys
    inst = installer(tmp_path, pub)
    v3 = make_bundle(tmp_path, key, 3, units=[UNIT])
    old = make_bundle(tmp_path, key, 2, units=[UNIT])
    assert inst.handle(desired_for(v3, serve(server, v3), 3)).state == "installed"
    result = inst.handle(desired_for(old, serve(server, old), 9))   # claims 9, the signed manifest says 2
    assert (result.state, result.reason) == ("refused", "not-newer")


def test_the_highest_version_survives_a_restart_so_no_rollback(tmp_path, keys, server):
    key, pub = keys
    inst = installer(tmp_path, pub)
    for v in (1, 2):
        path = make_bundle(tmp_path, key, v, units=[UNIT])
        inst.handle(desired_for(path, serve(server, path), v))
    again = installer(tmp_path, pub)
    assert again.installed_version == 2 and pack_label(again.current_pack()) == "v2"
    v1 = tmp_path / "bundle-v1.tar"
    result = again.handle(desired_for(v1, serve(server, v1), 1))
    assert result.reason == "not-newer" and pack_label(again.current_pack()) == "v2"


def test_a_bundle_that_fails_to_load_after_the_switch_is_rolled_back(tmp_path, keys, server):
    key, pub = keys
    compile_fn = compiler(tmp_path / "frames")

    def load(pack):
        if pack_label(pack) == "v2":
            raise RuntimeError("frame cache unreadable")
        return compile_fn(pack)
    inst = installer(tmp_path, pub, compile_fn=compile_fn, load_fn=load)
    for v in (1, 2):
        path = make_bundle(tmp_path, key, v, units=[UNIT])
        result = inst.handle(desired_for(path, serve(server, path), v))
    assert (result.state, result.reason) == ("refused", "load-failed")
    assert pack_label(inst.current_pack()) == "v1"
    assert pack_label(installer(tmp_path, pub, compile_fn=compile_fn, load_fn=load).current_pack()) == "v1"


def test_a_half_downloaded_bundle_resumes_and_never_installs_half(tmp_path, keys, server):
    key, pub = keys
    inst = installer(tmp_path, pub)
    path = make_bundle(tmp_path, key, 1, units=[UNIT])
    desired = desired_for(path, serve(server, path), 1)
    data = path.read_bytes()
    part = inst.slot("ihanoi-promo").store.downloads / f"{desired.sha256}.tar.part"
    part.write_bytes(data[: len(data) // 2])          # the power went at half way
    assert inst.current_pack() is None
    result = inst.handle(desired)
    assert result.state == "installed"
    assert server.ranges == [f"bytes={len(data) // 2}-"]
    assert not part.exists()


def test_a_corrupt_partial_download_restarts_from_zero(tmp_path, keys, server):
    key, pub = keys
    inst = installer(tmp_path, pub)
    path = make_bundle(tmp_path, key, 1, units=[UNIT])
    desired = desired_for(path, serve(server, path), 1)
    part = inst.slot("ihanoi-promo").store.downloads / f"{desired.sha256}.tar.part"
    part.write_bytes(b"\0" * 1000)                    # garbage, not a prefix of the bundle
    first = inst.handle(desired)
    assert (first.state, first.reason) == ("failed", "download") and inst.current_pack() is None
    assert inst.handle(desired).state == "installed"
    assert server.ranges == ["bytes=1000-", None]


def test_an_unreachable_server_leaves_the_device_as_it_was(tmp_path, keys, caplog):
    key, pub = keys
    inst = installer(tmp_path, pub, fallback=tmp_path / "builtin")
    path = make_bundle(tmp_path, key, 1)
    desired = desired_for(path, "http://127.0.0.1:9/bundles/x.tar", 1)
    with caplog.at_level("WARNING", logger="edge.updates.installer"):
        result = inst.handle(desired)
    assert (result.state, result.version, result.bundle, result.reason) == ("failed", 1, "ihanoi-promo", "download")
    assert result.detail.startswith("http://127.0.0.1:9/bundles/x.tar: cannot download")
    assert result.detail in [r.getMessage() for r in caplog.records]
    assert inst.current_pack() == tmp_path / "builtin"
    # a local file (a USB stick) installs the same way
    assert inst.handle(desired.model_copy(update={"url": path.as_uri()})).state == "installed"
    assert inst.installed_version == 1


def test_an_announcement_no_newer_than_the_installed_bundle_is_refused_before_any_download(tmp_path, keys, server):
    key, pub = keys
    inst = installer(tmp_path, pub)
    v5 = make_bundle(tmp_path, key, 5, units=[UNIT])
    assert inst.handle(desired_for(v5, serve(server, v5), 5)).state == "installed"
    requests = len(server.ranges)
    # v5 again but another bundle file (other targets), and an older one
    for version, name in ((5, "same-version-other-bundle"), (4, "older")):
        again = make_bundle(tmp_path, key, version, units=[UNIT, "phuong-bach-dang"], name=name)
        assert again.read_bytes() != v5.read_bytes()
        result = inst.handle(desired_for(again, serve(server, again), version))
        assert (result.state, result.reason) == ("refused", "not-newer")
        assert len(server.ranges) == requests, f"v{version}: the device downloaded a bundle it must refuse"
    assert pack_label(inst.current_pack()) == "v5"


def test_an_installed_bundle_altered_on_disk_is_caught_at_the_next_start(tmp_path, keys, server, caplog):
    """After a power cut every file of the installed bundle is checked again: whichever one is
    damaged, the board falls back to the previous bundle instead of playing it."""
    from edge.updates.manifest import PACK_DIR

    key, pub = keys
    inst = installer(tmp_path, pub)
    for v in (1, 2):
        path = make_bundle(tmp_path, key, v, units=[UNIT])
        assert inst.handle(desired_for(path, serve(server, path), v)).state == "installed"
    store = inst.slot("ihanoi-promo").store
    pack = store.target("current") / PACK_DIR
    files = sorted(p.relative_to(pack) for p in pack.rglob("*") if p.is_file())
    assert len(files) >= 2
    pristine = tmp_path / "pristine"
    shutil.copytree(tmp_path / "device", pristine, symlinks=True)
    for name in files:
        shutil.rmtree(tmp_path / "device")
        shutil.copytree(pristine, tmp_path / "device", symlinks=True)
        damaged = tmp_path / "device" / store.target("current").relative_to(tmp_path / "device") / PACK_DIR / name
        data = bytearray(damaged.read_bytes())
        data[len(data) // 2] ^= 0x01
        damaged.write_bytes(bytes(data))
        caplog.clear()
        restarted = installer(tmp_path, pub)
        assert pack_label(restarted.current_pack()) == "v1", f"a changed byte in {name} went unnoticed"
        assert (f"the current bundle {tmp_path / 'device' / 'content' / 'by-name' / 'ihanoi-promo' / 'bundles' / '2'} cannot be used: "
                f"tampered: {damaged} is missing or differs from the signed manifest") in [
                    r.getMessage() for r in caplog.records]


def test_the_same_announcement_again_answers_with_the_install_already_made(tmp_path, keys, server):
    """A retained command comes again at every reconnect: the answer is the install that was made
    (its own time), not a new one; after a refusal of another file, still "installed"."""
    key, pub = keys
    inst = installer(tmp_path, pub)
    v2 = make_bundle(tmp_path, key, 2, units=[UNIT])
    desired = desired_for(v2, serve(server, v2), 2)
    installed = inst.handle(desired)
    assert installed.state == "installed"
    assert inst.handle(desired) == installed
    other = make_bundle(tmp_path, key, 2, units=[UNIT, "phuong-bach-dang"], name="other")
    assert inst.handle(desired_for(other, serve(server, other), 2)).state == "refused"
    again = inst.handle(desired)
    assert (again.state, again.version, again.bundle, again.reason) == ("installed", 2, "ihanoi-promo", None)


def test_after_state_json_is_lost_the_installed_bundle_is_still_the_installed_one(tmp_path, keys, server):
    key, pub = keys
    inst = installer(tmp_path, pub)
    v1 = make_bundle(tmp_path, key, 1, units=[UNIT])
    desired = desired_for(v1, serve(server, v1), 1)
    assert inst.handle(desired).state == "installed"
    (inst.slot("ihanoi-promo").store.root / "state.json").unlink()
    requests = len(server.ranges)
    restarted = installer(tmp_path, pub)
    assert restarted.installed_version == 1
    result = restarted.handle(desired)
    assert (result.state, result.version, result.bundle, result.reason) == ("installed", 1, "ihanoi-promo", None)
    assert len(server.ranges) == requests


def test_an_install_reports_its_steps_and_a_not_newer_refusal_is_judged_again_each_time(tmp_path, keys, server,
                                                                                      caplog):
    """The download is announced as a step and logged; "not newer" depends on what is installed,
    not on the file, so it is never remembered as a refused file."""
    key, pub = keys
    steps = []
    inst = installer(tmp_path, pub, on_step=lambda step, version: steps.append((step, version)))
    v5 = make_bundle(tmp_path, key, 5, units=[UNIT])
    url = serve(server, v5)
    with caplog.at_level("INFO", logger="edge.updates"):
        assert inst.handle(desired_for(v5, url, 5)).state == "installed"
    assert steps[0] == ("download", 5)
    size = v5.stat().st_size
    assert f"downloading bundle ihanoi-promo v5 ({size} bytes) from {url}" in [r.getMessage() for r in caplog.records]
    assert f"bundle ihanoi-promo v5: {size} of {size} bytes (100 %)" in caplog.text, "the download's progress is logged"
    # a caller's own progress callback is used instead
    v6, seen = make_bundle(tmp_path, key, 6, units=[UNIT]), []
    result = inst.handle(desired_for(v6, serve(server, v6), 6), progress=lambda done, total: seen.append(done))
    assert result.version == 6
    assert seen[-1] == v6.stat().st_size
    other = make_bundle(tmp_path, key, 6, units=[UNIT, "phuong-bach-dang"], name="other")
    desired = desired_for(other, serve(server, other), 6)
    first = inst.handle(desired)
    assert (first.state, first.version, first.bundle, first.reason) == ("refused", 6, "ihanoi-promo", "not-newer")
    assert first.detail == "announced version 6 is not above 6, the highest of bundle ihanoi-promo installed here"
    assert desired.sha256 not in [r["sha256"] for r in inst.slot("ihanoi-promo").store.read_state().get("refused", [])]
    again = inst.handle(desired)
    assert datetime.fromisoformat(again.at) > datetime.fromisoformat(first.at), "judged again, not answered from memory"


def test_a_bundle_server_with_the_districts_own_certificate_is_trusted_through_ca_file(tmp_path, keys):
    """HTTPS to a server whose certificate no public CA signed: refused without the CA file, installed with it."""
    import subprocess

    cert, private = tmp_path / "server.crt", tmp_path / "server.key"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(private), "-out",
                    str(cert), "-days", "2", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
                   check=True, capture_output=True)
    server = BundleServer(tmp_path / "served", tls=(cert, private))
    try:
        key, pub = keys
        path = make_bundle(tmp_path, key, 1, units=[UNIT])
        desired = desired_for(path, serve(server, path), 1)
        assert desired.url.startswith("https://")
        result = installer(tmp_path / "no-ca", pub).handle(desired)
        assert (result.state, result.reason) == ("failed", "download") and "CERTIFICATE_VERIFY_FAILED" in result.detail
        assert installer(tmp_path / "with-ca", pub, ca_file=cert).handle(desired).state == "installed"
    finally:
        server.close()
