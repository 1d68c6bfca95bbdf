"""The dashboard's MQTT side: operator commands down to boards, snapshots up from them.

Devices publish their current frame as a PNG, retained, on ``dev/{device}/snapshot``; the
dashboard subscribes and keeps the newest per device in ``snapshot_dir`` (retained messages
bring them back after a restart). Commands go out with QoS 1 and are never retained
(``play-now`` and ``snapshot`` are one-shot: a stale retained copy must not fire later).
"""

from __future__ import annotations

import logging
import os
import re
import threading
import uuid
from pathlib import Path

from ihanoi.contract import protocol

log = logging.getLogger("broker.web.boards")

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
MAX_SNAPSHOT = 2 * 1024 * 1024


class SnapshotDir:
    """Newest snapshot per device as ``<dir>/<device>.png``, replaced atomically."""

    def __init__(self, path: Path):
        self.path = Path(path)

    def _file(self, device: str) -> Path:
        if not _valid_device(device):
            raise ValueError(f"{device!r} is not a device id")
        return self.path / f"{device}.png"

    def exists(self, device: str) -> bool:
        return _valid_device(device) and self._file(device).is_file()

    def read(self, device: str) -> bytes | None:
        try:
            return self._file(device).read_bytes()
        except (OSError, ValueError):
            return None

    def save(self, device: str, png: bytes) -> bool:
        """Keep ``png`` when it is a PNG of sensible size; False (and logged) otherwise."""
        if not png.startswith(PNG_MAGIC) or len(png) > MAX_SNAPSHOT:
            log.warning("snapshot from %s ignored: not a PNG or larger than %d bytes", device, MAX_SNAPSHOT)
            return False
        target = self._file(device)
        self.path.mkdir(parents=True, exist_ok=True)
        tmp = target.with_suffix(".png.tmp")
        tmp.write_bytes(png)
        os.replace(tmp, target)
        return True


_DEVICE = re.compile(protocol.DEVICE_ID)


def _valid_device(device: str) -> bool:
    return bool(_DEVICE.match(device))


class BoardLink:
    """One paho client: subscribes to snapshots, publishes commands. Thread-safe to call."""

    def __init__(self, broker, prefix: str, snapshots: SnapshotDir, client_id: str = "ihanoi-dashboard"):
        import paho.mqtt.client as mqtt

        self.topics = protocol.Topics(prefix)
        self.snapshots = snapshots
        self._connected = threading.Event()
        self._client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5)
        if broker.username:
            self._client.username_pw_set(broker.username, broker.password())
        if broker.tls:
            self._client.tls_set(ca_certs=str(broker.tls.ca_file),
                                 certfile=str(broker.tls.cert_file) if broker.tls.cert_file else None,
                                 keyfile=str(broker.tls.key_file) if broker.tls.key_file else None)
        self._client.reconnect_delay_set(min_delay=1, max_delay=30)
        self._client.on_connect = self._on_connect
        self._client.on_disconnect = lambda *a: self._connected.clear()
        self._client.on_message = self._on_message
        self._broker = broker

    def _on_connect(self, client, userdata, flags, reason_code, properties):
        if reason_code.is_failure:
            log.error("broker %s:%s refused the dashboard: %s", self._broker.host, self._broker.port, reason_code)
            return
        client.subscribe(self.topics.subscription("snapshot"), qos=1)
        self._connected.set()

    def _on_message(self, client, userdata, msg):
        parts = msg.topic.split("/")
        if len(parts) >= 2 and parts[-1] == "snapshot":
            device = parts[-2]
            if _valid_device(device):
                try:
                    self.snapshots.save(device, bytes(msg.payload))
                except OSError as exc:   # never let a full or read-only disk stop the MQTT thread
                    log.error("cannot keep the snapshot of %s in %s: %s (dashboard.snapshot_dir)",
                              device, self.snapshots.path, exc)

    def start(self) -> "BoardLink":
        self._client.connect_async(self._broker.host, self._broker.port, keepalive=self._broker.keepalive)
        self._client.loop_start()
        return self

    def wait_connected(self, timeout: float = 10.0) -> bool:
        return self._connected.wait(timeout)

    def stop(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()

    def send(self, device: str, verb: str, now) -> str:
        """Publish a one-shot command; returns its id. RuntimeError when the broker is away."""
        if not self._connected.is_set():
            raise RuntimeError("không kết nối được máy chủ MQTT")
        command_id = uuid.uuid4().hex[:16]
        if verb == "play-now":
            message = protocol.PlayNow(id=command_id, requested=now)
        elif verb == "snapshot":
            message = protocol.SnapshotRequest(id=command_id)
        else:
            raise ValueError(f"the dashboard sends play-now or snapshot, not {verb!r}")
        info = self._client.publish(self.topics.cmd(device, verb), protocol.encode(message), qos=1, retain=False)
        info.wait_for_publish(5.0)
        if not info.is_published():
            raise RuntimeError("máy chủ MQTT chưa xác nhận lệnh, hãy thử lại")
        return command_id
