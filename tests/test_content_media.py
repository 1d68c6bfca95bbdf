"""Animated GIFs keep their frame timing; video clips decode through PyAV at the board's frame rate."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from edge.content import PackError, compile_pack
from edge.panel.profile import load_profile

COLOURS = [(255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 0)]


def make_pack(folder, items):
    folder.mkdir(exist_ok=True)
    (folder / "pack.toml").write_text(f'id = "media"\nversion = "1"\n{items}', "utf-8")
    return folder


def write_gif(path, durations):
    frames = [Image.new("RGB", (32, 16), c) for c in COLOURS[:len(durations)]]
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=durations, loop=0)


def test_gif_frame_timing_is_preserved(tmp_path):
    folder = make_pack(tmp_path / "p", '[[items]]\nkind = "gif"\nfile = "a.gif"\nloops = 2\n')
    write_gif(folder / "a.gif", [100, 250, 40, 1000])
    compiled = compile_pack(folder, load_profile("p4-128x32"), tmp_path / "cache")
    assert compiled.durations.tolist() == pytest.approx([0.1, 0.25, 0.04, 1.0] * 2)
    assert compiled.total_duration == pytest.approx(2.78)
    # colours in order, scaled x2 with nearest-neighbour (32x16 -> 64x32), centred
    for i, colour in enumerate(COLOURS * 2):
        assert tuple(compiled.frames[i][16, 64]) == colour
        assert tuple(compiled.frames[i][16, 10]) == (0, 0, 0)
    # a loop repeats the stored frames rather than storing them again
    assert compiled.sources[0].shape[0] == 4


def test_gif_duration_sets_the_number_of_loops(tmp_path):
    folder = make_pack(tmp_path / "p", '[[items]]\nkind = "gif"\nfile = "a.gif"\nduration = 3\n')
    write_gif(folder / "a.gif", [500, 500])
    compiled = compile_pack(folder, load_profile("p4-128x32"), tmp_path / "cache")
    assert len(compiled) == 6 and compiled.total_duration == pytest.approx(3.0)


def write_video(path, fps, seconds, size=(64, 32)):
    av = pytest.importorskip("av")
    with av.open(str(path), "w") as out:
        stream = out.add_stream("mpeg4", rate=fps)
        stream.width, stream.height = size
        stream.pix_fmt = "yuv420p"
        for i in range(int(fps * seconds)):
            img = np.zeros((size[1], size[0], 3), np.uint8)
            img[:, :] = (255, 255, 255) if i % 2 else (0, 0, 0)
            img[:, i % size[0]] = (255, 0, 0)
            frame = av.VideoFrame.from_ndarray(img, format="rgb24")
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)


def test_video_clip_decodes_with_its_timing(tmp_path):
    folder = make_pack(tmp_path / "p", '[[items]]\nkind = "video"\nfile = "clip.mp4"\n')
    write_video(folder / "clip.mp4", fps=10, seconds=2)
    progress = []
    compiled = compile_pack(folder, load_profile("p4-128x32"), tmp_path / "cache",
                            progress=lambda label, f: progress.append((label, f)))
    assert len(compiled) == 20
    assert compiled.durations == pytest.approx(np.full(20, 0.1))
    assert compiled.frames[1][16, 64].mean() > 200 and compiled.frames[2][16, 64].mean() < 60  # alternating
    assert progress[-1] == ("items[0] (video)", 1.0) and len(progress) > 5  # a long compile reports progress


def test_video_faster_than_the_board_is_capped(tmp_path):
    folder = make_pack(tmp_path / "p", '[[items]]\nkind = "video"\nfile = "clip.mp4"\nduration = 1\n')
    write_video(folder / "clip.mp4", fps=60, seconds=2)
    compiled = compile_pack(folder, load_profile("p4-128x32"), tmp_path / "cache")  # a 30 fps board
    assert len(compiled) == 30
    assert compiled.total_duration == pytest.approx(1.0)


def test_a_file_that_is_not_video_is_named(tmp_path):
    folder = make_pack(tmp_path / "p", '[[items]]\nname = "intro"\nkind = "video"\nfile = "clip.mp4"\n')
    (folder / "clip.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42 but nothing else")
    with pytest.raises(PackError, match=r"items\[0\] \(video 'intro'\).*clip.mp4"):
        compile_pack(folder, load_profile("p4-128x32"), tmp_path / "cache")
