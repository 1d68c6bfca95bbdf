"""Build a signed bundle from a content pack, and open one the way a device does.

``build`` hashes every file of the pack, writes the manifest, signs its exact bytes with the
technician's Ed25519 key and writes one tar (written to a temporary name, then renamed).
``open_bundle`` checks, in this order, and stops at the first problem with its reason:
the archive is readable and holds only the manifest, its signature and ``pack/`` files
(``bad-bundle``); there is a signature (``unsigned``) made by a trusted key over these exact
manifest bytes (``bad-signature``); the manifest is valid (``bad-bundle``); it targets this
unit or device (``wrong-target``); its version is above ``floor`` (``not-newer``); then it
extracts only the listed files, each checked for size and SHA-256 while it is written
(``tampered``). Nothing outside the staging folder is ever written.
"""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import tarfile
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path

from pydantic import ValidationError

from edge.content.manifest import load_manifest, pack_files
from ihanoi.contract.keys import TrustedKey, key_id
from edge.updates.manifest import (
    MANIFEST,
    MAX_MANIFEST,
    PACK_DIR,
    SIGNATURE,
    BundleFile,
    BundleManifest,
    Targets,
    first_error,
)
from ihanoi.contract.errors import BundleRefused

CHUNK = 1 << 16


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


# --- technician side ------------------------------------------------------------------------
def make_manifest(pack_dir: Path, version: int, targets: Targets, public_id: str, created: datetime,
                  bundle: str | None = None) -> BundleManifest:
    pack = load_manifest(pack_dir)   # PackError naming the problem when it is not a pack
    files = [BundleFile(path=p.relative_to(pack_dir).as_posix(), size=p.stat().st_size, sha256=file_sha256(p))
             for p in pack_files(pack_dir)]
    return BundleManifest(bundle=bundle or pack.id, version=version, pack=pack.id, pack_version=pack.version,
                          created=created, key_id=public_id, targets=targets, files=files)


def build(pack_dir: Path | str, out: Path | str, private_key, version: int, targets: Targets,
          created: datetime, bundle: str | None = None) -> BundleManifest:
    """Write the signed bundle ``out`` (a .tar) for the pack folder; returns its manifest."""
    pack_dir, out = Path(pack_dir).resolve(), Path(out)
    manifest = make_manifest(pack_dir, version, targets, key_id(private_key.public_key()), created, bundle)
    body = manifest.to_bytes()
    signature = private_key.sign(body)
    mtime = int(created.timestamp())
    tmp = out.with_name(f".{out.name}.tmp")
    out.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(tmp, "w", format=tarfile.PAX_FORMAT) as tar:
        for name, data in ((MANIFEST, body), (SIGNATURE, signature)):
            tar.addfile(_info(name, len(data), mtime), io.BytesIO(data))
        for entry in manifest.files:
            with open(pack_dir / entry.path, "rb") as f:
                tar.addfile(_info(f"{PACK_DIR}/{entry.path}", entry.size, mtime), f)
    with open(tmp, "rb+") as f:
        os.fsync(f.fileno())
    os.replace(tmp, out)
    return manifest


def _info(name: str, size: int, mtime: int) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.size, info.mtime, info.mode = size, mtime, 0o644
    return info


# --- device side ----------------------------------------------------------------------------
def check_signature(body: bytes, signature: bytes | None, trusted: Iterable[TrustedKey]) -> TrustedKey:
    trusted = tuple(trusted)
    if not signature:
        raise BundleRefused("unsigned", f"the bundle has no {SIGNATURE}; only signed bundles are installed")
    if not trusted:
        raise BundleRefused("bad-signature", "this device trusts no key (content.trusted_keys is empty)")
    for key in trusted:
        if len(signature) == 64 and key.verifies(signature, body):
            return key
    claimed = _claimed_key(body)
    known = ", ".join(k.id for k in trusted)
    if claimed and claimed not in {k.id for k in trusted}:
        raise BundleRefused("bad-signature", f"signed with key {claimed}, which this device does not trust "
                                             f"(trusted: {known})")
    raise BundleRefused("bad-signature", f"the signature does not match the manifest (altered after signing?); "
                                         f"trusted keys: {known}")


def _claimed_key(body: bytes) -> str | None:
    import json
    try:
        value = json.loads(body).get("key_id")
        return value if isinstance(value, str) else None
    except (ValueError, AttributeError):
        return None


def parse_manifest(body: bytes) -> BundleManifest:
    try:
        return BundleManifest.model_validate_json(body)
    except ValidationError as exc:
        raise BundleRefused("bad-bundle", f"{MANIFEST} is not a bundle manifest ({first_error(exc)})") from None


