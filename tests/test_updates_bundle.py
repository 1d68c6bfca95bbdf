"""Bundles: what a device accepts and what it refuses, and why (signature, hashes, target, version)."""

from __future__ import annotations

import io
import json
import stat
import tarfile

import pytest

from edge.updates import bundle as bundles
from ihanoi.contract.keys import generate, load_private, load_public, load_trusted
from ihanoi.contract.errors import BundleRefused, KeyFileError
from ihanoi.tools.content import main as content_cli
from tests.updates_kit import make_bundle, make_keys


@pytest.fixture
def keys(tmp_path):
    return make_keys(tmp_path / "keys")


def refused(path, tmp_path, trusted, **kw) -> BundleRefused:
    with pytest.raises(BundleRefused) as info:
        bundles.open_bundle(path, tmp_path / "staging", trusted, **kw)
    return info.value


def rewrite(src, dest, change):
    """Copy a bundle tar member by member, letting ``change(name, data)`` alter or drop members."""
    with tarfile.open(src) as tar, tarfile.open(dest, "w") as out:
        for member in tar:
            data = tar.extractfile(member).read()
            data = change(member.name, data)
            if data is None:
                continue
            info = tarfile.TarInfo(member.name)
            info.size = len(data)
            out.addfile(info, io.BytesIO(data))
    return dest


def entry(name: str, data: bytes = b"", kind: bytes = tarfile.REGTYPE, link: str = ""):
    """One tar member to add to a bundle: a plain file with ``data``, or a folder or a link."""
    info = tarfile.TarInfo(name)
    info.type, info.linkname = kind, link
    info.size = len(data) if kind == tarfile.REGTYPE else 0
    return info, (io.BytesIO(data) if kind == tarfile.REGTYPE else None)


def with_members(src, dest, *after, before=()):
    """Copy a bundle tar member by member, with members added ``before`` and ``after`` its own."""
    with tarfile.open(src) as tar, tarfile.open(dest, "w") as out:
        for info, data in before:
            out.addfile(info, data)
        for member in tar:
            out.addfile(member, tar.extractfile(member))
        for info, data in after:
            out.addfile(info, data)
    return dest


def test_a_signed_bundle_extracts_with_every_file_checked(tmp_path, keys):
    key, pub = keys
    path = make_bundle(tmp_path, key, 4, units=["phuong-bach-mai"])
    manifest = bundles.open_bundle(path, tmp_path / "staging", load_trusted([pub]), "phuong-bach-mai",
                                   "hbt-bach-mai-01", floor=3)
    assert manifest.version == 4 and manifest.pack == "ihanoi-promo"
    assert sorted(p.name for p in (tmp_path / "staging" / "pack").iterdir()) == ["pack.toml", "title.png"]
    assert bundles.check_folder(tmp_path / "staging", load_trusted([pub])).version == 4


def test_one_changed_byte_in_a_pack_file_is_refused_as_tampered(tmp_path, keys):
    key, pub = keys
    path = make_bundle(tmp_path, key, 2)
    raw = bytearray(path.read_bytes())
    at = raw.index(b"iHanoi v2")           # inside pack/pack.toml, after the signed manifest
    raw[at] ^= 0x01
    path.write_bytes(bytes(raw))
    err = refused(path, tmp_path, load_trusted([pub]))
    assert err.reason == "tampered" and "pack.toml" in err.detail


def test_an_altered_manifest_no_longer_matches_its_signature(tmp_path, keys):
    key, pub = keys
    path = make_bundle(tmp_path, key, 2, units=["phuong-bach-mai"])

    def widen(name, data):
        if name == "manifest.json":
            manifest = json.loads(data)
            manifest["targets"]["units"] = "all"
            return json.dumps(manifest).encode()
        return data
    err = refused(rewrite(path, tmp_path / "widened.tar", widen), tmp_path, load_trusted([pub]))
    assert err.reason == "bad-signature" and "does not match" in err.detail


