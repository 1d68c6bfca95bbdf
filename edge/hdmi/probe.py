"""What a video clip really is, read with PyAV (FFmpeg): codec, profile, size, frame rate, length, sound.

    info = probe("promo.mp4")
    info.codec, info.profile, info.width, info.height, info.fps, info.duration, info.audio

``probe`` opens the file, reads every packet of the video stream (so a file cut short, whose
header still announces the whole length, is caught: ``truncated``) and, with ``decode=True``
(the default), decodes every frame with FFmpeg's error detection set to ``explode`` (so a
damaged stream is an error, not a picture patched over by error concealment: ``corrupt``).
Anything wrong raises ``ClipRefused`` naming the file and the reason. Reading a 30-second
1080p clip takes a few seconds on a PC; it is done when a bundle is built, when a board
loads a pack, never per play.

``probe_apart`` does the same in a short-lived child process: the agent of a TV board uses it,
so FFmpeg's libraries and the decoded frames of a new bundle's check never enter the agent's
memory (about 16 MB for the libraries alone, and the decode's peak). A child that cannot run
(cannot start, killed) is logged and the clip is probed in this process instead.

    python -m edge.hdmi.probe FILE [--decode]      # what the child runs: the facts as JSON
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

from ihanoi.contract.errors import ClipRefused

log = logging.getLogger(__name__)

# A clip whose packets stop this much before the announced end was cut short.
TRUNCATION_SLACK_S = 0.25
# FFmpeg names the decoder it picked; the gate speaks of formats.
_FORMAT = {"mp3float": "mp3", "mp2float": "mp2", "aac_fixed": "aac", "libopus": "opus", "libvorbis": "vorbis",
           "libdav1d": "av1", "libvpx-vp9": "vp9"}


@dataclass(frozen=True)
class AudioInfo:
    codec: str
    channels: int
    sample_rate: int


@dataclass(frozen=True)
class ClipInfo:
    file: str
    container: str
    codec: str
    profile: str | None
    width: int
    height: int
    fps: float
    pix_fmt: str | None
    duration: float             # seconds, from the video packets actually in the file
    frames: int | None          # decoded frames (None when not decoded)
    audio: AudioInfo | None

    def describe(self) -> str:
        sound = f", {self.audio.codec} {self.audio.channels} ch" if self.audio else ", no sound"
        profile = f" {self.profile}" if self.profile else ""
        return (f"{self.codec}{profile} {self.width}x{self.height} {self.fps:.3g} fps, "
                f"{self.duration:.2f} s{sound}")


def probe(path: Path | str, decode: bool = True) -> ClipInfo:
    """The clip's facts; ``ClipRefused`` when it cannot be read, is cut short or damaged."""
    import av

    path = Path(path)

    def refuse(reason: str, problem: str) -> ClipRefused:
        return ClipRefused(path, "", path.name, reason, problem)

    if not path.is_file():
        raise refuse("unreadable", f"file {path.name!r} does not exist")
    try:
        container = av.open(str(path))
    except av.FFmpegError as exc:
        raise refuse("unreadable", f"{path.name!r} is not a video file FFmpeg can open ({_why(exc)})") from None
    with container:
        if not container.streams.video:
            raise refuse("no-video", f"{path.name!r} has no video stream")
        stream = container.streams.video[0]
        ctx = stream.codec_context
        audio = None
        if container.streams.audio:
            a = container.streams.audio[0].codec_context
            audio = AudioInfo(_FORMAT.get(a.name, a.name), int(a.channels or 0), int(a.sample_rate or 0))
        announced = _announced(container, stream)
        rate = stream.average_rate or stream.guessed_rate or stream.base_rate
        fps = float(rate) if rate else 0.0
        end, packets = _packets_end(container, stream, refuse)
        if packets == 0:
            raise refuse("corrupt", f"{path.name!r} announces a video stream but holds no video packets")
        if announced and end < announced - TRUNCATION_SLACK_S:
            raise refuse("truncated", f"{path.name!r} is cut short: it holds {end:.2f} s of the {announced:.2f} s "
                                      f"its header announces (an interrupted copy or download?)")
        info = dict(file=str(path), container=container.format.name, codec=_FORMAT.get(ctx.name, ctx.name),
                    profile=ctx.profile or None,
                    width=int(ctx.width), height=int(ctx.height), fps=fps, pix_fmt=ctx.pix_fmt,
                    duration=end if end > 0 else (announced or 0.0), frames=None, audio=audio)
    if decode:
        info["frames"] = _decode_all(path, refuse)
    if info["duration"] <= 0:
        raise refuse("corrupt", f"{path.name!r} has no duration")
    return ClipInfo(**info)


def _announced(container, stream) -> float | None:
    if stream.duration is not None and stream.time_base is not None:
        return float(stream.duration * stream.time_base)
    if container.duration:
        return container.duration / 1_000_000
    return None


def _packets_end(container, stream, refuse) -> tuple[float, int]:
    import av

    end, count = 0.0, 0
    try:
        for packet in container.demux(stream):
            if packet.pts is None or packet.size == 0:
                continue
            count += 1
            end = max(end, float((packet.pts + (packet.duration or 0)) * packet.time_base))
    except av.FFmpegError as exc:
        raise refuse("corrupt", f"{container.name!r} cannot be read past {end:.2f} s ({_why(exc)})") from None
    first = float(stream.start_time * stream.time_base) if stream.start_time is not None else 0.0
    return max(0.0, end - first), count


def _decode_all(path: Path, refuse) -> int:
    import av

    frames = 0
    try:
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            stream.codec_context.options = {"err_detect": "explode"}
            stream.thread_type = "AUTO"
            for _frame in container.decode(stream):
                frames += 1
    except av.FFmpegError as exc:
        raise refuse("corrupt", f"{path.name!r} is damaged: decoding fails after {frames} frames "
                                f"({_why(exc)})") from None
    if frames == 0:
        raise refuse("corrupt", f"{path.name!r} has no picture that decodes")
    return frames


def _why(exc) -> str:
    return getattr(exc, "strerror", None) or str(exc)


def probe_apart(path: Path | str, decode: bool = True, python: str | None = None) -> ClipInfo:
    """``probe`` in a child process (see the module's text); the same facts, the same refusals."""
    path = Path(path)
    argv = [python or sys.executable, "-m", "edge.hdmi.probe", str(path)] + (["--decode"] if decode else [])
    try:
        done = subprocess.run(argv, capture_output=True, text=True, check=False)
    except OSError as exc:
        log.warning("the clip prober could not start (%s): probing %s in the agent", exc, path.name)
        return probe(path, decode)
    try:
        answer = json.loads(done.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        answer = {}
    if done.returncode == 0 and "info" in answer:
        info = answer["info"]
        audio = AudioInfo(**info.pop("audio")) if info.get("audio") else None
        return ClipInfo(**info | {"audio": audio})
    if "refused" in answer:
        raise ClipRefused(path, "", path.name, answer["refused"]["reason"], answer["refused"]["problem"])
    log.warning("the clip prober failed (exit %s: %s): probing %s in the agent", done.returncode,
                done.stderr.strip()[-500:] or "no message", path.name)
    return probe(path, decode)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    try:
        info = probe(args[0], decode="--decode" in args[1:])
    except ClipRefused as exc:
        print(json.dumps({"refused": {"reason": exc.reason, "problem": exc.problem}}))
        return 1
    print(json.dumps({"info": asdict(info)}))
    return 0


__all__ = ["AudioInfo", "ClipInfo", "probe", "probe_apart"]


if __name__ == "__main__":
    sys.exit(main())
