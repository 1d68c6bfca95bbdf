"""``ihanoi-content``: the technician's tool for signed content bundles.

    ihanoi-content keygen --out keys/tech-2024            # tech-2024.key (0600) + tech-2024.pub
    ihanoi-content build PACK --key K.key --version 7 --unit phuong-bach-mai --panel p4-128x32 --out B.tar
    ihanoi-content build TV-PACK --key K.key --version 8 --unit ttyt-quan --board pi5 --out B.tar   # clips checked
    ihanoi-content verify B.tar --trusted K.pub --unit phuong-bach-mai --device hbt-bach-mai-01
    ihanoi-content push B.tar --unit phuong-bach-mai --server https://content.example --token-file T \\
                       --host broker.example --port 8883 --tls --username tech --password-file P
    ihanoi-content serve --dir /var/lib/ihanoi/bundles --port 8780 --token-file T

Exit status: 0 done, 1 refused (verify) or failed, 2 bad usage or input. The server runs its
bundle server with ``ihanoi-broker serve-bundles`` (the same app), which needs none of the
content parts imported here.
"""

from __future__ import annotations

import argparse
import json
import logging
import shutil
import sys
import tarfile
import tempfile
import urllib.error
import urllib.request
from pathlib import Path

from edge.hdmi.boards import BOARDS
from ihanoi.contract.errors import BundleRefused, ConfigError, SignageError, UpdateError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="ihanoi-content", description="Signed content bundles for the lobby boards.")
    verbs = parser.add_subparsers(dest="verb", required=True)

    p = verbs.add_parser("keygen", help="make an Ed25519 key pair (private key stays with you)")
    p.add_argument("--out", type=Path, required=True, help="path stem: writes STEM.key (0600) and STEM.pub")
    p.add_argument("--force", action="store_true", help="replace existing key files")

    p = verbs.add_parser("build", help="turn a content pack into a signed bundle")
    p.add_argument("pack", type=Path, help="the pack's folder (the one holding pack.toml), e.g. edge/packs/ihanoi-promo")
    p.add_argument("--key", type=Path, required=True, help="your private key (.key)")
    p.add_argument("--version", type=int, required=True, help="bundle version: above every version already sent")
    who = p.add_mutually_exclusive_group(required=True)
    who.add_argument("--all", action="store_true", help="for every unit")
    who.add_argument("--unit", action="append", default=[], help="a unit id (repeatable)")
    p.add_argument("--device", action="append", default=[], help="also for this device (repeatable)")
    p.add_argument("--bundle", help="bundle id (default: the pack's id)")
    p.add_argument("--panel", action="append", default=[], help="compile for this panel profile first (repeatable)")
    p.add_argument("--board", action="append", default=[], choices=sorted(BOARDS),
                   help="check the pack's video clips against this TV board model (repeatable); by default every "
                        "model when the targets include an LCD board of the registry")
    p.add_argument("--out", type=Path, required=True)

    p = verbs.add_parser("verify", help="check a bundle exactly as a device would")
    p.add_argument("bundle", type=Path)
    p.add_argument("--trusted", type=Path, action="append", required=True, help="a public key the device trusts")
    p.add_argument("--unit")
    p.add_argument("--device")
    p.add_argument("--installed-version", type=int, default=0, help="the device's highest installed version")
    p.add_argument("--panel", help="also compile the pack for this panel profile")

    p = verbs.add_parser("push", help="upload a bundle and announce it to a unit or a device (retained, on the "
                                      "bundle's own topic)")
    p.add_argument("bundle", type=Path, nargs="?")
    p.add_argument("--clear", action="store_true",
                   help="withdraw the announcement of a bundle (BUNDLE, --bundle NAME, or --single-topic); "
                        "installed content stays")
    p.add_argument("--bundle", dest="bundle_name", metavar="NAME",
                   help="with --clear: the name of the bundle whose announcement is withdrawn")
    p.add_argument("--single-topic", action="store_true",
                   help="use the one content topic of the unit or device (.../content) that boards from before "
                        "one topic per bundle read, instead of the bundle's own (.../content/<bundle>)")
    where = p.add_mutually_exclusive_group(required=True)
    where.add_argument("--unit")
    where.add_argument("--device")
    p.add_argument("--server", help="base URL of the bundle server the boards download from")
    p.add_argument("--token-file", type=Path, help="upload over HTTP PUT with this token")
    p.add_argument("--copy-to", type=Path, help="instead of uploading: copy into the server's bundle folder")
    p.add_argument("--trusted", type=Path, action="append", default=[], help="check the signature first")
    _broker_arguments(p)

    p = verbs.add_parser("serve", help="serve a folder of bundles over HTTP (with resume) and take uploads")
    p.add_argument("--dir", type=Path, required=True)
    p.add_argument("--host", default="0.0.0.0")
    p.add_argument("--port", type=int, default=8780)
    p.add_argument("--token-file", type=Path, help="enables uploads with this bearer token")

    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    try:
        return {"keygen": keygen, "build": build, "verify": verify, "push": push, "serve": serve}[args.verb](args)
    except BundleRefused as exc:
        print(f"refused: {exc}", file=sys.stderr)
        return 1
    except UpdateError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1 if not isinstance(exc, ValueError) else 2
    except SignageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