def test_unknown_key_unsigned_and_not_a_bundle_are_refused(tmp_path, keys):
    key, pub = keys
    stranger, _ = make_keys(tmp_path / "stranger", "stranger")
    path = make_bundle(tmp_path, stranger, 2)
    err = refused(path, tmp_path, load_trusted([pub]))
    assert err.reason == "bad-signature" and "does not trust" in err.detail

    good = make_bundle(tmp_path, key, 3)
    unsigned = rewrite(good, tmp_path / "unsigned.tar", lambda n, d: None if n == "manifest.sig" else d)
    assert refused(unsigned, tmp_path, load_trusted([pub])).reason == "unsigned"

    junk = tmp_path / "junk.tar"
    junk.write_bytes(b"not a tar at all" * 100)
    assert refused(junk, tmp_path, load_trusted([pub])).reason == "bad-bundle"


def test_files_outside_the_signed_list_are_refused(tmp_path, keys):
    key, pub = keys
    path = make_bundle(tmp_path, key, 2)
    extra = with_members(path, tmp_path / "extra.tar", entry("pack/../../evil.sh", b"boom"))
    err = refused(extra, tmp_path, load_trusted([pub]))
    assert err.reason == "tampered" and "evil.sh" in err.detail
    assert not (tmp_path / "evil.sh").exists()


def test_wrong_target_and_older_or_equal_versions_are_refused(tmp_path, keys):
    key, pub = keys
    trusted = load_trusted([pub])
    path = make_bundle(tmp_path, key, 5, units=["phuong-bach-mai"], devices=["hbt-bach-khoa-01"])
    err = refused(path, tmp_path, trusted, unit="phuong-bach-dang", device="hbt-bach-dang-01")
    assert err.reason == "wrong-target" and "phuong-bach-mai" in err.detail
    # a single device may be named next to the units
    bundles.open_bundle(path, tmp_path / "s2", trusted, "phuong-bach-khoa", "hbt-bach-khoa-01")
    assert refused(path, tmp_path, trusted, floor=5).reason == "not-newer"
    assert refused(path, tmp_path, trusted, floor=9).reason == "not-newer"


def test_two_trusted_keys_allow_rotation_but_not_three(tmp_path, keys):
    old_key, old_pub = keys
    new_key, new_pub = make_keys(tmp_path / "new", "new")
    trusted = load_trusted([old_pub, new_pub])
    for n, key in enumerate((old_key, new_key), start=1):
        bundles.open_bundle(make_bundle(tmp_path, key, n), tmp_path / f"s{n}", trusted)
    _, third = make_keys(tmp_path / "third", "third")
    with pytest.raises(KeyFileError, match="at most 2"):
        load_trusted([old_pub, new_pub, third])


def test_keygen_keeps_the_private_key_private_and_never_overwrites(tmp_path):
    kid = generate(tmp_path / "t.key", tmp_path / "t.pub")
    assert stat.S_IMODE((tmp_path / "t.key").stat().st_mode) == 0o600
    assert load_public(tmp_path / "t.pub").id == kid
    assert load_private(tmp_path / "t.key")
    with pytest.raises(KeyFileError, match="refusing to overwrite"):
        generate(tmp_path / "t.key", tmp_path / "t.pub")
    with pytest.raises(KeyFileError, match="keygen"):
        load_private(tmp_path / "missing.key")


def test_cli_build_then_verify_as_a_device(tmp_path, capsys):
    from tests.updates_kit import make_pack

    assert content_cli(["keygen", "--out", str(tmp_path / "k" / "tech")]) == 0
    pack = make_pack(tmp_path / "pack", "v1")
    out = tmp_path / "b.tar"
    assert content_cli(["build", str(pack), "--key", str(tmp_path / "k" / "tech.key"), "--version", "7",
                        "--unit", "phuong-bach-mai", "--panel", "p4-128x32", "--out", str(out)]) == 0
    pub = str(tmp_path / "k" / "tech.pub")
    assert content_cli(["verify", str(out), "--trusted", pub, "--unit", "phuong-bach-mai",
                        "--device", "hbt-bach-mai-01", "--panel", "p4-128x32"]) == 0
    assert content_cli(["verify", str(out), "--trusted", pub, "--installed-version", "7"]) == 1
    assert "refused: not-newer" in capsys.readouterr().err
    assert content_cli(["verify", str(out), "--trusted", pub, "--unit", "phuong-bach-dang"]) == 1
    assert "refused: wrong-target" in capsys.readouterr().err
    broken = make_pack(tmp_path / "broken", "v2", broken=True)
    assert content_cli(["build", str(broken), "--key", str(tmp_path / "k" / "tech.key"), "--version", "8",
                        "--all", "--panel", "p4-128x32", "--out", str(tmp_path / "c.tar")]) == 2
    assert "title.png" in capsys.readouterr().err and not (tmp_path / "c.tar").exists()


