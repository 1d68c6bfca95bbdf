"""One mpv process and its JSON IPC socket: start, send a command, read what mpv says, kill.

Why a separate process over JSON IPC, not libmpv inside the agent (python-mpv): a video
driver or decoder that crashes or hangs takes down only mpv, which the agent sees (the
socket closes, the process exits, or it stops answering) and replaces; the agent itself,
its outbox and its MQTT link keep running. The protocol is one JSON object per line
(https://mpv.io/manual/stable/#json-ipc), so this adapter is small enough to own its
timeouts: every read has a deadline, nothing here ever waits without one, and no thread
is started (the player reads the socket from its own loop). python-mpv-jsonipc was weighed
and left: its replies wait up to a fixed 120 s and its reader thread calls back on its own
thread, while the player has to call mpv hung within seconds and decide on one thread.

Not thread-safe: one caller (the player's loop) at a time.
"""

from __future__ import annotations

import json
import logging
import os
import select
import signal
import socket
import subprocess
import time
from collections import deque
from pathlib import Path

from ihanoi.contract.errors import ScreenError

log = logging.getLogger("ihanoi.hdmi.mpv")
MAX_LINE = 1 << 20        # a reply larger than this is not mpv talking


class MpvGone(ScreenError):
    """mpv's socket closed or its process ended."""


class MpvTimeout(ScreenError):
    """mpv did not answer in time (hung, or the machine is overloaded)."""


