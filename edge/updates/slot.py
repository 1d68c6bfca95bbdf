"""One bundle name's installs on the device: check, compile, switch, keep the previous, roll back.

    slot = BundleSlot(store_root, "ihanoi-promo", device, unit, trusted, compile_fn, clock, load_fn, on_step)
    slot.handle(desired)          # a ContentDesired for this bundle -> Result
    slot.current                  # (folder, manifest) of the bundle that plays, or None

Steps of one install, each crash-safe (see ``store``): download -> verify (signature, target,
version, hashes, in ``staging/``) -> compile (for this panel) -> stage (rename to
``bundles/<v>``) -> switch-previous -> switch-current -> load (the new pack must load, else
the switch is undone) -> commit (``state.json``: installed and highest version) -> cleanup.
On start ``recover`` finishes or undoes whatever a power cut interrupted: ``current`` is
re-checked (signature and every hash); a switch that was not committed is loaded again and
committed or rolled back. The highest version ever installed is kept on disk, so neither a
restart nor a replayed older bundle can bring old content back.

Every rule holds per bundle name: a slot installs only bundles whose signed manifest carries
its name, and its versions are its own. ``edge.updates.installer`` keeps the board's slots.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from edge.updates.bundle import check_folder, file_sha256, open_bundle
from edge.updates.fetch import download, progress_logger
from edge.updates.manifest import PACK_DIR, BundleManifest, ContentDesired
from edge.updates.store import ContentStore
from ihanoi.contract.clock import Clock
from ihanoi.contract.keys import TrustedKey
from ihanoi.contract.errors import BundleRefused, DownloadError

log = logging.getLogger(__name__)

STEPS = ("download", "verify", "compile", "stage", "switch-previous", "switch-current", "load", "commit", "cleanup")
REMEMBERED_REFUSALS = 20


@dataclass(frozen=True)
class Result:
    """``state``: ``installed``, ``refused`` (with ``reason``) or ``failed`` (download; tried again later)."""

    state: str
    version: int | None
    bundle: str | None
    at: str
    reason: str | None = None
    detail: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v is not None}


def _as_result(data: dict) -> Result:
    return Result(**{"version": None, "bundle": None, **data})


class BundleSlot:
    def __init__(self, root: Path | str, name: str, device: str, unit: str, trusted: tuple[TrustedKey, ...],
                 compile_fn: Callable[[Path], Any], clock: Clock, load_fn: Callable[[Path], Any] | None = None,
                 on_step: Callable[[str, int], None] | None = None, ca_file: Path | None = None):
        self.store = ContentStore(root)
        self.name = name
        self.device, self.unit = device, unit
        self.trusted = trusted
        self.compile_fn = compile_fn
        self.load_fn = load_fn or compile_fn
        self.clock = clock
        self.on_step = on_step or (lambda step, version: None)
        self.ca_file = ca_file
        self._lock = threading.RLock()
        self._state: dict[str, Any] = {}
        self._current: tuple[Path, BundleManifest] | None = None
        self.recover()

    # --- what the board asks --------------------------------------------------------------------
    @property
    def current(self) -> tuple[Path, BundleManifest] | None:
        """The folder and manifest of this name's bundle that plays, or None."""
        return self._current

    @property
    def last(self) -> dict | None:
        """The last result of this bundle name (installed, refused, failed)."""
        return self._state.get("last")

    @property
    def installed_version(self) -> int | None:
        return self._state.get("installed")

    @property
    def highest_version(self) -> int:
        return int(self._state.get("highest", 0))

    def summary(self) -> dict[str, Any] | None:
        """For health: the version and pack that play, or None when nothing of this name is installed."""
        if self._current is None:
            return None
        manifest = self._current[1]
        return {"version": manifest.version, "pack": manifest.pack, "pack_version": manifest.pack_version}

    # --- installing -----------------------------------------------------------------------------
    def handle(self, desired: ContentDesired, progress=None) -> Result:
        """Bring the device to ``desired``: nothing to do, installed, refused, or failed (retry later)."""
        with self._lock:
            state = self._state
            # (no recorded SHA-256: state.json was rebuilt after a power cut; the version says enough)
            if state.get("installed") == desired.version and state.get("bundle_sha256") in (desired.sha256, "", None):
                last = state.get("last") or {}
                if last.get("state") == "installed" and last.get("version") == desired.version:
                    return _as_result(last)
                return self._result("installed", desired.version, desired.bundle)
            for old in state.get("refused", []):
                if old["sha256"] == desired.sha256:
                    return _as_result(old["result"])
            if desired.version <= self.highest_version:
                return self._refuse(BundleRefused("not-newer", f"announced version {desired.version} is not above "
                                                               f"{self.highest_version}, the highest of bundle "
                                                               f"{self.name} installed here"),
                                    desired.sha256, desired.version, desired.bundle, by_file=False)
            self.on_step("download", desired.version)
            log.info("downloading bundle %s v%d (%d bytes) from %s", desired.bundle, desired.version, desired.size,
                     desired.url)
            try:
                path = download(desired.url, self.store.downloads, desired.sha256, desired.size,
                                progress or progress_logger(f"bundle {desired.bundle} v{desired.version}"),
                                ca_file=self.ca_file)
            except DownloadError as exc:
                log.warning("%s", exc)
                result = self._result("failed", desired.version, desired.bundle, "download", str(exc))
                self._remember(result)
                return result
            return self.install_file(path, desired.sha256)

    def install_file(self, path: Path | str, sha256: str | None = None) -> Result:
        """Check and install one bundle file that is already on this device."""
        with self._lock:
            sha256 = sha256 or file_sha256(Path(path))
            staged = self.store.staging / "bundle"
            manifest: BundleManifest | None = None
            try:
                self.on_step("verify", 0)
                manifest = open_bundle(path, staged, self.trusted, self.unit, self.device, self.highest_version)
                if manifest.bundle != self.name:   # the announcement named another bundle than its signed manifest
                    raise BundleRefused("bad-bundle", f"announced as bundle {self.name}, but its signed manifest "
                                                      f"is bundle {manifest.bundle}")
                version = manifest.version
                self.on_step("compile", version)
                try:
                    self.compile_fn(staged / PACK_DIR)
                except Exception as exc:   # any failure of the compiler means "does not play here"
                    raise BundleRefused("compile-failed", str(exc)) from None
                self._remember_pending(version, sha256)
                self.on_step("stage", version)
                folder = self.store.promote(staged, version)
                old = self._current[0] if self._current else None
                self.on_step("switch-previous", version)
                if old is not None:
                    self.store.point("previous", old)
                self.on_step("switch-current", version)
                self.store.point("current", folder)
                self.on_step("load", version)
                self._load_or_roll_back(folder, manifest, old)
            except BundleRefused as exc:
                self.store.clear_staging()
                if Path(path).parent == self.store.downloads:   # its SHA-256 is remembered as refused
                    Path(path).unlink(missing_ok=True)
                return self._refuse(exc, sha256, manifest.version if manifest else None,
                                    manifest.bundle if manifest else None)
            self.on_step("commit", version)
            result = self._commit(folder, manifest, sha256)
            self.on_step("cleanup", version)
            self.store.prune()
            return result

    def _load_or_roll_back(self, folder: Path, manifest: BundleManifest, old: Path | None) -> None:
        try:
            self.load_fn(folder / PACK_DIR)
        except Exception as exc:
            log.error("bundle %s v%d does not load after the switch (%s); rolling back", manifest.bundle,
                      manifest.version, exc)
            if old is not None:
                self.store.point("current", old)
            else:
                (self.store.root / "current").unlink(missing_ok=True)
            raise BundleRefused("load-failed", str(exc)) from None

    def _commit(self, folder: Path, manifest: BundleManifest, sha256: str) -> Result:
        result = self._result("installed", manifest.version, manifest.bundle)
        state = dict(self._state, installed=manifest.version, bundle=manifest.bundle, bundle_sha256=sha256,
                     highest=max(self.highest_version, manifest.version), last=result.as_dict())
        state.pop("pending", None)
        self.store.write_state(state)
        self._state = state
        self._current = (folder, manifest)
        log.info("installed bundle %s v%d (pack %s %s)", manifest.bundle, manifest.version, manifest.pack,
                 manifest.pack_version)
        return result

    def _refuse(self, exc: BundleRefused, sha256: str, version: int | None, bundle: str | None,
                by_file: bool = True) -> Result:
        """Record a refusal; ``by_file``: the file itself was judged, so it is never fetched again."""
        result = self._result("refused", version, bundle, exc.reason, exc.detail)
        log.warning("refused bundle %s v%s: %s", bundle or "?", version if version is not None else "?", exc)
        if not by_file or not sha256:
            self._remember(result)
            return result
        refused = [r for r in self._state.get("refused", []) if r["sha256"] != sha256]
        refused.append({"sha256": sha256, "result": result.as_dict()})
        self._remember(result, refused=refused[-REMEMBERED_REFUSALS:])
        return result

    def _remember_pending(self, version: int, sha256: str) -> None:
        # Lets recovery commit (or refuse) an interrupted switch under the right bundle file.
        state = dict(self._state, pending={"version": version, "sha256": sha256})
        self.store.write_state(state)
        self._state = state

    def _remember(self, result: Result, **more) -> None:
        state = dict(self._state, last=result.as_dict(), **more)
        self.store.write_state(state)
        self._state = state

    def _result(self, state: str, version, bundle, reason=None, detail=None) -> Result:
        return Result(state, version, bundle, self.clock.now().isoformat(), reason, detail)

    # --- after a restart ------------------------------------------------------------------------
    def _checked(self, name: str) -> tuple[Path, BundleManifest] | None:
        folder = self.store.target(name)
        if folder is None:
            return None
        try:
            return folder, check_folder(folder, self.trusted)
        except BundleRefused as exc:
            log.error("the %s bundle %s cannot be used: %s", name, folder, exc)
            return None

    def recover(self) -> None:
        """Finish or undo an install that a power cut interrupted; pick what to play."""
        with self._lock:
            store = self.store
            store.clear_staging()
            state = store.read_state()
            if state is None:
                log.error("%s is unreadable; rebuilding it from the bundles on disk", store.root / "state.json")
                state = {"highest": max((int(p.name) for p in store.bundles.iterdir() if p.name.isdigit()),
                                        default=0)}
            self._state = state
            current, previous = self._checked("current"), self._checked("previous")
            if current is None and previous is not None and store.target("current") is not None:
                log.error("falling back to the previous bundle v%d", previous[1].version)
                store.point("current", previous[0])
                current = previous
            if current is not None and current[1].version != state.get("installed"):
                # A switch that was not committed (or a lost state.json): load it, then commit or undo.
                folder, manifest = current
                pending = state.get("pending") or {}
                sha256 = pending.get("sha256", "") if pending.get("version") == manifest.version else ""
                old = previous[0] if previous and previous[0] != folder else None
                log.warning("finishing the interrupted install of bundle %s v%d", manifest.bundle, manifest.version)
                try:
                    self._load_or_roll_back(folder, manifest, old)
                except BundleRefused as exc:
                    self._refuse(exc, sha256, manifest.version, manifest.bundle)
                    current = self._checked("current")
                else:
                    self._commit(folder, manifest, sha256)
            self._current = current
            store.prune()