def test_an_installed_folder_with_a_file_or_its_manifest_gone_is_refused_as_tampered(tmp_path, keys):
    """The re-check after a power cut: a missing pack file, or a missing manifest or signature,
    is "tampered", naming what is missing."""
    key, pub = keys
    trusted = load_trusted([pub])
    staging = tmp_path / "staging"
    bundles.open_bundle(make_bundle(tmp_path, key, 4), staging, trusted)
    gone = staging / "pack" / "title.png"
    gone.unlink()
    with pytest.raises(BundleRefused) as info:
        bundles.check_folder(staging, trusted)
    assert (info.value.reason, info.value.detail) == (
        "tampered", f"{gone} is missing or differs from the signed manifest")
    for name in ("manifest.sig", "manifest.json"):
        (staging / name).unlink()
        with pytest.raises(BundleRefused) as info:
            bundles.check_folder(staging, trusted)
        assert (info.value.reason, info.value.detail) == (
            "tampered", f"{staging} is incomplete (No such file or directory: {staging / name})")


def test_a_manifest_that_is_not_one_is_refused_as_a_bad_bundle():
    for body in (b"{}", b"not json", json.dumps({"schema": "ihanoi.bundle/1"}).encode()):
        with pytest.raises(BundleRefused) as info:
            bundles.parse_manifest(body)
        assert info.value.reason == "bad-bundle"
        assert info.value.detail.startswith("manifest.json is not a bundle manifest (") and len(info.value.detail) > 40


def test_a_pack_with_nested_folders_extracts_whole(tmp_path, keys):
    from edge.updates.manifest import Targets
    from tests.updates_kit import CREATED, make_pack

    key, pub = keys
    pack = make_pack(tmp_path / "pack", "v2")
    deep = pack / "assets" / "fonts" / "licence.txt"
    deep.parent.mkdir(parents=True)
    deep.write_text("OFL", encoding="utf-8")
    path = tmp_path / "nested.tar"
    bundles.build(pack, path, key, 2, Targets(units="all"), CREATED)
    bundles.open_bundle(path, tmp_path / "staging", load_trusted([pub]))
    assert (tmp_path / "staging" / "pack" / "assets" / "fonts" / "licence.txt").read_text(encoding="utf-8") == "OFL"


def test_refusals_say_what_to_do(tmp_path, keys):
    key, pub = keys
    trusted = load_trusted([pub])
    good = make_bundle(tmp_path, key, 5)
    unsigned = rewrite(good, tmp_path / "unsigned.tar", lambda n, d: None if n == "manifest.sig" else d)
    assert refused(unsigned, tmp_path, trusted).detail == (
        "the bundle has no manifest.sig; only signed bundles are installed")
    assert refused(good, tmp_path, trusted, floor=7).detail == (
        "bundle version 5 is not above 7, the highest this device has installed; build a new version to replace it")


def test_signature_refusals_name_the_trusted_keys(tmp_path, keys):
    key, pub = keys
    other_key, other_pub = make_keys(tmp_path / "new", "new")
    trusted = load_trusted([pub, other_pub])
    good = make_bundle(tmp_path, key, 3)
    assert refused(good, tmp_path, ()).detail == "this device trusts no key (content.trusted_keys is empty)"
    assert refused(good, tmp_path, ()).reason == "bad-signature"
    stranger, _ = make_keys(tmp_path / "stranger", "stranger")
    detail = refused(make_bundle(tmp_path, stranger, 4), tmp_path, trusted).detail
    ids = ", ".join(k.id for k in trusted)
    assert len(trusted) == 2 and detail.endswith(f"which this device does not trust (trusted: {ids})")


