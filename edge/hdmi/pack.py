"""Content packs on a TV: the promo is the pack's one ``video`` item, played whole through mpv.

The same ``pack.toml`` format as the LED boards (docs/content.md). On a TV:

- a **promo pack** holds exactly one ``video`` item: the city's clip, whose plays are
  counted. Its ``content`` is the pack's ``id`` and ``version`` with the SHA-256 **of the
  video file** (what was on the screen); ``duration`` plays that much from the start;
  ``fit`` = ``contain`` (letterbox), ``cover`` (fill, cropping) or ``stretch``;
- a **filler pack** (shown between plays, not reported) holds ``video`` and ``image`` items,
  shown in turn; images for their ``duration`` (default 10 s).

Loading probes every clip (edge/hdmi/probe.py) and, given a board, refuses one that board
cannot play smoothly (edge/hdmi/boards.py), naming the pack, the item, the file and why.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from edge.content.manifest import item_label, load_manifest, manifest_path
from edge.hdmi.boards import Board, board as board_named, problems_on
from edge.hdmi.probe import ClipInfo, probe, probe_apart
from edge.updates.bundle import file_sha256
from ihanoi.contract.errors import ClipRefused, PackError

IMAGE_SECONDS = 10.0
FITS = {"contain": {"keepaspect": "yes", "panscan": "0.0"},
        "cover": {"keepaspect": "yes", "panscan": "1.0"},
        "stretch": {"keepaspect": "no", "panscan": "0.0"},
        "center": {"keepaspect": "yes", "panscan": "0.0"}}


@dataclass(frozen=True)
class Clip:
    """One video file as the HDMI player plays it, with the identity its plays are reported under."""

    path: Path
    info: ClipInfo
    id: str
    version: str
    sha256: str
    seconds: float               # what a complete play covers: the item's duration, or the whole clip
    fit: str = "contain"
    label: str = ""
    stat: tuple[int, int] | None = None     # (size, mtime_ns) when it was hashed

    def changed(self) -> str | None:
        """Why the file is no longer the one that was loaded (None: it is): what a play reports must be true."""
        try:
            st = self.path.stat()
        except OSError as exc:
            return f"{self.path.name} cannot be read ({exc.strerror})"
        if self.stat == (st.st_size, st.st_mtime_ns):
            return None
        actual = file_sha256(self.path)
        if actual != self.sha256:
            return f"{self.path.name} changed since the pack was loaded (sha256 {actual[:12]}…, loaded {self.sha256[:12]}…)"
        return None

    @property
    def content(self) -> dict:
        """The ``{id, version, sha256}`` of play events."""
        return {"id": self.id, "version": self.version, "sha256": self.sha256}

    @property
    def total_duration(self) -> float:        # the name CompiledPack uses, for the planner's play length
        return self.seconds

    def mpv_options(self) -> str:
        """Per-file options for ``loadfile`` (fit, and where to stop when the item plays only a part)."""
        options = dict(FITS[self.fit])
        if self.seconds < self.info.duration - 1e-3:
            options["end"] = f"{self.seconds:.3f}"
        return ",".join(f"{k}={v}" for k, v in options.items())


@dataclass(frozen=True)
class Still:
    """An image of a filler pack, shown for ``seconds``."""

    path: Path
    seconds: float
    label: str = ""


def _board(target: Board | str | None) -> Board | None:
    return board_named(target) if isinstance(target, str) else target


def load_promo(pack: Path | str, target: Board | str | None = None, decode: bool = True,
               apart: bool = False) -> Clip:
    """The promo clip of a TV pack; ``PackError``/``ClipRefused`` saying what is wrong with it.

    ``apart``: the clip is probed in a child process (``probe_apart``), as the agent does."""
    manifest_file = manifest_path(pack)
    manifest = load_manifest(manifest_file)
    videos = [(n, item) for n, item in enumerate(manifest.items) if item.kind == "video"]
    others = [item_label(n, item) for n, item in enumerate(manifest.items) if item.kind != "video"]
    if others:
        raise PackError(manifest_file, others[0], "a TV plays the pack's one video item; put text, pictures and "
                                                  "layouts into the video itself, or into a filler pack")
    if len(videos) != 1:
        raise PackError(manifest_file, "items", f"a TV pack holds exactly one video item (the clip whose plays "
                                                f"are counted); this one has {len(videos)}")
    n, item = videos[0]
    return _clip(manifest_file, manifest, n, item, _board(target), decode, apart)


def load_filler(pack: Path | str, target: Board | str | None = None, decode: bool = True,
                apart: bool = False) -> list[Clip | Still]:
    """The entries of a TV filler pack, in order (video and image items); ``apart`` as for ``load_promo``."""
    manifest_file = manifest_path(pack)
    manifest = load_manifest(manifest_file)
    entries: list[Clip | Still] = []
    for n, item in enumerate(manifest.items):
        label = item_label(n, item)
        if item.kind == "video":
            entries.append(_clip(manifest_file, manifest, n, item, _board(target), decode, apart))
        elif item.kind == "image":
            path = _asset(manifest_file, label, item.file)
            entries.append(Still(path, float(item.duration or IMAGE_SECONDS), label))
        else:
            raise PackError(manifest_file, label, "a TV filler pack shows video and image items only")
    return entries


def check_clip(manifest_file: Path, label: str, info: ClipInfo, targets: list[Board]) -> None:
    """``ClipRefused`` listing, per board, why it would not play the clip smoothly."""
    for target in targets:
        found = problems_on(target, info)
        if found:
            reason = found[0][0]
            text = "; ".join(sentence for _, sentence in found)
            raise ClipRefused(manifest_file, label, Path(info.file).name, reason,
                              f"file {Path(info.file).name!r} ({info.describe()}) will not play smoothly on "
                              f"{target.label}: {text}")


def _clip(manifest_file: Path, manifest, n: int, item, target: Board | None, decode: bool,
          apart: bool = False) -> Clip:
    label = item_label(n, item)
    path = _asset(manifest_file, label, item.file)
    try:
        info = (probe_apart if apart else probe)(path, decode=decode)
    except ClipRefused as exc:
        raise ClipRefused(manifest_file, label, exc.file, exc.reason, exc.problem) from None
    if target is not None:
        check_clip(manifest_file, label, info, [target])
    seconds = min(float(item.duration), info.duration) if item.duration else info.duration
    st = path.stat()
    return Clip(path, info, manifest.id, manifest.version, file_sha256(path), seconds, item.fit, label,
                (st.st_size, st.st_mtime_ns))


def _asset(manifest_file: Path, label: str, relative: str) -> Path:
    pack_dir = manifest_file.parent.resolve()
    path = (pack_dir / relative).resolve()
    if pack_dir not in path.parents:
        raise PackError(manifest_file, label, f"file {relative!r} is outside the pack folder; keep assets inside it")
    if not path.is_file():
        raise PackError(manifest_file, label, f"file {relative!r} not found in {pack_dir}")
    return path


__all__ = ["Clip", "Still", "check_clip", "load_filler", "load_promo"]
