"""Make the iHanoi promo for TVs (ihanoi-promo-tv/promo.mp4): 1920x1080, 25 fps, H.264 with AAC sound.

    python edge/packs/make_tv_promo.py [--seconds 15] [--out edge/packs/ihanoi-promo-tv/promo.mp4]

Generated here (PyAV, numpy, Pillow), never downloaded: three scenes in the campaign's red
and yellow (the iHanoi title with the star, the slogan, the QR code to install the app)
over a short chime. The text uses the TV filler's packaged Vietnamese font. The clip is
made to pass the TV clip gate on every board (H.264 High, 8-bit 4:2:0, 1080p, 25 fps, AAC,
moov atom first so a cut copy is caught). Replace it with the city's own clip by dropping
an MP4 into a pack folder; ``ihanoi-content build --board ...`` checks it.
"""

from __future__ import annotations

import argparse
from fractions import Fraction
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent / "ihanoi-promo-tv"
W, H, FPS, RATE = 1920, 1080, 25, 48000
RED, YELLOW, WHITE, INK = (183, 28, 28), (255, 210, 0), (255, 255, 255), (20, 20, 20)
SCENES = (
    ("iHanoi", "Công dân Thủ đô số"),
    ("Phản ánh, góp ý, tra cứu thủ tục hành chính", "ngay trên điện thoại của bạn"),
    ("Quét mã QR để tải iHanoi", "ihanoi.hanoi.gov.vn"),
)


def _star(draw, cx: float, cy: float, r: float, color) -> None:
    import math

    points = []
    for i in range(10):
        radius = r if i % 2 == 0 else r * 0.4
        angle = -math.pi / 2 + i * math.pi / 5
        points.append((cx + radius * math.cos(angle), cy + radius * math.sin(angle)))
    draw.polygon(points, fill=color)


def scene_image(index: int, progress: float):
    """One frame of scene ``index`` at ``progress`` (0..1 through the scene)."""
    from PIL import Image, ImageDraw

    from edge.hdmi.filler import QR_DATA, _face, _fit, filler_font

    font = filler_font()
    image = Image.new("RGB", (W, H), RED)
    draw = ImageDraw.Draw(image)
    draw.rectangle([0, H - 110, W, H], fill=YELLOW)
    draw.text((W / 2, H - 55), "iHanoi — Công dân Thủ đô số", font=_face(font.bold, 56), fill=RED, anchor="mm")
    title, subtitle = SCENES[index]
    ease = min(1.0, progress * 4)                   # the scene's text slides in over its first quarter
    if index == 0:
        _star(draw, W / 2, 330, 150 + 20 * np.sin(progress * np.pi * 4), YELLOW)
        draw.text((W / 2, 600 + (1 - ease) * 60), title, font=_face(font.bold, 170), fill=WHITE, anchor="mm")
        draw.text((W / 2, 770), subtitle, font=_face(font.bold, 90), fill=YELLOW, anchor="mm")
    elif index == 1:
        face = _fit(draw, title, font.bold, 96, W - 200)
        draw.text((W / 2 - (1 - ease) * 400, 430), title, font=face, fill=WHITE, anchor="mm")
        draw.text((W / 2 + (1 - ease) * 400, 580), subtitle, font=_face(font.regular, 80), fill=YELLOW, anchor="mm")
    else:
        import segno

        matrix = np.pad(np.array(segno.make(QR_DATA, error="m", micro=False).matrix, dtype=bool), 4)
        scale = 560 // matrix.shape[0]
        pixels = np.repeat(np.repeat(matrix, scale, axis=0), scale, axis=1)
        qr = Image.fromarray(np.where(pixels[..., None], np.uint8(INK), np.uint8(WHITE)).astype(np.uint8))
        image.paste(qr, (W - qr.width - 180, (H - 110 - qr.height) // 2))
        draw.text((160, 380), title, font=_fit(draw, title, font.bold, 96, W - qr.width - 420), fill=WHITE)
        draw.text((160, 540), subtitle, font=_face(font.regular, 72), fill=YELLOW)
    return image


def chime(seconds: float) -> np.ndarray:
    """A soft three-note chime per scene and a quiet pad under it: float32 stereo, RATE Hz."""
    t = np.arange(int(seconds * RATE)) / RATE
    pad = 0.04 * np.sin(2 * np.pi * 220 * t) * (0.6 + 0.4 * np.sin(2 * np.pi * 0.25 * t))
    sound = pad.copy()
    scene = seconds / len(SCENES)
    for s in range(len(SCENES)):
        for k, freq in enumerate((523.25, 659.25, 783.99)):
            start = s * scene + 0.15 * k
            mask = t >= start
            envelope = np.exp(-(t[mask] - start) * 3.0)
            sound[mask] += 0.18 * envelope * np.sin(2 * np.pi * freq * (t[mask] - start))
    sound = np.clip(sound, -1, 1).astype(np.float32)
    return np.stack([sound, sound])


def make(out: Path, seconds: float = 15.0) -> Path:
    import av

    out.parent.mkdir(parents=True, exist_ok=True)
    frames = int(seconds * FPS)
    per_scene = frames / len(SCENES)
    tmp = out.with_name(f".{out.name}.tmp.mp4")
    with av.open(str(tmp), "w", options={"movflags": "faststart"}) as container:
        video = container.add_stream("libx264", rate=Fraction(FPS))
        video.width, video.height, video.pix_fmt = W, H, "yuv420p"
        video.codec_context.profile = "High"
        video.codec_context.options = {"crf": "30", "preset": "medium", "g": str(2 * FPS), "tune": "animation"}
        audio = container.add_stream("aac", rate=RATE)
        audio.layout = "stereo"
        audio.codec_context.bit_rate = 96_000
        last_key, last_frame = None, None
        for i in range(frames):
            index = min(len(SCENES) - 1, int(i / per_scene))
            progress = (i - index * per_scene) / per_scene
            key = (index, round(min(1.0, progress * 4), 3), round(progress, 2) if index == 0 else 0)
            if key != last_key:
                last_frame = np.asarray(scene_image(index, progress))
                last_key = key
            for packet in video.encode(av.VideoFrame.from_ndarray(last_frame, format="rgb24")):
                container.mux(packet)
        for packet in video.encode():
            container.mux(packet)
        sound = chime(seconds)
        for start in range(0, sound.shape[1], 1024):
            block = np.ascontiguousarray(sound[:, start:start + 1024])
            frame = av.AudioFrame.from_ndarray(block.T.reshape(1, -1), format="flt", layout="stereo")
            frame.sample_rate, frame.pts = RATE, start
            for packet in audio.encode(frame):
                container.mux(packet)
        for packet in audio.encode():
            container.mux(packet)
    tmp.replace(out)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--out", type=Path, default=HERE / "promo.mp4")
    args = parser.parse_args()
    print(make(args.out, args.seconds))


if __name__ == "__main__":
    main()