def test_an_archive_without_a_manifest_or_with_an_oversized_one_or_compressed_is_a_bad_bundle(tmp_path, keys):
    import gzip

    from edge.updates.bundle import MAX_MANIFEST

    key, pub = keys
    trusted = load_trusted([pub])
    good = make_bundle(tmp_path, key, 3)
    bare = rewrite(good, tmp_path / "bare.tar", lambda n, d: None if n == "manifest.json" else d)
    err = refused(bare, tmp_path, trusted)
    assert (err.reason, err.detail) == ("bad-bundle", "the archive has no manifest.json; is it a bundle?")
    for name in ("manifest.json", "manifest.sig"):
        big = rewrite(good, tmp_path / "big.tar", lambda n, d: d + b" " * MAX_MANIFEST if n == name else d)
        err = refused(big, tmp_path, trusted)
        assert err.reason == "bad-bundle" and err.detail.startswith(f"{name} is ")
        assert err.detail.endswith(f"the limit is {MAX_MANIFEST}")
    packed = tmp_path / "bundle.tar.gz"
    packed.write_bytes(gzip.compress(good.read_bytes()))
    err = refused(packed, tmp_path, trusted)
    assert err.reason == "bad-bundle" and err.detail.startswith("bundle.tar.gz is not a readable tar archive")


def test_every_file_of_the_manifest_must_be_there_whole_and_nothing_else(tmp_path, keys):
    key, pub = keys
    trusted = load_trusted([pub])
    good = make_bundle(tmp_path, key, 3)
    size = {m.name: m.size for m in tarfile.open(good)}["pack/title.png"]
    missing = rewrite(good, tmp_path / "missing.tar", lambda n, d: None if n == "pack/title.png" else d)
    err = refused(missing, tmp_path, trusted)
    assert (err.reason, err.detail) == ("tampered", "file title.png is listed in the manifest but missing")
    longer = rewrite(good, tmp_path / "longer.tar", lambda n, d: d + b"!" if n == "pack/title.png" else d)
    err = refused(longer, tmp_path, trusted)
    assert (err.reason, err.detail) == ("tampered", f"file title.png is {size + 1} bytes, the manifest says {size}")
    extra = with_members(good, tmp_path / "extra.tar", entry("pack/b.txt", b"x"), entry("pack/a.txt", b"x"))
    err = refused(extra, tmp_path, trusted)
    assert (err.reason, err.detail) == ("tampered", "files not in the signed manifest: pack/a.txt, pack/b.txt")


def test_folders_in_the_archive_are_passed_over_and_links_refused(tmp_path, keys):
    key, pub = keys
    trusted = load_trusted([pub])
    good = make_bundle(tmp_path, key, 3)
    with_dirs = with_members(good, tmp_path / "dirs.tar", before=[entry("pack", kind=tarfile.DIRTYPE)])
    assert bundles.open_bundle(with_dirs, tmp_path / "staging", trusted).version == 3
    linked = with_members(good, tmp_path / "linked.tar", entry("pack/passwd", kind=tarfile.SYMTYPE, link="/etc/passwd"))
    err = refused(linked, tmp_path, trusted)
    assert (err.reason, err.detail) == (
        "bad-bundle", "pack/passwd is a link or device file; bundles hold plain files only")


def test_a_name_twice_in_the_archive_is_a_bad_bundle_and_the_size_limit_is_inclusive(tmp_path, keys):
    from edge.updates.bundle import MAX_MANIFEST

    key, pub = keys
    trusted = load_trusted([pub])
    good = make_bundle(tmp_path, key, 3)
    twice = with_members(good, tmp_path / "twice.tar", entry("pack/title.png", b"x"))
    err = refused(twice, tmp_path, trusted)
    assert (err.reason, err.detail) == ("bad-bundle", "pack/title.png appears twice in the archive")
    # a signature of exactly the limit is read (and then fails as a signature), one byte more is not
    at_limit = rewrite(good, tmp_path / "limit.tar", lambda n, d: b"s" * MAX_MANIFEST if n == "manifest.sig" else d)
    assert refused(at_limit, tmp_path, trusted).reason == "bad-signature"
    over = rewrite(good, tmp_path / "over.tar", lambda n, d: b"s" * (MAX_MANIFEST + 1) if n == "manifest.sig" else d)
    err = refused(over, tmp_path, trusted)
    assert (err.reason, err.detail) == (
        "bad-bundle", f"manifest.sig is {MAX_MANIFEST + 1} bytes; the limit is {MAX_MANIFEST}")
