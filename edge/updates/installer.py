"""The device side of content updates: one installed bundle per bundle name, side by side.

    installer = Installer(data_dir, device, unit, trusted_keys, compile_fn, clock, fallback=pack,
                          promo="ihanoi-promo")
    installer.current_pack()              # the promo to play: its installed bundle, else the configured pack
    installer.pack_of(bundle, content_id) # another campaign's pack among the installed bundles, or None
    installer.handle(desired)             # a ContentDesired from the content command -> Result
    installer.status()                    # content_version, content_id, details.update/bundles for health

Each bundle name (the signed manifest's ``bundle``) has its own slot (``edge.updates.slot``):
its own versions and highest version ("not-newer" is judged per name, before any download),
its own ``current``/``previous``, atomic switch, re-check after a power cut and roll-back. A
bundle for a second campaign is installed next to the promo and never replaces it.

``promo`` is the pack id of the board's own campaign (the registry's): the promo is the installed
bundle of that name, else the one carrying that pack. A board whose store is from before several
bundles keeps its installed bundle (``store.adopt_old_layout``), with no new download.
"""

from __future__ import annotations

import json
import logging
import re
import tarfile
import threading
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from edge.updates.manifest import BUNDLE_ID, MANIFEST, MAX_MANIFEST, PACK_DIR, ContentDesired
from edge.updates.slot import STEPS, BundleSlot, Result
from edge.updates.store import SHELF, adopt_old_layout
from ihanoi.contract.clock import Clock, RealClock
from ihanoi.contract.errors import BundleRefused
from ihanoi.contract.keys import TrustedKey, load_trusted

log = logging.getLogger(__name__)


class Installer:
    def __init__(self, data_dir: Path | str, device: str, unit: str, trusted_keys: Iterable,
                 compile_fn: Callable[[Path], Any], clock: Clock | None = None,
                 load_fn: Callable[[Path], Any] | None = None, fallback: Path | None = None,
                 on_step: Callable[[str, int], None] | None = None, ca_file: Path | None = None,
                 promo: str | None = None):
        keys = list(trusted_keys)
        self.trusted: tuple[TrustedKey, ...] = (tuple(keys) if all(isinstance(k, TrustedKey) for k in keys)
                                                else load_trusted(keys))
        self.device, self.unit = device, unit
        self.fallback = fallback
        self.promo = promo
        self.clock = clock or RealClock()
        self._slot_args = dict(device=device, unit=unit, trusted=self.trusted, compile_fn=compile_fn,
                               clock=self.clock, load_fn=load_fn, on_step=on_step, ca_file=ca_file)
        self._lock = threading.RLock()
        self.root = Path(data_dir) / "content"
        adopt_old_layout(self.root, promo)
        (self.root / SHELF).mkdir(parents=True, exist_ok=True)
        self._slots: dict[str, BundleSlot] = {}
        for folder in sorted((self.root / SHELF).iterdir()):
            if folder.is_dir() and re.fullmatch(BUNDLE_ID, folder.name):
                self.slot(folder.name)

    def slot(self, name: str) -> BundleSlot:
        """The slot of bundle ``name`` (made empty the first time the name is seen)."""
        with self._lock:
            if name not in self._slots:
                self._slots[name] = BundleSlot(self.root / SHELF / name, name, **self._slot_args)
            return self._slots[name]

    def _installed(self) -> dict[str, BundleSlot]:
        with self._lock:
            return {name: slot for name, slot in sorted(self._slots.items()) if slot.current is not None}

    # --- what the agent asks --------------------------------------------------------------------
    def promo_slot(self) -> BundleSlot | None:
        """The installed bundle that is the promo (with no ``promo`` given: the first installed one)."""
        installed = self._installed()
        if self.promo is None:
            return next(iter(installed.values()), None)
        return self._find(installed, self.promo, self.promo)

    @staticmethod
    def _find(installed: dict[str, BundleSlot], bundle: str | None, content_id: str) -> BundleSlot | None:
        if bundle in installed:
            return installed[bundle]
        return next((s for s in installed.values() if s.current[1].pack == content_id), None)

    def current_pack(self) -> Path | None:
        """The promo's pack folder: its installed bundle's, else ``fallback`` (the configured pack)."""
        slot = self.promo_slot()
        return slot.current[0] / PACK_DIR if slot else self.fallback

    def pack_of(self, bundle: str | None, content_id: str) -> Path | None:
        """The pack folder of the installed bundle named ``bundle``, else of one carrying ``content_id``."""
        slot = self._find(self._installed(), bundle, content_id)
        return slot.current[0] / PACK_DIR if slot else None

    def version_of(self, bundle: str) -> int | None:
        with self._lock:
            slot = self._slots.get(bundle)
        return slot.installed_version if slot else None

    @property
    def installed_version(self) -> int | None:
        """The promo's installed version."""
        slot = self.promo_slot()
        return slot.installed_version if slot else None

    def status(self) -> dict[str, Any]:
        """For health and state: the promo's bundle (none: the configured pack), every installed bundle and
        the last result of any of them."""
        promo = self.promo_slot()
        with self._lock:
            slots = list(self._slots.values())
        details: dict[str, Any] = {}
        results = [slot.last for slot in slots if slot.last]
        if results:
            details["update"] = dict(max(results, key=lambda r: r["at"]))
        bundles = {name: slot.summary() for name, slot in self._installed().items()}
        if bundles:
            details["bundles"] = bundles
        return {"content_version": promo.current[1].version if promo else None,
                "content_id": promo.current[1].bundle if promo else None, "details": details}

    # --- installing -----------------------------------------------------------------------------
    def handle(self, desired: ContentDesired, progress=None) -> Result:
        """Bring the bundle ``desired`` names to ``desired``: nothing to do, installed, refused, or failed."""
        return self.slot(desired.bundle).handle(desired, progress)

    def install_file(self, path: Path | str, sha256: str | None = None) -> Result:
        """Check and install one bundle file that is already on this device, in the slot its manifest names."""
        try:
            name = _named_bundle(Path(path))
        except BundleRefused as exc:
            log.warning("refused bundle file %s: %s", path, exc)
            return Result("refused", None, None, self.clock.now().isoformat(), exc.reason, exc.detail)
        return self.slot(name).install_file(path, sha256)


def _named_bundle(path: Path) -> str:
    """The bundle name a bundle file claims (checked again, signed, by its slot)."""
    try:
        with tarfile.open(path, "r:") as tar:
            name = json.loads(tar.extractfile(MANIFEST).read(MAX_MANIFEST)).get("bundle")
    except (tarfile.TarError, KeyError, OSError, ValueError, AttributeError) as exc:
        raise BundleRefused("bad-bundle", f"{path.name} is not a readable bundle ({exc})") from None
    if not isinstance(name, str) or not re.fullmatch(BUNDLE_ID, name):
        raise BundleRefused("bad-bundle", f"{path.name}: its manifest names no valid bundle")
    return name


__all__ = ["Installer", "Result", "STEPS"]
