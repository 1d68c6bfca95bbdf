"""Content for TVs: the clip probe, the per-board decode gate, TV packs, and `ihanoi-content build` refusing
what a board cannot play (named file, named reason), on clips generated here with PyAV."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
from pathlib import Path

import pytest

from edge.content import builtin_pack
from edge.hdmi import BOARDS, load_filler, load_promo, probe, problems_on
from edge.hdmi.probe import AudioInfo, ClipInfo, probe_apart
from edge.updates.bundle import file_sha256
from edge.updates.gate import check_pack_clips
from ihanoi.contract.errors import ClipRefused, PackError
from tests.hdmi_support import make_clip, make_tv_pack

BASE = ClipInfo(file="promo.mp4", container="mov,mp4", codec="h264", profile="High", width=1920, height=1080,
                fps=25.0, pix_fmt="yuv420p", duration=20.0, frames=500, audio=AudioInfo("aac", 2, 48000))


def info(**changes) -> ClipInfo:
    return dataclasses.replace(BASE, **changes)


# --- the decode table, board by board ----------------------------------------------------------
@pytest.mark.parametrize("clip,pi4,pi5", [
    (info(), None, None),                                                       # 1080p H.264: both
    (info(codec="hevc", profile="Main"), None, None),                           # 1080p HEVC: both
    (info(codec="hevc", profile="Main 10"), None, None),
    (info(width=1280, height=720, fps=50), None, None),
    (info(width=2560, height=1440), "size", "size"),                            # H.264 above 1080p
    (info(width=3840, height=2160, codec="hevc", profile="Main"), "size", "size"),   # 4K: scaled on the CPU
    (info(codec="vp9", profile="Profile 0"), "codec", "codec"),
    (info(codec="mpeg4", profile="Simple Profile"), "codec", "codec"),
    (info(profile="High 10"), "profile", "profile"),
    (info(profile="High 4:2:2"), "profile", "profile"),
    (info(fps=120), "frame-rate", "frame-rate"),
    (info(audio=AudioInfo("alac", 2, 48000)), "audio", "audio"),
    (info(audio=None), None, None),                                             # a silent clip plays
])
def test_what_each_board_plays(clip, pi4, pi5):
    for name, expected in (("pi4", pi4), ("pi5", pi5)):
        found = problems_on(BOARDS[name], clip)
        assert (found[0][0] if found else None) == expected, (name, found)


def test_the_pi5_decodes_h264_in_software_and_hevc_in_hardware():
    pi4, pi5 = BOARDS["pi4"], BOARDS["pi5"]
    assert pi4.decoder("h264").hardware and pi4.decoder("hevc").hardware
    assert not pi5.decoder("h264").hardware and pi5.decoder("h264").hwdec == "no"
    assert pi5.decoder("hevc").hardware and pi5.decoder("hevc").hwdec == "drm-copy"
    assert (pi5.decoder("h264").max_width, pi5.decoder("h264").max_height) == (1920, 1080)


def test_a_refusal_says_what_to_do():
    (reason, text), = problems_on(BOARDS["pi5"], info(width=2560, height=1440))
    assert reason == "size" and "Raspberry Pi 5" in text and "in software" in text and "1920x1080" in text


# --- real files through PyAV -------------------------------------------------------------------
@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    folder = tmp_path_factory.mktemp("clips")
    made = {
        "h264": make_clip(folder / "h264.mp4", seconds=1.0, width=1920, height=1080),
        "hevc": make_clip(folder / "hevc.mp4", seconds=1.0, width=1920, height=1080, codec="libx265"),
        "h264-1440p": make_clip(folder / "h264-1440p.mp4", seconds=0.5, width=2560, height=1440),
        "high10": make_clip(folder / "high10.mp4", seconds=0.5, pix_fmt="yuv420p10le"),
        "vp9": make_clip(folder / "vp9.mp4", seconds=0.5, codec="libvpx-vp9"),
        "silent": make_clip(folder / "silent.mp4", seconds=0.5, sound=False),
    }
    data = made["h264"].read_bytes()
    made["truncated"] = folder / "truncated.mp4"
    made["truncated"].write_bytes(data[: len(data) * 6 // 10])
    corrupt = bytearray(data)
    corrupt[len(data) // 2: len(data) // 2 + 4000] = os.urandom(4000)
    made["corrupt"] = folder / "corrupt.mp4"
    made["corrupt"].write_bytes(bytes(corrupt))
    made["garbage"] = folder / "garbage.mp4"
    made["garbage"].write_bytes(os.urandom(20_000))
    return made


def test_the_probe_reads_what_a_clip_is(clips):
    facts = probe(clips["h264"])
    assert (facts.codec, facts.profile, facts.width, facts.height, facts.fps) == ("h264", "High", 1920, 1080, 25.0)
    assert facts.duration == pytest.approx(1.0) and facts.frames == 25
    assert facts.audio == AudioInfo("aac", 2, 48000)
    assert probe(clips["hevc"]).codec == "hevc" and probe(clips["silent"]).audio is None
    assert probe(clips["high10"]).profile == "High 10" and probe(clips["vp9"]).codec == "vp9"


@pytest.mark.parametrize("name,reason", [("truncated", "truncated"), ("corrupt", "corrupt"),
                                         ("garbage", "unreadable")])
def test_damaged_files_are_refused_with_their_reason(clips, name, reason):
    with pytest.raises(ClipRefused) as caught:
        probe(clips[name])
    assert caught.value.reason == reason and caught.value.file == f"{name}.mp4"
    assert f"{name}.mp4" in str(caught.value)


# --- the same probe in a child process, as a TV board's agent runs it --------------------------
@pytest.mark.parametrize("name", ["h264", "silent", "high10"])
def test_the_probe_apart_finds_the_same_facts(clips, name):
    for decode in (False, True):
        assert probe_apart(clips[name], decode=decode) == probe(clips[name], decode=decode)


@pytest.mark.parametrize("name,reason", [("truncated", "truncated"), ("corrupt", "corrupt"),
                                         ("garbage", "unreadable")])
def test_the_probe_apart_refuses_as_the_probe_does(clips, name, reason):
    with pytest.raises(ClipRefused) as here:
        probe(clips[name])
    with pytest.raises(ClipRefused) as apart:
        probe_apart(clips[name])
    assert (apart.value.reason, apart.value.file, apart.value.problem) == (reason, f"{name}.mp4", here.value.problem)


def test_a_prober_that_cannot_run_leaves_the_probe_to_this_process(clips, tmp_path, caplog):
    dead = tmp_path / "python"
    dead.write_text("#!/bin/sh\nkill -9 $$\n")
    dead.chmod(0o755)
    for python, why in ((str(tmp_path / "missing"), "could not start"), (str(dead), "the clip prober failed")):
        caplog.clear()
        assert probe_apart(clips["h264"], decode=False, python=python) == probe(clips["h264"], decode=False)
        assert why in caplog.text and "h264.mp4" in caplog.text
    with pytest.raises(ClipRefused) as caught:
        probe_apart(clips["truncated"], python=str(dead))
    assert caught.value.reason == "truncated"


def test_a_tv_board_loads_its_promo_without_ffmpeg_in_its_own_process(tmp_path):
    pack = make_tv_pack(tmp_path / "pack", seconds=1.0)
    script = ("import sys; from edge.hdmi import load_promo; "
              f"clip = load_promo({str(pack)!r}, 'pi4', decode=True, apart=True); "
              "print(clip.info.frames, 'av' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert done.stdout.split() == ["25", "False"]


def test_the_pack_gate_names_pack_item_file_and_reason(tmp_path, clips):
    pack = make_tv_pack(tmp_path / "pack", clips["h264-1440p"])
    with pytest.raises(ClipRefused) as caught:
        check_pack_clips(pack, [BOARDS["pi5"]])
    message = str(caught.value)
    assert message.startswith(f"{pack / 'pack.toml'}: items[0] (video): file 'h264-1440p.mp4'")
    assert "Raspberry Pi 5" in message and caught.value.reason == "size"
    [checked] = check_pack_clips(make_tv_pack(tmp_path / "ok", clips["hevc"]), [BOARDS["pi4"], BOARDS["pi5"]])
    assert "hevc Main 1920x1080" in checked.describe() and "Raspberry Pi 5" in checked.describe()


# --- TV packs ----------------------------------------------------------------------------------
def test_the_shipped_tv_promo_plays_on_every_board_and_counts_as_the_campaign():
    from ihanoi.contract.registry import load_registry

    pack = builtin_pack("ihanoi-promo-tv")
    for name in BOARDS:
        promo = load_promo(pack, name)
        assert promo.content == {"id": load_registry().campaign.content_id, "version": "2024.08.1-tv",
                                 "sha256": file_sha256(pack / "promo.mp4")}
    assert (promo.info.width, promo.info.height, promo.info.codec) == (1920, 1080, "h264")
    assert promo.info.audio is not None and promo.seconds >= 10


def test_a_tv_pack_has_one_video_item(tmp_path, clips):
    pack = make_tv_pack(tmp_path / "two", clips["h264"],
                        extra='\n[[items]]\nkind = "video"\nfile = "h264.mp4"\n')
    with pytest.raises(PackError, match="exactly one video item"):
        load_promo(pack)
    text = make_tv_pack(tmp_path / "text", clips["h264"], extra='\n[[items]]\nkind = "text"\ntext = "Xin chào"\n')
    with pytest.raises(PackError, match=r"items\[1\] \(text\): a TV plays the pack's one video item"):
        load_promo(text)


def test_duration_and_fit_reach_mpv(tmp_path, clips):
    pack = make_tv_pack(tmp_path / "part", clips["h264"], extra="duration = 0.5\nfit = \"cover\"\n")
    promo = load_promo(pack)
    assert promo.seconds == 0.5 and promo.total_duration == 0.5
    assert promo.mpv_options() == "keepaspect=yes,panscan=1.0,end=0.500"


def test_a_filler_pack_mixes_clips_and_pictures(tmp_path, clips):
    from PIL import Image

    pack = make_tv_pack(tmp_path / "filler", clips["silent"],
                        extra='\n[[items]]\nkind = "image"\nfile = "still.png"\nduration = 20\n')
    Image.new("RGB", (1920, 1080), (0, 90, 0)).save(pack / "still.png")
    clip, still = load_filler(pack, "pi5")
    assert clip.info.audio is None and still.seconds == 20 and still.path.name == "still.png"


def test_a_refused_clip_stops_the_pack_from_loading_on_that_board(tmp_path, clips):
    pack = make_tv_pack(tmp_path / "big", clips["h264-1440p"])
    with pytest.raises(ClipRefused, match="Raspberry Pi 4"):
        load_promo(pack, "pi4")
    assert load_promo(pack).info.width == 2560          # no board given: probed, not judged


# --- ihanoi-content build ------------------------------------------------------------------------
def content(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "ihanoi.tools.content", *args], cwd=cwd, capture_output=True,
                          text=True, timeout=300)


@pytest.fixture(scope="module")
def key(tmp_path_factory):
    folder = tmp_path_factory.mktemp("keys")
    proc = content("keygen", "--out", str(folder / "tech"), cwd=folder)
    assert proc.returncode == 0, proc.stderr
    return folder / "tech.key"


@pytest.mark.parametrize("clip,targets,expect", [
    ("h264-1440p", ["--unit", "ttyt-quan"], "size"),               # the registry's LCD unit: every board
    ("h264-1440p", ["--all"], "size"),
    ("truncated", ["--unit", "ttyt-quan"], "truncated"),
    ("corrupt", ["--unit", "phuong-bach-mai", "--board", "pi4"], "corrupt"),
    ("vp9", ["--unit", "phuong-bach-mai", "--board", "pi5"], "codec"),
    ("high10", ["--all", "--board", "pi4"], "profile"),
])
def test_build_refuses_a_clip_the_target_boards_cannot_play(tmp_path, clips, key, clip, targets, expect):
    pack = make_tv_pack(tmp_path / "pack", clips[clip])
    out = tmp_path / "bundle.tar"
    proc = content("build", str(pack), "--key", str(key), "--version", "3", *targets, "--out", str(out),
                   cwd=tmp_path)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert f"'{clip}.mp4'" in proc.stderr and "items[0] (video)" in proc.stderr
    words = {"size": "1920x1080", "truncated": "cut short", "corrupt": "damaged", "codec": "no decoder for vp9",
             "profile": "'High 10'"}
    assert words[expect] in proc.stderr
    assert not out.exists()


def test_build_checks_and_lists_the_clips_it_lets_through(tmp_path, clips, key):
    pack = make_tv_pack(tmp_path / "pack", clips["hevc"])
    out = tmp_path / "bundle.tar"
    proc = content("build", str(pack), "--key", str(key), "--version", "3", "--unit", "ttyt-quan",
                   "--out", str(out), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "hbt-ttyt-quan-01" in proc.stdout and "hevc Main 1920x1080" in proc.stdout
    assert "Raspberry Pi 4, Raspberry Pi 5" in proc.stdout and out.exists()


def test_build_for_led_boards_only_does_not_judge_clips_as_a_tv_would(tmp_path, clips, key):
    pack = make_tv_pack(tmp_path / "pack", clips["h264-1440p"])
    out = tmp_path / "bundle.tar"
    proc = content("build", str(pack), "--key", str(key), "--version", "3", "--unit", "phuong-bach-mai",
                   "--out", str(out), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "checking the video clips" not in proc.stdout and out.exists()
