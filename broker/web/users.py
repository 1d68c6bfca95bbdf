"""Dashboard users: a TOML file of names, roles and scrypt password hashes.

``python -m broker.web.users hash`` asks for a password and prints the line to paste::

    [[user]]
    name = "vanhoa"
    role = "viewer"          # viewer: looks; operator: also sends commands to boards
    password = "scrypt$16384$8$1$<salt>$<hash>"

scrypt is the standard library's (``hashlib.scrypt``): a memory-hard KDF, no extra package.

The running dashboard reads the file again when it changes: a user removed or given a new
password there is signed out at once (``auth.SessionBook`` compares the hash). While the
file cannot be read or is invalid, nobody is let in, and the log says why.
"""

from __future__ import annotations

import argparse
import base64
import getpass
import hashlib
import hmac
import logging
import os
import sys
import threading
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from ihanoi.contract.errors import ConfigError
from ihanoi.contract.tomlconf import load_model

log = logging.getLogger("broker.web")
Role = Literal["viewer", "operator"]
SCRYPT = {"n": 2**14, "r": 8, "p": 1}


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


def hash_password(password: str, salt: bytes | None = None) -> str:
    salt = salt or os.urandom(16)
    n, r, p = SCRYPT["n"], SCRYPT["r"], SCRYPT["p"]
    digest = hashlib.scrypt(password.encode("utf-8"), salt=salt, n=n, r=r, p=p, dklen=32)
    return f"scrypt${n}${r}${p}${_b64(salt)}${_b64(digest)}"


def _parse(encoded: str) -> tuple[int, int, int, bytes, bytes]:
    scheme, n, r, p, salt, digest = encoded.split("$")
    if scheme != "scrypt":
        raise ValueError(f"unknown scheme {scheme!r}")
    return int(n), int(r), int(p), base64.b64decode(salt), base64.b64decode(digest)


def verify_password(password: str, encoded: str) -> bool:
    n, r, p, salt, digest = _parse(encoded)
    trial = hashlib.scrypt(password.encode("utf-8"), salt=salt, n=n, r=r, p=p, dklen=len(digest),
                           maxmem=256 * n * r + 1024 * 1024)
    return hmac.compare_digest(trial, digest)


class User(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=r"^[A-Za-z0-9._@-]{1,64}$")
    role: Role
    display_name: str = ""
    password: str | None = Field(None, description="scrypt hash; may be absent when the reverse proxy authenticates")

    @field_validator("password")
    @classmethod
    def _hash(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            _parse(value)
        except Exception:
            raise ValueError("a hash made by `python -m broker.web.users hash` "
                             "(scrypt$N$r$p$salt$hash), never the password itself") from None
        return value

    @property
    def can_operate(self) -> bool:
        return self.role == "operator"


class UsersFile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    user: tuple[User, ...] = ()

    @model_validator(mode="after")
    def _unique(self):
        seen = set()
        for i, u in enumerate(self.user):
            if u.name in seen:
                raise ValueError(f"user[{i}].name: {u.name!r} appears twice")
            seen.add(u.name)
        return self


class Users:
    """Look-ups over a users file; ``authenticate`` spends the same time for unknown names.

    Given the file's ``path``, every look-up first checks whether the file changed (one
    ``stat``) and reads it again if so."""

    _DUMMY = hash_password("not a password", salt=b"0" * 16)

    def __init__(self, users: tuple[User, ...], path: Path | None = None):
        self._by_name = {u.name: u for u in users}
        self._path = path
        self._stamp = _stamp(path) if path else None
        self._lock = threading.Lock()

    def _refresh(self) -> None:
        if self._path is None:
            return
        with self._lock:
            stamp = _stamp(self._path)
            if stamp == self._stamp:
                return
            self._stamp = stamp
            try:
                self._by_name = {u.name: u for u in _read(self._path)}
            except ConfigError as exc:
                self._by_name = {}
                log.error("the users file changed and cannot be used; nobody can sign in until it is fixed: %s", exc)
            else:
                log.info("read the users file again (%d users)", len(self._by_name))

    def get(self, name: str) -> User | None:
        self._refresh()
        return self._by_name.get(name)

    def authenticate(self, name: str, password: str) -> User | None:
        self._refresh()
        user = self._by_name.get(name)
        encoded = user.password if user and user.password else self._DUMMY
        ok = verify_password(password, encoded)
        return user if ok and user is not None and user.password else None

    def __len__(self) -> int:
        return len(self._by_name)


def _stamp(path: Path) -> tuple | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return st.st_ino, st.st_size, st.st_mtime_ns


def _read(path: Path) -> tuple[User, ...]:
    if not path.exists():
        raise ConfigError(path, [("", "the dashboard's users file (dashboard.users_file) does not exist: start from "
                                      "broker/web/dashboard-users.example.toml, with hashes made by "
                                      "`python -m broker.web.users hash`")])
    return load_model(UsersFile, path).user


def load_users(path: Path | str) -> Users:
    """The users of ``path``, read again whenever the file changes; ConfigError if it is wrong now."""
    path = Path(path)
    stamp = _stamp(path)
    users = Users(_read(path), path)
    users._stamp = stamp           # as read: a change during the first read is seen next time
    return users


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m broker.web.users",
                                     description="Make a password hash for the dashboard's users file.")
    sub = parser.add_subparsers(dest="verb", required=True)
    h = sub.add_parser("hash", help="read a password (twice, hidden) and print its hash")
    h.add_argument("--stdin", action="store_true", help="read one line from standard input instead (scripts)")
    args = parser.parse_args(argv)
    if args.stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = getpass.getpass("Mật khẩu / password: ")
        if getpass.getpass("Nhập lại / again: ") != password:
            print("the two passwords differ", file=sys.stderr)
            return 2
    if len(password) < 8:
        print("a password needs at least 8 characters", file=sys.stderr)
        return 2
    print(f'password = "{hash_password(password)}"')
    return 0


if __name__ == "__main__":
    sys.exit(main())
