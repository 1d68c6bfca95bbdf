"""Compile a content pack for one panel geometry into a memory-mapped frame cache, once.

The cache folder is keyed by a hash of the pack's files, the board's geometry and frame
rate and the compiler's version, so it is reused until any of them changes; older caches
of the same pack and profile are removed. Stills go into one ``stills.npy``; each
scrolling text keeps its single strip (``strip-N.npy``); ``meta.json`` holds the timeline.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np

from edge.content.compiled import META, CompiledPack
from edge.content.kinds import Context, compile_item
from edge.content.manifest import item_label, load_manifest, manifest_path, pack_sha256
from edge.content.raster import Clip, level_table
from edge.panel.profile import PanelProfile
from ihanoi.contract.errors import PackError

COMPILER_VERSION = "1"
Progress = Callable[[str, float], None]


def cache_key(sha256: str, profile: PanelProfile) -> str:
    geometry = json.dumps({"w": profile.width, "h": profile.height, "fps": profile.fps, "c": COMPILER_VERSION})
    return hashlib.sha256(f"{sha256}\0{geometry}".encode()).hexdigest()[:20]


def _cache_folder(manifest, sha: str, profile: PanelProfile, cache_dir: Path) -> tuple[str, Path]:
    stem = f"{manifest.id}@{profile.name}"
    return stem, cache_dir / f"{stem}-{cache_key(sha, profile)}"


def cached(pack: Path | str, profile: PanelProfile, cache_dir: Path | str) -> CompiledPack | None:
    """The pack's frame cache for ``profile`` when it is up to date, else None (nothing is compiled)."""
    manifest_file = manifest_path(pack)
    sha = pack_sha256(manifest_file.parent)
    _, folder = _cache_folder(load_manifest(manifest_file), sha, profile, Path(cache_dir))
    return CompiledPack(folder) if (folder / META).exists() else None


def compile_pack(pack: Path | str, profile: PanelProfile, cache_dir: Path | str,
                 progress: Progress | None = None, force: bool = False) -> CompiledPack:
    """The compiled pack for ``profile``, from the cache when the pack and board are unchanged."""
    manifest_file = manifest_path(pack)
    pack_dir = manifest_file.parent
    manifest = load_manifest(manifest_file)
    sha = pack_sha256(pack_dir)
    cache_dir = Path(cache_dir)
    stem, folder = _cache_folder(manifest, sha, profile, cache_dir)
    if (folder / META).exists() and not force:
        return CompiledPack(folder)

    table = level_table(manifest.gamma, manifest.level)
    identity = bool((table == np.arange(256)).all())
    clips: list[tuple[str, Clip]] = []
    for n, item in enumerate(manifest.items):
        label = item_label(n, item)
        ctx = Context(manifest_file, label, profile.fps, progress)
        clip = compile_item(item, profile.width, profile.height, ctx)
        clips.append((label, clip if identity else clip.lut(table)))

    cache_dir.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".compiling-", dir=cache_dir))
    try:
        _write(tmp, clips, manifest, sha, profile)
        if force and folder.exists():
            shutil.rmtree(folder)
        try:
            os.replace(tmp, folder)
        except OSError:
            if not (folder / META).exists():  # another process did not win the race: a real error
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    for old in cache_dir.glob(f"{stem}-*"):
        if old != folder and old.is_dir():
            shutil.rmtree(old, ignore_errors=True)
    return CompiledPack(folder)


def _write(folder: Path, clips: list[tuple[str, Clip]], manifest, sha: str, profile: PanelProfile) -> None:
    still_count = sum(len(c.stills) for _, c in clips if c.stills is not None)
    sources, timeline, durations, items = [], [], [], []
    stills = None
    if still_count:
        stills = np.lib.format.open_memmap(folder / "stills.npy", mode="w+", dtype=np.uint8,
                                           shape=(still_count, profile.height, profile.width, 3))
        sources.append("stills.npy")
    base = 0
    for label, clip in clips:
        first = len(timeline)
        if clip.stills is not None:
            stills[base:base + len(clip.stills)] = clip.stills
            timeline += [(0, base + i) for i in clip.index]
            base += len(clip.stills)
        else:
            name = f"strip-{len(sources)}.npy"
            np.save(folder / name, np.ascontiguousarray(clip.strip))
            timeline += [(len(sources), x) for x in clip.index]
            sources.append(name)
        durations += [float(d) for d in clip.durations]
        items.append({"label": label, "first": first, "count": len(clip), "seconds": clip.total})
    if stills is not None:
        stills.flush()
        del stills
    meta = {"id": manifest.id, "version": manifest.version, "title": manifest.title, "sha256": sha,
            "profile": profile.name, "width": profile.width, "height": profile.height, "fps": profile.fps,
            "compiler": COMPILER_VERSION, "sources": sources, "timeline": timeline,
            "durations": durations, "items": items}
    (folder / META).write_text(json.dumps(meta), "utf-8")


def default_cache_dir() -> Path:
    root = os.environ.get("IHANOI_CACHE_DIR") or os.environ.get("XDG_CACHE_HOME")
    return Path(root) / "ihanoi-frames" if root else Path.home() / ".cache" / "ihanoi-frames"


__all__ = ["CompiledPack", "PackError", "cache_key", "cached", "compile_pack", "default_cache_dir"]
