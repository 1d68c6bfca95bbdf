"""A real Mosquitto broker for tests: started on a free port, killable and restartable.

Tests that need the broker get their own (never the machine's 1883), so they can kill it
mid-stream and start it again with its persistence file intact.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

from ihanoi.tools.net import free_port, wait_port

MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"


class Mosquitto:
    """One broker process. ``extra`` lines are appended to its configuration;
    ``include`` is a config file of the project's (e.g. broker/mosquitto/*.conf) to use as the base."""

    def __init__(self, workdir: Path, port: int | None = None, extra: str = "", include: Path | None = None):
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.host = "127.0.0.1"
        self.port = port or free_port()
        self.conf = self.workdir / "mosquitto.conf"
        base = include.read_text() if include else ""
        lines = [
            base,
            f"listener {self.port} 127.0.0.1",
            "allow_anonymous true",
            "persistence true",
            f"persistence_location {self.workdir}/",
            f"log_dest file {self.workdir}/mosquitto.log",
            "log_type error", "log_type warning", "log_type notice",
            extra,
        ]
        if os.geteuid() == 0:
            # As root Mosquitto drops to user 'mosquitto', which cannot enter pytest's 0700 temp dirs.
            lines.append("user root")
        self.conf.write_text("\n".join(lines) + "\n")
        self.proc: subprocess.Popen | None = None

    def start(self) -> "Mosquitto":
        if not os.path.exists(MOSQUITTO):
            raise RuntimeError("mosquitto is not installed: apt-get install -y mosquitto")
        wait_port(self.host, self.port, up=False)
        self.proc = subprocess.Popen([MOSQUITTO, "-c", str(self.conf)], stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE, start_new_session=True)
        try:
            wait_port(self.host, self.port)
        except TimeoutError:
            self.kill()
            log = (self.workdir / "mosquitto.log")
            raise RuntimeError(f"mosquitto did not start: {log.read_text() if log.exists() else ''}") from None
        return self

    def stop(self) -> None:
        """Graceful: Mosquitto writes its persistence file on SIGTERM."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def kill(self) -> None:
        """SIGKILL: what a power cut or OOM kill does to the broker."""
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.proc = None

    def restart(self, hard: bool = False) -> None:
        (self.kill if hard else self.stop)()
        self.start()

    def pause(self) -> None:
        """SIGSTOP: the broker keeps its sockets but answers nothing (no PUBACK)."""
        if self.proc:
            self.proc.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        if self.proc:
            self.proc.send_signal(signal.SIGCONT)

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def log(self) -> str:
        path = self.workdir / "mosquitto.log"
        return path.read_text() if path.exists() else ""
