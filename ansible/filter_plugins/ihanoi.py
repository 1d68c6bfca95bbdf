"""Jinja filters the roles share: MQTT passwords and other names derived from the vaulted
secret, Mosquitto's password-file hash, the dashboard's scrypt password hash, and the one-line
kernel command line edit.

Everything here is deterministic so that a second ansible run writes the same bytes and
reports no change (Mosquitto's own tool salts randomly, which would rewrite the file every run).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os

from ansible.errors import AnsibleFilterError

MOSQUITTO_ITERATIONS = 101  # mosquitto_passwd's default for its PBKDF2-SHA512 ($7$) hashes


def _secret(secret) -> bytes:
    secret = str(secret or "")
    if len(secret) < 16:
        raise AnsibleFilterError(
            "the MQTT password secret is missing or shorter than 16 characters: set "
            "vault_mqtt_password_secret with `ansible-vault edit inventory/group_vars/all/vault.yml`")
    return secret.encode("utf-8")


def mqtt_password(user: str, secret, overrides: dict | None = None) -> str:
    """The MQTT password of ``user``: an explicit override, else HMAC-SHA256(secret, user).

    One vaulted secret gives every device its own password, so a device added to the
    registry needs no vault edit; an override rotates a single device's password.
    """
    if overrides and user in overrides:
        return str(overrides[user])
    digest = hmac.new(_secret(secret), f"mqtt-password:{user}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode("ascii").rstrip("=")


def mosquitto_hash(password: str, user: str, secret, iterations: int = MOSQUITTO_ITERATIONS) -> str:
    """A Mosquitto 2 password-file hash: ``$7$iterations$salt$pbkdf2-sha512``.

    The 12-byte salt comes from the secret and the user name: stable across runs, different
    per user, unknown without the vault.
    """
    salt = hmac.new(_secret(secret), f"mosquitto-salt:{user}".encode(), hashlib.sha256).digest()[:12]
    derived = hashlib.pbkdf2_hmac("sha512", str(password).encode("utf-8"), salt, int(iterations), 64)
    return f"$7${int(iterations)}${base64.b64encode(salt).decode()}${base64.b64encode(derived).decode()}"


def secret_name(label: str, secret, length: int = 32) -> str:
    """A name nobody can guess without the vault, the same on every run: HMAC(secret, label).

    The collectors' shared-subscription group is one: a board that does not know it cannot
    join the group and take a share of the plays meant for the collector.
    """
    digest = hmac.new(_secret(secret), f"name:{label}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode("ascii").rstrip("=")[:int(length)]


def scrypt_hash(password: str, n: int = 2**14, r: int = 8, p: int = 1) -> str:
    """A dashboard users-file hash, ``scrypt$n$r$p$salt$hash`` as broker.web.users writes it."""
    salt = os.urandom(16)
    digest = hashlib.scrypt(str(password).encode("utf-8"), salt=salt, n=n, r=r, p=p, dklen=32)
    return f"scrypt${n}${r}${p}${base64.b64encode(salt).decode()}${base64.b64encode(digest).decode()}"


def _key(param: str) -> str:
    return param.split("=", 1)[0]


def cmdline_edit(line: str, add=(), remove=()) -> str:
    """``cmdline.txt`` after removing ``remove`` and adding ``add``, order otherwise kept.

    A bare name in ``remove`` drops that parameter with any value; ``name=value`` drops only
    that one. A parameter in ``add`` replaces one of the same name.
    """
    params = str(line).split()
    add = [p for p in add if p]
    drop_exact = {p for p in remove if "=" in p}
    drop_names = {p for p in remove if p and "=" not in p} | {_key(p) for p in add}
    kept = [p for p in params if p not in drop_exact and _key(p) not in drop_names]
    return " ".join(kept + add) + "\n"


def param_lines(text: str) -> list[str]:
    """The parameters of a firmware_config list file: one per line, '#' comments dropped."""
    out = []
    for raw in str(text).splitlines():
        item = raw.split("#", 1)[0].strip()
        if item:
            out.append(item)
    return out


class FilterModule:
    def filters(self):
        return {
            "ihanoi_mqtt_password": mqtt_password,
            "ihanoi_mosquitto_hash": mosquitto_hash,
            "ihanoi_secret_name": secret_name,
            "ihanoi_scrypt_hash": scrypt_hash,
            "ihanoi_cmdline_edit": cmdline_edit,
            "ihanoi_param_lines": param_lines,
        }
