"""The device's content store on disk, where every change is one atomic rename.

    <data_dir>/content/
      bundles/<version>/     manifest.json, manifest.sig, pack/   (complete, verified)
      current -> bundles/7   the bundle the board plays (a symlink, switched by os.replace)
      previous -> bundles/6  kept for roll-back
      state.json             installed version, the highest version ever accepted, last result
      downloads/             <sha256>.tar.part while downloading, <sha256>.tar when complete
      staging/               a bundle being checked; emptied on every start

A power cut at any moment leaves either the old or the new symlink, never none: a symlink
is replaced, not removed and re-made, and every file and folder is fsynced before the
rename that makes it visible.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

STATE = "state.json"


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
    def __init__(self, data_dir: Path | str):
        self.root = Path(data_dir) / "content"
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