class Mpv:
    def __init__(self, args: list[str], ipc_socket: Path, start_timeout: float = 15.0):
        self.args = list(args)
        self.ipc_socket = Path(ipc_socket)
        self.start_timeout = start_timeout
        self.process: subprocess.Popen | None = None
        self._sock: socket.socket | None = None
        self._buffer = b""
        self._pending: deque[dict] = deque()
        self._next_id = 1000
        self.bad_lines = 0
        self._gone = "mpv is not running"
        self.stderr_file = self.ipc_socket.with_name(self.ipc_socket.stem + "-stderr.log")
        self.pid_file = self.ipc_socket.with_name(self.ipc_socket.stem + ".pid")

    # --- life -------------------------------------------------------------------------------
    def start(self) -> None:
        """Start mpv and connect to its socket; ScreenError saying why when it will not come up."""
        if len(str(self.ipc_socket)) > 100:     # sockaddr_un holds 108 bytes
            raise ScreenError(f"mpv's IPC socket path is too long for a UNIX socket: {self.ipc_socket}; "
                              f"use a shorter data_dir")
        self.ipc_socket.parent.mkdir(parents=True, exist_ok=True)
        self._end_leftover()
        self.ipc_socket.unlink(missing_ok=True)
        # stderr to a file, never a pipe: a pipe nobody reads would fill and stall mpv mid-play
        with open(self.stderr_file, "wb") as stderr:
            try:
                self.process = subprocess.Popen(self.args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                                stderr=stderr, start_new_session=True)
            except FileNotFoundError:
                raise ScreenError(f"{self.args[0]} is not installed: apt-get install -y mpv") from None
            except OSError as exc:
                raise ScreenError(f"cannot start {self.args[0]}: {exc}") from None
        deadline = time.monotonic() + self.start_timeout
        while True:
            if self.process.poll() is not None:
                raise ScreenError(f"mpv ended at start ({self.exit_description()}): {self._stderr_tail()}")
            try:
                sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                sock.connect(str(self.ipc_socket))
                break
            except OSError:
                sock.close()
                if time.monotonic() > deadline:
                    self.kill()
                    raise ScreenError(f"mpv did not open its IPC socket {self.ipc_socket} within "
                                      f"{self.start_timeout:g} s") from None
                time.sleep(0.02)
        sock.setblocking(False)
        self._sock, self._buffer, self._gone = sock, b"", "mpv is not running"
        self._pending.clear()
        self.pid_file.write_text(f"{self.process.pid}\n")

    def _end_leftover(self) -> None:
        """Kill the mpv a previous agent left behind (it was killed itself): two would fight over the screen."""
        try:
            pid = int(self.pid_file.read_text().strip())
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except (OSError, ValueError):
            return
        if f"--input-ipc-server={self.ipc_socket}".encode() in cmdline:
            log.warning("ending mpv %d left running by a previous start", pid)
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process else None

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def exit_description(self) -> str:
        code = self.process.poll() if self.process else None
        if code is None:
            return "still running"
        if code < 0:
            try:
                return f"killed by {signal.Signals(-code).name}"
            except ValueError:
                return f"killed by signal {-code}"
        return f"exited with code {code}"

    def kill(self) -> None:
        """SIGKILL (also ends a stopped or hung mpv) and reap it."""
        self._close_socket()
        if self.process is not None and self.process.poll() is None:
            try:
                os.killpg(self.process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                log.error("mpv %d did not end after SIGKILL", self.process.pid)

    def quit(self, timeout: float = 3.0) -> None:
        """Ask mpv to quit; kill it when it does not within ``timeout``."""
        if self.alive():
            try:
                self.send("quit")
                self.process.wait(timeout)
            except (ScreenError, subprocess.TimeoutExpired):
                pass
        self.kill()

    # --- talking ------------------------------------------------------------------------------
    def send(self, *command, request_id: int | None = None) -> int:
        """Send one command; returns its request id (the reply comes through ``receive``)."""
        if self._sock is None:
            raise MpvGone("mpv is not running")
        if request_id is None:
            request_id = self._next_id
            self._next_id += 1
        line = json.dumps({"command": list(command), "request_id": request_id}).encode() + b"\n"
        try:
            self._sock.setblocking(True)
            self._sock.settimeout(2.0)
            self._sock.sendall(line)
        except (BrokenPipeError, ConnectionResetError) as exc:
            raise MpvGone(f"mpv's socket closed ({exc.strerror})") from None
        except OSError as exc:       # a full socket buffer for 2 s: mpv is not reading
            raise MpvTimeout(f"mpv does not take commands ({exc})") from None
        finally:
            if self._sock is not None:
                self._sock.setblocking(False)
        return request_id

    def receive(self, timeout: float) -> list[dict]:
        """What mpv said within ``timeout`` seconds (possibly nothing); MpvGone when its socket closed."""
        if self._pending:
            out = list(self._pending)
            self._pending.clear()
            return out
        if self._sock is None:
            raise MpvGone(self._gone)
        ready, _, _ = select.select([self._sock], [], [], max(0.0, timeout))
        if not ready:
            return []
        closed = False
        while True:
            try:
                chunk = self._sock.recv(65536)
            except BlockingIOError:
                break
            except OSError as exc:
                self._close_socket()
                raise MpvGone(f"mpv's socket failed ({exc})") from None
            if not chunk:
                closed = True
                break
            self._buffer += chunk
            if len(self._buffer) > MAX_LINE and b"\n" not in self._buffer:
                self._buffer = b""
                self.bad_lines += 1
        *lines, self._buffer = self._buffer.split(b"\n")
        messages = []
        for line in lines:
            if not line.strip():
                continue
            try:
                message = json.loads(line)
            except ValueError:
                self.bad_lines += 1
                log.warning("mpv sent a line that is not JSON: %r", line[:200])
                continue
            if isinstance(message, dict):
                messages.append(message)
            else:
                self.bad_lines += 1
        if closed:
            self._close_socket()
            self._gone = "mpv closed its socket"
            if not messages:
                raise MpvGone(self._gone)
        return messages

    def request(self, *command, timeout: float = 2.0):
        """Send ``command`` and wait for its reply's ``data``; other messages are kept for ``receive``."""
        request_id = self.send(*command)
        deadline = time.monotonic() + timeout
        kept: list[dict] = []
        try:
            while True:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise MpvTimeout(f"mpv did not answer {command[0]!r} within {timeout:g} s")
                batch = self.receive(left)
                for n, message in enumerate(batch):
                    if message.get("request_id") == request_id and "event" not in message:
                        kept.extend(batch[n + 1:])     # what came after the reply is the player's too
                        if message.get("error") != "success":
                            raise MpvCommandError(command[0], message.get("error"))
                        return message.get("data")
                    kept.append(message)
        finally:
            self._pending.extendleft(reversed(kept))

    # --- internals ----------------------------------------------------------------------------
    def _close_socket(self) -> None:
        if self._sock is not None:
            try:
                self._sock.close()
            finally:
                self._sock = None

    def _stderr_tail(self) -> str:
        try:
            return self.stderr_file.read_bytes()[-800:].decode(errors="replace").strip() or "(nothing on stderr)"
        except OSError:
            return ""


class MpvCommandError(ScreenError):
    """mpv refused a command (``error`` is mpv's own word, e.g. ``property unavailable``)."""

    def __init__(self, command: str, error: str | None):
        self.command, self.error = command, error
        super().__init__(f"mpv refused {command!r}: {error}")


__all__ = ["Mpv", "MpvCommandError", "MpvGone", "MpvTimeout"]
