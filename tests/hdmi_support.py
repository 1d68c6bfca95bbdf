"""What the HDMI tests share: short clips made here with PyAV (picture and sound), TV packs, a player on mpv.

Clips are generated, never downloaded: a moving bar over a colour field (so frames differ)
and a 440 Hz tone, in the codec, size, frame rate and length a test asks for.
"""

from __future__ import annotations

import shutil
import tempfile
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

needs_mpv = pytest.mark.skipif(shutil.which("mpv") is None, reason="mpv is not installed (apt-get install -y mpv)")


def make_clip(path: Path, seconds: float = 2.0, width: int = 320, height: int = 180, fps: int = 25,
              codec: str = "libx264", sound: bool = True, profile: str | None = None,
              pix_fmt: str = "yuv420p", audio_codec: str = "aac") -> Path:
    import av

    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), "w", options={"movflags": "faststart"}) as out:
        video = out.add_stream(codec, rate=Fraction(fps).limit_denominator(1001))
        video.width, video.height, video.pix_fmt = width, height, pix_fmt
        if profile:
            video.codec_context.profile = profile
        if codec == "libx265":
            video.codec_context.options = {"x265-params": "log-level=error"}
        audio = out.add_stream(audio_codec, rate=48000) if sound else None
        if audio is not None:
            audio.layout = "stereo"
        frames = max(1, round(seconds * fps))
        canvas = np.zeros((height, width, 3), np.uint8)
        for i in range(frames):
            canvas[:] = (30, 60, 160)
            x = int(width * i / frames)
            canvas[:, x:x + max(2, width // 20)] = (255, 210, 0)
            for packet in video.encode(av.VideoFrame.from_ndarray(canvas, format="rgb24")):
                out.mux(packet)
        for packet in video.encode():
            out.mux(packet)
        if audio is not None:
            total, t = int(seconds * 48000), 0
            while t < total:
                n = min(1024, total - t)
                tone = (0.2 * np.sin(2 * np.pi * 440 * np.arange(t, t + n) / 48000)).astype(np.float32)
                frame = av.AudioFrame.from_ndarray(np.stack([tone, tone]).reshape(1, -1), format="flt",
                                                   layout="stereo")
                frame.sample_rate, frame.pts = 48000, t
                t += n
                for packet in audio.encode(frame):
                    out.mux(packet)
            for packet in audio.encode():
                out.mux(packet)
    return path


def make_tv_pack(folder: Path, clip: Path | None = None, pack_id: str = "ihanoi-promo", version: str = "tv-test",
                 extra: str = "", **clip_args) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    if clip is None:
        clip = make_clip(folder / "promo.mp4", **clip_args)
    elif clip.parent != folder:
        shutil.copy(clip, folder / clip.name)
    (folder / "pack.toml").write_text(f'id = "{pack_id}"\nversion = "{version}"\n\n[[items]]\nkind = "video"\n'
                                      f'file = "{clip.name}"\n{extra}')
    return folder


def short_dir() -> Path:
    """A folder with a short path: mpv's IPC socket path must fit in 108 bytes."""
    return Path(tempfile.mkdtemp(prefix="hdmi-", dir="/tmp"))