def _broker_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--host", default="localhost", help="MQTT broker")
    p.add_argument("--port", type=int, default=1883)
    p.add_argument("--username")
    p.add_argument("--password-file", type=Path)
    p.add_argument("--tls", action="store_true")
    p.add_argument("--ca-file", type=Path, help="the CA that signed the broker's certificate (and the bundle "
                                                "server's, for an https --server)")
    p.add_argument("--topic-prefix", default="ihanoi/v1")


# --- verbs ------------------------------------------------------------------------------------
def keygen(args) -> int:
    from ihanoi.contract.keys import generate

    private, public = args.out.with_suffix(".key"), args.out.with_suffix(".pub")
    kid = generate(private, public, force=args.force)
    print(f"key {kid}\n  private: {private} (keep it; never copy it to a device)\n  public:  {public} "
          f"(content.trusted_keys on the devices)")
    return 0


def build(args) -> int:
    from edge.updates import bundle as bundles
    from ihanoi.contract.keys import TrustedKey, key_id, load_private
    from edge.updates.manifest import Targets
    from ihanoi.contract.clock import RealClock

    pack = _pack_folder(args.pack)
    key = load_private(args.key)
    if args.panel:
        _compile(pack, args.panel)
    targets = Targets(units="all" if args.all else args.unit, devices=args.device)
    _check_clips(pack, args.board, targets)
    manifest = bundles.build(pack, args.out, key, args.version, targets, RealClock().now(), args.bundle)
    public = TrustedKey(key_id(key.public_key()), key.public_key(), str(args.key))
    with tempfile.TemporaryDirectory() as tmp:   # read back what was written, as a device will
        bundles.open_bundle(args.out, Path(tmp) / "check", [public])
    print(f"{args.out}: bundle {manifest.bundle} v{manifest.version} (pack {manifest.pack} {manifest.pack_version}), "
          f"for {targets.describe()}, {len(manifest.files)} files, {manifest.size} bytes, key {manifest.key_id}\n"
          f"sha256 {bundles.file_sha256(args.out)}")
    return 0


def verify(args) -> int:
    from edge.updates import bundle as bundles
    from ihanoi.contract.keys import load_trusted

    trusted = load_trusted(args.trusted)
    with tempfile.TemporaryDirectory() as tmp:
        staging = Path(tmp) / "staging"
        manifest = bundles.open_bundle(args.bundle, staging, trusted, args.unit, args.device, args.installed_version)
        if args.panel:
            try:
                _compile(staging / "pack", [args.panel])
            except SignageError as exc:
                raise BundleRefused("compile-failed", str(exc)) from None
    print(f"ok: bundle {manifest.bundle} v{manifest.version} signed by {manifest.key_id}, "
          f"for {manifest.targets.describe()}, {len(manifest.files)} files checked")
    return 0


