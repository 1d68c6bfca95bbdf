"""The ``[hdmi]`` section of an LCD/TV board's device config, and the mpv command line it makes.

    [hdmi]
    board = "pi5"                 # pi4 | pi5: which decoders (edge/hdmi/boards.py)
    output = "drm"                # drm (the Pi, full screen) | window (a PC) | null (tests, demo)
    connector = "HDMI-A-1"        # the Pi's HDMI port (mpv --drm-connector); empty: the first connected
    mode = "1920x1080"            # pinned: a 4K TV's preferred mode would make mpv upscale on the CPU
    volume = 80                   # this lobby's loudness, 0-100
    audio_device = "alsa/hdmi:CARD=vc4hdmi0,DEV=0"
    [hdmi.cec]
    enabled = true                # false for screens without HDMI-CEC: power is then not managed
    device = "/dev/cec0"

``IHANOI_HDMI=null|window|drm`` overrides ``output`` (like ``IHANOI_PANEL`` for the LED boards).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from edge.hdmi.boards import BOARDS, OUTPUT_MODE

HDMI_OUTPUTS = ("drm", "window", "null")


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CecSettings(_Section):
    enabled: bool = Field(True, description="false: the screen has no HDMI-CEC; its power is neither set nor asked")
    device: str = Field("/dev/cec0", min_length=1, description="the CEC adapter of the HDMI port the TV is on")
    osd_name: str = Field("iHanoi", min_length=1, max_length=14, description="the name the TV shows for this input")
    command: str = Field("cec-ctl", min_length=1, description="cec-ctl from v4l-utils")
    timeout_s: float = Field(8.0, gt=0, le=60, description="longest wait for one cec-ctl call")
    warmup_minutes: int = Field(10, ge=0, le=120, description="switch the TV on this long before opening")
    standby_after_minutes: int = Field(5, ge=0, le=120, description="put it to standby this long after closing")


class HdmiSettings(_Section):
    board: Literal["pi4", "pi5"] = Field("pi4", description=f"Pi model: {', '.join(BOARDS)}")
    output: Literal["drm", "window", "null"] = "drm"
    connector: str | None = Field(None, pattern=r"^[A-Za-z0-9-]+$", description="mpv --drm-connector, e.g. HDMI-A-1")
    mode: str = Field(OUTPUT_MODE, pattern=r"^\d{3,4}x\d{3,4}(@\d{2,3}(\.\d+)?)?$", description="mpv --drm-mode")
    volume: int = Field(80, ge=0, le=100)
    audio_device: str = Field("auto", min_length=1, description="mpv --audio-device (mpv --audio-device=help)")
    sound: bool = Field(True, description="false: no sound at all (--ao=null)")
    mpv: str = Field("mpv", min_length=1, description="the mpv program (Debian's package)")
    hang_seconds: float = Field(5.0, ge=0.5, le=120, description="mpv silent this long while playing is hung")
    start_timeout_s: float = Field(15.0, ge=1, le=120, description="longest wait for mpv's IPC socket at start")
    cec: CecSettings = CecSettings()

    @property
    def effective_output(self) -> str:
        """``IHANOI_HDMI`` overrides the configured output, like ``GPIOZERO_PIN_FACTORY``."""
        return os.environ.get("IHANOI_HDMI") or self.output


def mpv_arguments(settings: HdmiSettings, ipc_socket: Path, log_file: Path | None = None) -> list[str]:
    """The mpv command line: one long-lived, idle, full-screen process driven over its JSON IPC socket."""
    output = settings.effective_output
    if output not in HDMI_OUTPUTS:
        raise ValueError(f"IHANOI_HDMI={output!r}; allowed: {', '.join(HDMI_OUTPUTS)}")
    args = [
        settings.mpv,
        "--no-config",                      # nothing from ~/.config/mpv or /etc/mpv changes what a board does
        "--idle=yes", "--force-window=yes",  # stays up between clips: no console flashing through
        # errors only, to the stderr file the adapter keeps (what went wrong when mpv will not start)
        "--input-terminal=no", "--term-osd=no", "--msg-color=no", "--msg-level=all=error",
        "--no-input-default-bindings", "--input-vo-keyboard=no", "--no-osc",
        "--osd-level=0", "--cursor-autohide=always", "--fullscreen",
        "--keep-open=no", "--image-display-duration=inf",
        "--screenshot-format=png",
        f"--input-ipc-server={ipc_socket}",
        f"--volume={settings.volume}",
    ]
    if output == "drm":
        args += ["--vo=drm", f"--drm-mode={settings.mode}", "--hwdec-codecs=h264,hevc"]
        if settings.connector:
            args.append(f"--drm-connector={settings.connector}")
    elif output == "window":
        args += ["--vo=gpu,x11,null", "--hwdec=auto-safe"]
    else:
        args += ["--vo=null"]
    if not settings.sound or output == "null":
        args.append("--ao=null")       # keeps real-time pacing without a sound card
    elif settings.audio_device != "auto":
        args.append(f"--audio-device={settings.audio_device}")
    if log_file is not None:
        args.append(f"--log-file={log_file}")
    return args


__all__ = ["CecSettings", "HDMI_OUTPUTS", "HdmiSettings", "mpv_arguments"]
