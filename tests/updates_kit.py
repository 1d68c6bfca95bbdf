"""Helpers for the content-update tests: keys, tiny packs, bundles, a bundle server, a device."""

from __future__ import annotations

import threading
import time
from datetime import datetime
from pathlib import Path

from PIL import Image

from edge.content import compile_pack
from edge.panel.profile import load_profile
from edge.updates import bundle as bundles
from ihanoi.contract.keys import generate, load_private
from edge.updates.manifest import ContentDesired, Targets
from ihanoi.contract.clock import CAMPAIGN_TZ, RealClock
from tests.mosquitto import free_port

PROFILE = "p4-128x32"
CREATED = datetime(2024, 9, 2, 10, 0, tzinfo=CAMPAIGN_TZ)


def make_keys(folder: Path, name: str = "tech"):
    generate(folder / f"{name}.key", folder / f"{name}.pub")
    return load_private(folder / f"{name}.key"), folder / f"{name}.pub"


def make_pack(folder: Path, label: str, color=(200, 0, 0), broken: bool = False, pack_id: str = "ihanoi-promo") -> Path:
    """A two-item pack whose picture colour tells which version plays; ``broken`` has a non-image."""
    folder.mkdir(parents=True, exist_ok=True)
    if broken:
        (folder / "title.png").write_bytes(b"this is not a PNG")
    else:
        Image.new("RGB", (32, 16), color).save(folder / "title.png")
    (folder / "pack.toml").write_text(
        f'id = "{pack_id}"\nversion = "{label}"\n\n[[items]]\nname = "title"\nkind = "image"\n'
        f'file = "title.png"\nduration = 3\n\n[[items]]\nkind = "text"\ntext = "iHanoi {label}"\n', "utf-8")
    return folder


def make_bundle(tmp: Path, key, version: int, units="all", devices=(), broken=False, name=None,
                pack_id: str = "ihanoi-promo") -> Path:
    """A signed bundle of a ``make_pack`` pack; its bundle name is the pack id."""
    pack = make_pack(tmp / f"pack-{name or version}", f"v{version}", color=(version * 20 % 256, 80, 160),
                     broken=broken, pack_id=pack_id)
    out = tmp / f"{name or f'bundle-v{version}'}.tar"
    bundles.build(pack, out, key, version, Targets(units=units, devices=list(devices)), CREATED)
    return out


def compiler(cache: Path):
    profile = load_profile(PROFILE)
    return lambda pack: compile_pack(pack, profile, cache)


def pack_label(pack: Path) -> str:
    """The pack's ``version`` text (``v7``): which content the board would play."""
    for line in (Path(pack) / "pack.toml").read_text("utf-8").splitlines():
        if line.startswith("version"):
            return line.split('"')[1]
    raise AssertionError(f"{pack} has no version")


def desired_for(path: Path, url: str, version: int, bundle: str = "ihanoi-promo") -> ContentDesired:
    return ContentDesired(bundle=bundle, version=version, url=url, sha256=bundles.file_sha256(path),
                          size=path.stat().st_size)


class BundleServer:
    """broker.bundles served by uvicorn on a free port, in a thread; records Range headers."""

    def __init__(self, folder: Path, token: str | None = None, tls: tuple[Path, Path] | None = None):
        import uvicorn

        from broker.bundles import bundle_app

        self.folder = Path(folder)
        self.ranges: list[str | None] = []
        app = bundle_app(self.folder, token)

        async def recording(scope, receive, send):
            if scope["type"] == "http" and scope["method"] == "GET":
                self.ranges.append(dict(scope["headers"]).get(b"range", b"").decode() or None)
            await app(scope, receive, send)

        self.port = free_port()
        self.url = f"{'https' if tls else 'http'}://127.0.0.1:{self.port}"
        cert, key = tls or (None, None)
        self.server = uvicorn.Server(uvicorn.Config(recording, host="127.0.0.1", port=self.port, log_level="warning",
                                                    lifespan="off", ssl_certfile=cert, ssl_keyfile=key))
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if time.monotonic() > deadline:
                raise TimeoutError("bundle server did not start")
            time.sleep(0.02)

    def close(self) -> None:
        self.server.should_exit = True
        self.thread.join(5)


class Device:
    """One board's update path, wired as the agent wires it: outbox, link, installer, service."""

    def __init__(self, root: Path, device: str, unit: str, port: int, trusted, health_interval: float = 0.3,
                 compile_fn=None, promo: str | None = None):
        from edge.config import MqttSettings
        from edge.health import Health
        from edge.link import Link
        from edge.outbox import Outbox
        from edge.updates.installer import Installer
        from edge.updates.service import UpdateService, command_result
        from ihanoi.contract import protocol

        self.name, self.unit = device, unit
        clock = RealClock()
        data = root / device
        self.installer = Installer(data, device, unit, trusted, compile_fn or compiler(root / "frames"), clock,
                                   promo=promo)
        self.outbox = Outbox(data / "outbox.db", device, clock=clock)
        self.service = UpdateService(self.installer, retry_min=0.2, retry_max=1.0,
                                     on_result=lambda r: self.link.publish_direct(
                                         "cmd-result", protocol.encode(command_result(device, r, clock)), qos=1))
        self.link = Link(device, MqttSettings(host="127.0.0.1", port=port, reconnect_min_s=1, reconnect_max_s=2),
                         self.outbox, clock=clock, status=self.service.status,
                         on_command=self.service.on_command, unit=unit)
        self.health = Health(self.outbox, clock, [self.service.status, self.link.figures], interval=health_interval)

    def start(self) -> Device:
        self.service.start()
        self.link.start()
        self.health.start(first_after=self.health.interval)
        if not self.link.subscribed.wait(10):
            raise TimeoutError(f"{self.name} did not connect and subscribe to its commands")
        return self

    def stop(self) -> None:
        self.health.stop()
        self.link.stop(flush_timeout=1)
        self.service.stop()
        self.outbox.close()

    def playing(self) -> str | None:
        pack = self.installer.current_pack()
        return pack_label(pack) if pack else None

    def carries(self, bundle: str) -> str | None:
        """The version label of the installed bundle ``bundle``'s pack, or None."""
        pack = self.installer.pack_of(bundle, "")
        return pack_label(pack) if pack else None
