"""The device's content store on disk, where every change is one atomic rename.

A board keeps one store per bundle name (the manifest's ``bundle``), side by side:

    <data_dir>/content/by-name/<bundle>/
      bundles/<version>/     manifest.json, manifest.sig, pack/   (complete, verified)
      current -> bundles/7   the bundle the board plays (a symlink, switched by os.replace)
      previous -> bundles/6  kept for roll-back
      state.json             installed version, the highest version ever accepted, last result
      downloads/             <sha256>.tar.part while downloading, <sha256>.tar when complete
      staging/               a bundle being checked; emptied on every start

A power cut at any moment leaves either the old or the new symlink, never none: a symlink
is replaced, not removed and re-made, and every file and folder is fsynced before the
rename that makes it visible.

A board from before several bundles kept one store straight in ``<data_dir>/content/``;
``adopt_old_layout`` moves it whole, by two renames, to ``by-name/<its bundle>/`` (its symlinks
are relative, so they still point to its folders), and finishes the move after a power cut.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
from pathlib import Path

from edge.updates.manifest import BUNDLE_ID, MANIFEST

log = logging.getLogger(__name__)
STATE = "state.json"
SHELF = "by-name"


def fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_tree(folder: Path) -> None:
    """Flush every folder of a tree (files were fsynced when written)."""
    for root, dirs, _files in os.walk(folder, topdown=False):
        fsync_dir(Path(root))


class ContentStore:
    """The store of one bundle name, in its own folder ``root``."""

    def __init__(self, root: Path | str):
        self.root = Path(root)
        self.bundles = self.root / "bundles"
        self.downloads = self.root / "downloads"
        self.staging = self.root / "staging"
        for folder in (self.root, self.bundles, self.downloads, self.staging):
            folder.mkdir(parents=True, exist_ok=True)

    # --- state.json -------------------------------------------------------------------------
    def read_state(self) -> dict | None:
        try:
            data = json.loads((self.root / STATE).read_text("utf-8"))
            return data if isinstance(data, dict) else None
        except FileNotFoundError:
            return {}
        except (OSError, ValueError):
            return None     # unreadable: the caller rebuilds it from the bundles on disk

    def write_state(self, state: dict) -> None:
        tmp = self.root / f".{STATE}.tmp"
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(state, f, indent=1, sort_keys=True)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.root / STATE)
        fsync_dir(self.root)

    # --- bundles and the two symlinks -------------------------------------------------------
    def bundle_dir(self, version: int) -> Path:
        return self.bundles / str(version)

    def target(self, name: str) -> Path | None:
        """The bundle folder ``current``/``previous`` points to, or None."""
        link = self.root / name
        if not link.is_symlink():
            return None
        return (self.root / os.readlink(link)).resolve()

    def point(self, name: str, folder: Path) -> None:
        tmp = self.root / f".{name}.tmp"
        if tmp.is_symlink() or tmp.exists():
            tmp.unlink()
        os.symlink(os.path.relpath(folder, self.root), tmp)
        os.replace(tmp, self.root / name)
        fsync_dir(self.root)

    def promote(self, staged: Path, version: int) -> Path:
        """Move a checked staging folder to ``bundles/<version>`` (replacing a leftover of a crash)."""
        fsync_tree(staged)
        dest = self.bundle_dir(version)
        if dest.exists():
            shutil.rmtree(dest)
        os.rename(staged, dest)
        fsync_dir(self.bundles)
        return dest

    def prune(self) -> None:
        """Remove bundles that are neither current nor previous, and finished downloads."""
        keep = {self.target("current"), self.target("previous")}
        for folder in self.bundles.iterdir():
            if folder.resolve() not in keep:
                shutil.rmtree(folder, ignore_errors=True)
        for file in self.downloads.glob("*.tar"):
            file.unlink(missing_ok=True)

    def clear_staging(self) -> None:
        shutil.rmtree(self.staging, ignore_errors=True)
        self.staging.mkdir(parents=True, exist_ok=True)
        for name in ("current", "previous"):
            tmp = self.root / f".{name}.tmp"
            if tmp.is_symlink() or tmp.exists():
                tmp.unlink()


# --- the layout of a board from before several bundles ---------------------------------------
def adopt_old_layout(content: Path, default_name: str | None = None) -> str | None:
    """Move a single store kept in ``content/`` itself to ``content/by-name/<bundle>/``; its name.

    The bundle's name is the one ``state.json`` recorded, else the one in a kept manifest, else
    ``default_name``; with none of them nothing was ever installed and the empty folders go.
    The move is ``content`` -> ``content.adopting/by-name/<bundle>``, then ``content.adopting`` ->
    ``content``: a power cut between the two is finished here at the next start.
    """
    parking = content.with_name(content.name + ".adopting")
    if parking.exists() and not content.exists():
        os.rename(parking, content)                 # the power went between the two renames
        fsync_dir(content.parent)
        return None
    if parking.exists():
        shutil.rmtree(parking)                      # the power went before the first: start again
    if not content.is_dir() or (content / SHELF).exists():
        return None
    if not any(content.iterdir()):
        return None
    name = _old_bundle_name(content) or default_name
    if name is None or not re.fullmatch(BUNDLE_ID, name):
        log.warning("%s holds no installed bundle; its empty folders are removed", content)
        shutil.rmtree(content)
        return None
    (parking / SHELF).mkdir(parents=True)
    fsync_dir(parking)
    os.rename(content, parking / SHELF / name)
    fsync_dir(parking / SHELF)
    os.rename(parking, content)
    fsync_dir(content.parent)
    log.info("the installed bundle %s is now kept in %s", name, content / SHELF / name)
    return name


def _old_bundle_name(content: Path) -> str | None:
    candidates = [content / STATE]
    candidates += [content / "current" / MANIFEST, content / "previous" / MANIFEST]
    if (content / "bundles").is_dir():
        candidates += sorted(p / MANIFEST for p in (content / "bundles").iterdir())
    for path in candidates:
        try:
            name = json.loads(path.read_text("utf-8")).get("bundle")
        except (OSError, ValueError, AttributeError):
            continue
        if isinstance(name, str) and re.fullmatch(BUNDLE_ID, name):
            return name
    return None