def push(args) -> int:
    from edge.updates import bundle as bundles
    from edge.updates.manifest import ContentDesired
    from ihanoi.contract.protocol import Topics

    topics = Topics(args.topic_prefix)

    def topic_of(bundle: str | None) -> str:
        name = None if args.single_topic else bundle
        return topics.unit_content(args.unit, name) if args.unit else topics.content(args.device, name)

    if args.clear:
        name = args.bundle_name or (_read_manifest(args.bundle).bundle if args.bundle else None)
        if name is None and not args.single_topic:
            print("error: push --clear needs the bundle whose announcement it withdraws: BUNDLE (the file), "
                  "--bundle NAME, or --single-topic (the one topic boards from before one topic per bundle read)",
                  file=sys.stderr)
            return 2
        try:
            topic = topic_of(name)
        except ValueError as exc:
            print(f"error: --bundle: {exc}", file=sys.stderr)
            return 2
        _publish(args, topic, b"")
        print(f"withdrew the announcement on {topic}; what the devices installed stays")
        return 0
    if args.bundle is None or not args.server:
        print("error: push needs a BUNDLE and --server (or --clear)", file=sys.stderr)
        return 2
    manifest = _read_manifest(args.bundle)
    if args.trusted:
        from ihanoi.contract.keys import load_trusted
        with tempfile.TemporaryDirectory() as tmp:
            bundles.open_bundle(args.bundle, Path(tmp) / "check", load_trusted(args.trusted))
    if args.unit and not (manifest.targets.units == "all" or args.unit in manifest.targets.units):
        print(f"error: bundle is for {manifest.targets.describe()}; unit {args.unit}'s devices would refuse it "
              f"(wrong-target). Build it with --unit {args.unit}.", file=sys.stderr)
        return 2
    if args.device and not (manifest.targets.units == "all" or args.device in manifest.targets.devices):
        print(f"note: bundle is for {manifest.targets.describe()}; device {args.device} installs it only if its "
              f"unit is among them", file=sys.stderr)
    name = f"{manifest.bundle}-v{manifest.version}.tar"
    size = args.bundle.stat().st_size
    sha256 = bundles.file_sha256(args.bundle)
    if args.copy_to:
        _copy(args.bundle, args.copy_to / name)
    elif args.token_file:
        _upload(args.bundle, f"{args.server.rstrip('/')}/bundles/{name}", _secret_file(args.token_file, "--token-file"),
                sha256, args.ca_file)
    desired = ContentDesired(bundle=manifest.bundle, version=manifest.version, sha256=sha256, size=size,
                             url=f"{args.server.rstrip('/')}/bundles/{name}")
    topic = topic_of(manifest.bundle)
    _publish(args, topic, desired.to_bytes())
    print(f"announced bundle {manifest.bundle} v{manifest.version} on {topic} (retained): devices that are "
          f"offline install it when they come back")
    return 0


def serve(args) -> int:
    from broker.bundles import read_token, serve as run

    token = read_token(args.token_file) if args.token_file else None
    run(args.dir, args.host, args.port, token)
    return 0


# --- helpers ----------------------------------------------------------------------------------
def _pack_folder(pack: Path) -> Path:
    """The pack's folder; its pack.toml is taken to mean the folder."""
    if pack.name == "pack.toml" and pack.is_file():
        return pack.parent
    if not (pack / "pack.toml").is_file():
        hint = "it does not exist" if not pack.exists() else "it has no pack.toml"
        raise ConfigError(pack, [("", f"not a content pack folder ({hint}): give the folder that holds pack.toml, "
                                      "e.g. edge/packs/ihanoi-promo")])
    return pack


def _secret_file(path: Path, option: str) -> str:
    try:
        value = path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise ConfigError(path, [("", f"{option} cannot be read ({exc.strerror}); a technician's kit has it: "
                                      "ansible-playbook technician.yml (docs/updates.md)")]) from None
    if not value:
        raise ConfigError(path, [("", f"{option} is empty")])
    return value


def _check_clips(pack: Path, board_names: list[str], targets: Targets) -> None:
    """Refuse (ClipRefused) a clip the target TV boards cannot play smoothly; say what was checked."""
    from edge.updates.gate import check_pack_clips, lcd_targets
    from ihanoi.contract.registry import load_registry

    if not board_names:
        screens = lcd_targets(load_registry(), targets.units, targets.devices)
        if not screens:
            return            # only LED boards: their clips are decoded when the pack is compiled
        print(f"checking the video clips for the LCD boards among the targets ({', '.join(screens)})")
    for clip in check_pack_clips(pack, [BOARDS[name] for name in board_names] or None):
        print(f"  {clip.describe()}")


def _compile(pack: Path, panels: list[str]) -> None:
    from edge.content import compile_pack
    from edge.panel.profile import load_profile

    with tempfile.TemporaryDirectory() as cache:
        for name in panels:
            compiled = compile_pack(pack, load_profile(name), cache)
            print(f"compiled for {name}: {compiled!r}")


