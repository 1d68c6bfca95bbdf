"""What each Raspberry Pi model decodes smoothly, in one table: the clip gate and the player read it.

A lobby TV is driven by ``mpv --vo=drm`` with the screen's mode pinned to 1920x1080: vo=drm
scales in software, so a clip larger than the mode would be scaled on the CPU every frame,
and a 4K TV's preferred mode would make mpv upscale every 1080p clip. Hence one output
limit for every board, and per board which codecs decode in hardware (and through which
mpv ``hwdec``) and which in software, up to what size and frame rate:

- Pi 4: H.264 in hardware (the stateful V4L2 decoder, up to 1080p60), HEVC in hardware
  (the stateless V4L2 request decoder behind mpv's ``drm`` hwdec, up to 4Kp60).
- Pi 5: HEVC in hardware (same path, up to 4Kp60); no H.264 block at all: H.264 is decoded in
  software, which its four A76 cores do at 1080p60, and not above.

``-copy`` hwdecs hand the decoded frame back to system memory, which vo=drm needs.
Profiles are the names FFmpeg (PyAV) reports; 10-bit and 4:2:2 H.264 profiles decode in
neither board's hardware.
"""

from __future__ import annotations

from dataclasses import dataclass

OUTPUT_WIDTH, OUTPUT_HEIGHT = 1920, 1080          # the pinned HDMI mode (--drm-mode)
OUTPUT_MODE = f"{OUTPUT_WIDTH}x{OUTPUT_HEIGHT}"
AUDIO_CODECS = ("aac", "mp3", "opus", "vorbis", "ac3", "eac3", "flac", "pcm_s16le", "pcm_s24le")
H264_PROFILES = ("Baseline", "Constrained Baseline", "Main", "High")
HEVC_PROFILES = ("Main", "Main 10")


@dataclass(frozen=True)
class Decoder:
    codec: str                  # FFmpeg's codec name, as PyAV reports it
    hardware: bool
    hwdec: str                  # mpv's --hwdec for this codec on this board ("no": software)
    max_width: int
    max_height: int
    max_fps: float
    profiles: tuple[str, ...]

    def describe(self) -> str:
        how = "in hardware" if self.hardware else "in software"
        return f"{self.codec} {how} up to {self.max_width}x{self.max_height} at {self.max_fps:g} fps"


@dataclass(frozen=True)
class Board:
    name: str                   # the device config's and inventory's pi model: pi4, pi5
    label: str
    decoders: dict[str, Decoder]

    def decoder(self, codec: str) -> Decoder | None:
        return self.decoders.get(codec)

    def describe(self) -> str:
        return f"{self.label} plays " + "; ".join(d.describe() for d in self.decoders.values())


BOARDS: dict[str, Board] = {b.name: b for b in (
    Board("pi4", "Raspberry Pi 4", {
        "h264": Decoder("h264", True, "v4l2m2m-copy", 1920, 1080, 60, H264_PROFILES),
        "hevc": Decoder("hevc", True, "drm-copy", 4096, 2160, 60, HEVC_PROFILES),
    }),
    Board("pi5", "Raspberry Pi 5", {
        "hevc": Decoder("hevc", True, "drm-copy", 4096, 2160, 60, HEVC_PROFILES),
        "h264": Decoder("h264", False, "no", 1920, 1080, 60, H264_PROFILES),
    }),
)}


def problems_on(target: Board, info) -> list[tuple[str, str]]:
    """Why ``target`` would not play the clip ``info`` (a ``probe.ClipInfo``) smoothly: (reason, sentence)."""
    found: list[tuple[str, str]] = []
    decoder = target.decoder(info.codec)
    if decoder is None:
        found.append(("codec", f"{target.label} has no decoder for {info.codec} that keeps up; it plays "
                               f"{' or '.join(target.decoders)}: re-encode the clip as H.264 or HEVC"))
        return found
    if info.profile and info.profile not in decoder.profiles:
        found.append(("profile", f"{info.codec} profile {info.profile!r} does not decode on {target.label} "
                                 f"(allowed: {', '.join(decoder.profiles)}); re-encode with an 8-bit 4:2:0 profile"))
    if info.width > decoder.max_width or info.height > decoder.max_height:
        found.append(("size", f"{info.width}x{info.height} {info.codec} is above what {target.label} decodes "
                              f"{'in hardware' if decoder.hardware else 'in software'} "
                              f"({decoder.max_width}x{decoder.max_height}); re-encode at {OUTPUT_MODE}"))
    elif info.width > OUTPUT_WIDTH or info.height > OUTPUT_HEIGHT:
        found.append(("size", f"{info.width}x{info.height} is larger than the screen's pinned {OUTPUT_MODE} mode: "
                              f"mpv would scale every frame on the CPU; re-encode at {OUTPUT_MODE}"))
    if info.fps > decoder.max_fps + 0.01:
        found.append(("frame-rate", f"{info.fps:.3g} fps is above the {decoder.max_fps:g} fps {target.label} "
                                    f"decodes {info.codec} at"))
    if info.audio is not None and info.audio.codec not in AUDIO_CODECS:
        found.append(("audio", f"sound in {info.audio.codec} is not among the formats the boards play "
                               f"({', '.join(AUDIO_CODECS)}); re-encode the sound as AAC"))
    return found


def board(name: str) -> Board:
    try:
        return BOARDS[name]
    except KeyError:
        raise KeyError(f"unknown board {name!r}; known: {', '.join(BOARDS)}") from None


__all__ = ["AUDIO_CODECS", "BOARDS", "Board", "Decoder", "OUTPUT_HEIGHT", "OUTPUT_MODE", "OUTPUT_WIDTH", "board",
           "problems_on"]
