"""Ed25519 keys: the technician signs content bundles, the server signs campaign announcements, boards verify.

The private key is a PEM file (PKCS#8, mode 0600) that never leaves the technician's
machine; the public key is a PEM file copied to every device (``content.trusted_keys``,
at most two so that a new key can be rolled out before the old one is retired).
A key is named by its id: the first 16 hex digits of the SHA-256 of its raw 32 bytes.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

from ihanoi.contract.errors import KeyFileError

MAX_TRUSTED = 2


def key_id(public: Ed25519PublicKey) -> str:
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


@dataclass(frozen=True)
class TrustedKey:
    id: str
    key: Ed25519PublicKey
    source: str

    def verifies(self, signature: bytes, data: bytes) -> bool:
        try:
            self.key.verify(signature, data)
            return True
        except InvalidSignature:
            return False


def generate(private_path: Path, public_path: Path, force: bool = False) -> str:
    """Write a new key pair; the private file is created 0600 and never overwritten unless ``force``."""
    private_path, public_path = Path(private_path), Path(public_path)
    for path in (private_path, public_path):
        if path.exists() and not force:
            raise KeyFileError(path, "already exists; refusing to overwrite a key (use --force to replace it)")
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    private_path.parent.mkdir(parents=True, exist_ok=True)
    if private_path.exists():
        private_path.unlink()
    fd = os.open(private_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(pem)
    public_path.parent.mkdir(parents=True, exist_ok=True)
    public_path.write_bytes(key.public_key().public_bytes(serialization.Encoding.PEM,
                                                          serialization.PublicFormat.SubjectPublicKeyInfo))
    return key_id(key.public_key())


def load_private(path: Path) -> Ed25519PrivateKey:
    path = Path(path)
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except FileNotFoundError:
        raise KeyFileError(path, "does not exist; make a key pair with `ihanoi-content keygen`") from None
    except (ValueError, TypeError) as exc:
        raise KeyFileError(path, f"is not an unencrypted PEM private key ({exc})") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise KeyFileError(path, f"holds a {type(key).__name__}; bundles are signed with Ed25519 keys only")
    return key


def load_public(path: Path) -> TrustedKey:
    path = Path(path)
    try:
        key = serialization.load_pem_public_key(path.read_bytes())
    except FileNotFoundError:
        raise KeyFileError(path, "does not exist; copy the technician's public key (.pub) there") from None
    except ValueError as exc:
        raise KeyFileError(path, f"is not a PEM public key ({exc})") from None
    if not isinstance(key, Ed25519PublicKey):
        raise KeyFileError(path, f"holds a {type(key).__name__}; devices trust Ed25519 keys only")
    return TrustedKey(key_id(key), key, str(path))


def load_trusted(paths) -> tuple[TrustedKey, ...]:
    paths = list(paths)
    if len(paths) > MAX_TRUSTED:
        raise KeyFileError(paths[0], f"{len(paths)} trusted keys given; at most {MAX_TRUSTED} "
                                     f"(the old and the new one while rotating)")
    return tuple(load_public(p) for p in paths)