def _read_manifest(path: Path):
    from edge.updates import bundle as bundles
    from edge.updates.manifest import MANIFEST

    try:
        with tarfile.open(path, "r:") as tar:
            body = tar.extractfile(MANIFEST).read()
    except (tarfile.TarError, KeyError, OSError) as exc:
        raise BundleRefused("bad-bundle", f"{path} is not a bundle ({exc})") from None
    return bundles.parse_manifest(body)


class Bar:
    """One progress line on stderr: ``name  42% 1.3/3.1 MB``."""

    def __init__(self, label: str, total: int):
        self.label, self.total, self.shown = label, total, -1

    def __call__(self, done: int) -> None:
        percent = int(done * 100 / self.total) if self.total else 100
        if percent != self.shown:
            self.shown = percent
            end = "\n" if done >= self.total else ""
            print(f"\r{self.label} {percent:3d}% {done / 1e6:.1f}/{self.total / 1e6:.1f} MB", end=end,
                  file=sys.stderr, flush=True)


def _chunks(path: Path, bar: Bar, size: int = 1 << 16):
    done = 0
    with open(path, "rb") as f:
        while chunk := f.read(size):
            done += len(chunk)
            bar(done)
            yield chunk


def _copy(src: Path, dest: Path) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{dest.name}.copy")
    bar = Bar(f"copying {dest.name}", src.stat().st_size)
    with open(tmp, "wb") as out:
        for chunk in _chunks(src, bar):
            out.write(chunk)
    shutil.move(tmp, dest)


def _upload(src: Path, url: str, token: str, sha256: str, ca_file: Path | None = None) -> None:
    import ssl

    # The district's bundle server sits behind the same CA as its broker; without --ca-file,
    # the system's CAs decide.
    context = ssl.create_default_context(cafile=str(ca_file)) if ca_file and url.startswith("https") else None
    size = src.stat().st_size
    request = urllib.request.Request(url, data=_chunks(src, Bar(f"uploading {src.name}", size)), method="PUT",
                                     headers={"Authorization": f"Bearer {token}", "Content-Length": str(size),
                                              "Content-Type": "application/x-tar"})
    try:
        with urllib.request.urlopen(request, timeout=60, context=context) as response:
            answer = json.loads(response.read())
    except urllib.error.HTTPError as exc:
        raise UpdateError(f"upload to {url} refused: {exc.code} {exc.read().decode(errors='replace')}") from None
    except (urllib.error.URLError, OSError) as exc:
        raise UpdateError(f"cannot upload to {url}: {getattr(exc, 'reason', exc)}") from None
    if answer.get("sha256") != sha256:
        raise UpdateError(f"the server stored {answer.get('size')} bytes that do not match the bundle; push again")


def _publish(args, topic: str, payload: bytes) -> None:
    """Publish retained at QoS 1 over MQTT v5, so the broker's refusal (ACL) comes back as a
    reason code instead of being dropped in silence as MQTT 3.1.1 does."""
    import threading

    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion

    client = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    where = f"the MQTT broker {args.host}:{args.port}"
    if args.username:
        password = _secret_file(args.password_file, "--password-file") if args.password_file else None
        client.username_pw_set(args.username, password)
    if args.tls:
        client.tls_set(ca_certs=str(args.ca_file) if args.ca_file else None)
    connected, published = threading.Event(), threading.Event()
    answer: dict = {}

    def on_connect(client, userdata, flags, reason_code, properties):
        answer["connect"] = reason_code
        connected.set()

    def on_publish(client, userdata, mid, reason_code, properties):
        answer["publish"] = reason_code
        published.set()

    client.on_connect, client.on_publish = on_connect, on_publish
    try:
        client.connect(args.host, args.port, keepalive=30)
    except OSError as exc:
        raise UpdateError(f"cannot reach {where}: {exc}") from None
    client.loop_start()
    try:
        if not connected.wait(15):
            raise UpdateError(f"{where} did not answer the connection (is --port the TLS port with --tls?)")
        if answer["connect"].is_failure:
            raise UpdateError(f"{where} refused the connection: {answer['connect']} (check --username and "
                              "--password-file: the technician's kit has both)")
        client.publish(topic, payload, qos=1, retain=True)
        if not published.wait(15):
            raise UpdateError(f"{where} did not acknowledge the announcement on {topic}")
        if answer["publish"].is_failure:
            raise UpdateError(f"{where} refused the announcement on {topic}: {answer['publish']}; user "
                              f"{args.username or '(none)'} may not announce content (the technician's identity may)")
    finally:
        client.disconnect()
        client.loop_stop()

if __name__ == "__main__":
    sys.exit(main())