def check_policy(manifest: BundleManifest, unit: str | None, device: str | None, floor: int) -> None:
    if (unit is not None or device is not None) and not manifest.targets.includes(unit or "", device or ""):
        raise BundleRefused("wrong-target", f"bundle {manifest.bundle} v{manifest.version} is for "
                                            f"{manifest.targets.describe()}, not unit {unit} / device {device}")
    if manifest.version <= floor:
        raise BundleRefused("not-newer", f"bundle version {manifest.version} is not above {floor}, the highest "
                                         f"this device has installed; build a new version to replace it")


def open_bundle(path: Path | str, staging: Path | str, trusted: Iterable[TrustedKey], unit: str | None = None,
                device: str | None = None, floor: int = 0) -> BundleManifest:
    """Check the bundle file and extract it into ``staging`` (made empty first); BundleRefused otherwise.

    ``staging`` then holds ``manifest.json``, ``manifest.sig`` and ``pack/``.
    """
    staging = Path(staging)
    if staging.exists():
        shutil.rmtree(staging)
    (staging / PACK_DIR).mkdir(parents=True)
    try:
        with tarfile.open(path, "r:") as tar:
            members = _members(tar)
            body = _read_small(tar, members.pop(MANIFEST, None), MANIFEST)
            if body is None:
                raise BundleRefused("bad-bundle", f"the archive has no {MANIFEST}; is it a bundle?")
            signature = _read_small(tar, members.pop(SIGNATURE, None), SIGNATURE)
            check_signature(body, signature, trusted)
            manifest = parse_manifest(body)
            check_policy(manifest, unit, device, floor)
            for entry in manifest.files:
                member = members.pop(f"{PACK_DIR}/{entry.path}", None)
                if member is None:
                    raise BundleRefused("tampered", f"file {entry.path} is listed in the manifest but missing")
                if member.size != entry.size:
                    raise BundleRefused("tampered", f"file {entry.path} is {member.size} bytes, the manifest "
                                                    f"says {entry.size}")
                _extract(tar, member, staging / PACK_DIR / entry.path, entry)
            if members:
                raise BundleRefused("tampered", f"files not in the signed manifest: {', '.join(sorted(members))}")
    except tarfile.TarError as exc:
        raise BundleRefused("bad-bundle", f"{Path(path).name} is not a readable tar archive ({exc})") from None
    _write_synced(staging / MANIFEST, body)
    _write_synced(staging / SIGNATURE, signature)
    return manifest


def _members(tar: tarfile.TarFile) -> dict[str, tarfile.TarInfo]:
    members: dict[str, tarfile.TarInfo] = {}
    for member in tar:
        if member.isdir():
            continue
        if not member.isfile():
            raise BundleRefused("bad-bundle", f"{member.name} is a link or device file; bundles hold plain files only")
        if member.name in members:
            raise BundleRefused("bad-bundle", f"{member.name} appears twice in the archive")
        members[member.name] = member
    return members


def _read_small(tar: tarfile.TarFile, member: tarfile.TarInfo | None, name: str) -> bytes | None:
    if member is None:
        return None
    if member.size > MAX_MANIFEST:
        raise BundleRefused("bad-bundle", f"{name} is {member.size} bytes; the limit is {MAX_MANIFEST}")
    return tar.extractfile(member).read()


def _extract(tar: tarfile.TarFile, member: tarfile.TarInfo, dest: Path, entry: BundleFile) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    source = tar.extractfile(member)
    with open(dest, "wb") as out:
        while chunk := source.read(CHUNK):
            digest.update(chunk)
            out.write(chunk)
        out.flush()
        os.fsync(out.fileno())
    if digest.hexdigest() != entry.sha256:
        raise BundleRefused("tampered", f"file {entry.path} does not match its SHA-256 in the signed manifest")


def _write_synced(path: Path, data: bytes) -> None:
    with open(path, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


def check_folder(folder: Path | str, trusted: Iterable[TrustedKey]) -> BundleManifest:
    """Re-check an extracted bundle (signature and every file), e.g. after a power cut."""
    folder = Path(folder)
    try:
        body = (folder / MANIFEST).read_bytes()
        signature = (folder / SIGNATURE).read_bytes()
    except OSError as exc:
        raise BundleRefused("tampered", f"{folder} is incomplete ({exc.strerror}: {exc.filename})") from None
    check_signature(body, signature, trusted)
    manifest = parse_manifest(body)
    pack = folder / PACK_DIR
    for entry in manifest.files:
        path = pack / entry.path
        if not path.is_file() or path.stat().st_size != entry.size or file_sha256(path) != entry.sha256:
            raise BundleRefused("tampered", f"{path} is missing or differs from the signed manifest")
    return manifest
