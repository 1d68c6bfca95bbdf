"""The production path end to end, as docs/provisioning.md tells a district to walk it.

On a copy of ansible/ (the runbook writes the vault and the content key into it), the
runbook's commands run one after the other: the content signing key, ``vault-init.yml`` (CA,
server certificate, secrets, first dashboard user), ``ansible-vault encrypt``, ``site.yml``
for the server and two Pis (hbt-bach-mai-01 and -02, one unit), and ``technician.yml``.
The three machines are Debian Bookworm root file systems made with debootstrap and reached
through ansible's chroot connection, as in test_provisioning_converge.py.

Then what the installed systemd units would start is started from inside the roots, with
the commands, users and state folders of the units themselves: Mosquitto, the collector, the
dashboard, the bundle server and nginx on the server, the agent on each Pi (on simulated
time from 04/09/2024, since the campaign is over; lobby traffic from a trace instead of the
PIR; no LED panel in a chroot). Everything speaks over TLS with the rendered passwords and
ACL, and the test shows:

- both boards' plays reach the store and appear on the dashboard, logged in through the
  reverse proxy over HTTPS with the first user vault-init.yml made;
- a technician builds a bundle and pushes it exactly as the kit's README says, with the
  technician identity, and both boards install it;
- a board's identity cannot push (the broker refuses its announcement).

The names are "localhost" (the test cannot give the machines names of their own); the ports
are free ones, set in a group_vars file of the copy. Needs root, debootstrap and Debian's
ansible; about ten minutes on two cores with the converge test's cache.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import shlex
import shutil
import signal
import sqlite3
import ssl
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

import pytest

from ihanoi.tools.tracegen import generate_onsets, write_trace
from tests.mosquitto import free_port, wait_port
from tests.test_provisioning_converge import (
    WHEELS,
    base_tarball,
    build_wheel,
    fill_wheelhouse,
    keep_downloads,
    make_root,
    pi_boot_partition,
    recap,
)
from tests.test_provisioning_render import ROOT, VENV_BIN

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(os.geteuid() != 0, reason="debootstrap and chroot need root"),
    pytest.mark.skipif(shutil.which("debootstrap") is None, reason="apt-get install -y debootstrap"),
    pytest.mark.skipif(shutil.which("ansible-playbook") is None, reason="apt-get install -y ansible"),
]

SERVER, PI1, PI2 = "ihanoi-server", "hbt-bach-mai-01", "hbt-bach-mai-02"
UNIT = "phuong-bach-mai"
DAY = "04/09/2024"
SIM_START = "2024-09-04T07:30:00+07:00"
VAULT_PASSWORD = "vault-password-of-the-test"
SERVICE_ENV = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8"}


# --- the runbook's commands ------------------------------------------------------------------
def checkout(tmp: Path) -> Path:
    """A checkout whose ansible/ is a copy the runbook may write into; the rest is this one."""
    top = tmp / "checkout"
    top.mkdir()
    shutil.copytree(ROOT / "ansible", top / "ansible", ignore=shutil.ignore_patterns("secrets", "vault-new.yml"))
    for name in ("ihanoi", "edge", "broker", "firmware_config", "pyproject.toml"):
        (top / name).symlink_to(ROOT / name)
    return top


def ansible(top: Path, tmp: Path, *args: str, check: bool = True, **env: str) -> subprocess.CompletedProcess:
    """A command of the runbook, run in the copy's ansible/ as the runbook says."""
    environ = dict(os.environ, ANSIBLE_CONFIG=str(top / "ansible/ansible.cfg"), ANSIBLE_LOCAL_TEMP=str(tmp / "at"),
                   ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0", **env)
    environ.pop("IHANOI_REGISTRY", None)
    proc = subprocess.run(list(args), cwd=top / "ansible", env=environ, capture_output=True, text=True, timeout=1800)
    if check and proc.returncode != 0:
        raise AssertionError(f"{' '.join(args)} failed ({proc.returncode}):\n{proc.stdout[-8000:]}\n{proc.stderr[-3000:]}")
    return proc


def passwd(root: Path, user: str) -> tuple[int, int]:
    for line in (root / "etc/passwd").read_text().splitlines():
        fields = line.split(":")
        if fields[0] == user:
            return int(fields[2]), int(fields[3])
    raise KeyError(f"no user {user} in {root}")


def group_id(root: Path, group: str) -> int:
    for line in (root / "etc/group").read_text().splitlines():
        fields = line.split(":")
        if fields[0] == group:
            return int(fields[2])
    raise KeyError(f"no group {group} in {root}")


def unit_settings(root: Path, unit: str) -> dict[str, str]:
    """The [Service] settings of an installed unit (the last one of a repeated key)."""
    settings, section = {}, None
    for line in (root / f"etc/systemd/system/{unit}.service").read_text().splitlines():
        if line.startswith("["):
            section = line.strip("[]")
        elif section == "Service" and "=" in line and not line.startswith("#"):
            key, value = line.split("=", 1)
            settings[key] = value
    return settings


class Machine:
    """One root file system and the processes started in it."""

    def __init__(self, name: str, root: Path, logs: Path):
        self.name, self.root, self.logs = name, root, logs
        self.procs: dict[str, subprocess.Popen] = {}

    def run(self, argv: list[str], user: str = "root", group: str | None = None, **kw) -> subprocess.CompletedProcess:
        uid, gid = passwd(self.root, user)
        gid = group_id(self.root, group) if group else gid
        return subprocess.run(["chroot", f"--userspec={uid}:{gid}", str(self.root), *argv], env=SERVICE_ENV,
                              capture_output=True, text=True, timeout=120, **kw)

    def start(self, label: str, argv: list[str], user: str = "root", group: str | None = None) -> None:
        uid, gid = passwd(self.root, user)
        gid = group_id(self.root, group) if group else gid
        log = (self.logs / f"{self.name}-{label}.log").open("w")
        self.procs[label] = subprocess.Popen(["chroot", f"--userspec={uid}:{gid}", str(self.root), *argv],
                                             stdout=log, stderr=subprocess.STDOUT, env=SERVICE_ENV,
                                             start_new_session=True)

    def start_unit(self, unit: str, extra: list[str] = ()) -> None:
        """What systemd would do for ``unit``: its state folder, ExecStartPre, then ExecStart."""
        s = unit_settings(self.root, unit)
        user, group = s.get("User", "root"), s.get("Group")
        if s.get("StateDirectory"):
            folder = self.root / "var/lib" / s["StateDirectory"]
            folder.mkdir(parents=True, exist_ok=True)
            uid, gid = passwd(self.root, user)
            os.chown(folder, uid, group_id(self.root, group) if group else gid)
            folder.chmod(int(s.get("StateDirectoryMode", "0755"), 8))
        if s.get("ExecStartPre"):
            pre = self.run(shlex.split(s["ExecStartPre"]), user, group)
            assert pre.returncode == 0, f"{unit}: ExecStartPre failed: {pre.stdout}{pre.stderr}"
        self.start(unit, shlex.split(s["ExecStart"]) + list(extra), user, group)

    def alive(self) -> None:
        for label, proc in self.procs.items():
            if proc.poll() is not None:
                log = (self.logs / f"{self.name}-{label}.log").read_text()[-3000:]
                raise AssertionError(f"{self.name}: {label} stopped ({proc.returncode}):\n{log}")

    def stop(self) -> None:
        for proc in reversed(list(self.procs.values())):
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in self.procs.values():
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(5)


def wait_for(what: str, check, timeout: float, machines=(), interval: float = 1.0):
    """Poll ``check`` until it returns something true; the processes must stay up meanwhile."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        for machine in machines:
            machine.alive()
        last = check()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out waiting for {what} (last: {last!r})")


# --- the walk ----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def deployed():
    tmp = Path(tempfile.mkdtemp(prefix="ihanoi-e2e-", dir="/var/tmp"))
    machines: list[Machine] = []
    try:
        yield from _deploy(tmp, machines)
    finally:
        for machine in machines:
            machine.stop()
        shutil.rmtree(tmp, ignore_errors=True)


def _deploy(tmp: Path, machines: list[Machine]):
    logs = tmp / "logs"
    logs.mkdir()
    top = checkout(tmp)
    ports = {name: free_port() for name in ("mqtt_tls", "mqtt_local", "https", "http", "dashboard", "bundles",
                                            "metrics")}
    # Runbook, "The names": the server's name. Here: localhost, and free ports.
    main = top / "ansible/inventory/group_vars/all/main.yml"
    main.write_text(main.read_text().replace("ihanoi_mqtt_host: mqtt.hbt.example", "ihanoi_mqtt_host: localhost"))
    (top / "ansible/inventory/group_vars/all/test-machine.yml").write_text(json.dumps({
        "ihanoi_mqtt_tls_port": ports["mqtt_tls"], "mosquitto_local_port": ports["mqtt_local"],
        "ihanoi_web_https_port": ports["https"], "ihanoi_proxy_http_port": ports["http"],
        "ihanoi_server_dashboard_port": ports["dashboard"], "ihanoi_server_bundle_port": ports["bundles"],
        "ihanoi_server_metrics_port": ports["metrics"],
        "ihanoi_agent_panel_output": "null"}))            # no LED panel in a chroot

    # Runbook, "The wheel".
    wheel = build_wheel(top / "dist")
    fill_wheelhouse(wheel)
    # Runbook, "The content signing key".
    keys = tmp / "technician-keys"
    subprocess.run([str(VENV_BIN / "ihanoi-content"), "keygen", "--out", str(keys / "content-1")], check=True,
                   capture_output=True)
    shutil.copy(keys / "content-1.pub", top / "ansible/content-keys/")
    # Runbook, "The secrets".
    ansible(top, tmp, "ansible-playbook", "vault-init.yml")
    password_file = tmp / "vault-password"
    password_file.write_text(VAULT_PASSWORD + "\n")
    ansible(top, tmp, "ansible-vault", "encrypt", "--vault-password-file", str(password_file),
            "--output", "inventory/group_vars/all/vault.yml", "vault-new.yml")
    (top / "ansible/vault-new.yml").unlink()
    assert (top / "ansible/inventory/group_vars/all/vault.yml").read_text().startswith("$ANSIBLE_VAULT")

    # Runbook, "The server and the Pis": site.yml into three root file systems.
    tarball = base_tarball()
    roots = {host: make_root(tmp / host, tarball) for host in (SERVER, PI1, PI2)}
    for host, root in roots.items():
        (root / "etc/hosts").write_text("127.0.0.1 localhost\n::1 localhost ip6-localhost\n")
        (root / "etc/hostname").write_text(host + "\n")
    for pi in (PI1, PI2):
        pi_boot_partition(roots[pi])
    overlay = tmp / "chroots"
    (overlay / "host_vars").mkdir(parents=True)
    (overlay / "hosts.json").write_text(json.dumps({"all": {"hosts": {host: {} for host in roots}}}))
    for host, root in roots.items():
        (overlay / "host_vars" / f"{host}.json").write_text(json.dumps(
            {"ansible_connection": "community.general.chroot", "ansible_host": str(root), "ansible_become": False}))
    try:
        site = ansible(top, tmp, "ansible-playbook", "site.yml", "--vault-password-file", str(password_file),
                       "-i", "inventory", "-i", str(overlay), "--limit", ",".join(roots),
                       "-e", "ihanoi_services_running=false", "-e", "pi_boot_reboot=false",
                       "-e", "rgbmatrix_build=false", PIP_NO_INDEX="1", PIP_FIND_LINKS=WHEELS)
    finally:
        for root in roots.values():
            keep_downloads(root)
    counts = recap(site.stdout)
    assert all(counts[host]["failed"] == 0 for host in roots), site.stdout[-4000:]
    # Runbook, "A technician's kit".
    kit = tmp / "kit"
    ansible(top, tmp, "ansible-playbook", "technician.yml", "--vault-password-file", str(password_file),
            "-e", f"kit_dir={kit}")

    # What the units start.
    server, pi1, pi2 = (Machine(host, roots[host], logs) for host in (SERVER, PI1, PI2))
    machines.extend([server, pi1, pi2])
    server.start("mosquitto", ["/usr/sbin/mosquitto", "-c", "/etc/mosquitto/mosquitto.conf"])
    wait_port("127.0.0.1", ports["mqtt_tls"], timeout=20)
    server.start_unit("ihanoi-collector")
    database = server.root / "var/lib/ihanoi-server/ihanoi.sqlite"
    wait_for("the collector's database", database.exists, 60, [server])
    server.start_unit("ihanoi-dashboard")
    server.start_unit("ihanoi-bundles")
    server.start("nginx", ["/usr/sbin/nginx", "-g", "daemon off; master_process on;"])
    for port in ("dashboard", "bundles", "https"):
        wait_port("127.0.0.1", ports[port], timeout=60)
    for n, pi in enumerate((pi1, pi2)):
        trace = write_trace(pi.root / "var/lib/ihanoi/lobby.csv", generate_onsets(date(2024, 9, 4), 3, seed=n))
        os.chown(trace, *passwd(pi.root, "ihanoi"))
        pi.start_unit("ihanoi-edge", ["--speed", "600", "--start", SIM_START, "--pir-trace", "/var/lib/ihanoi/lobby.csv"])
    yield Deployed(top, tmp, roots, ports, kit, keys, database, server, (pi1, pi2))


class Deployed:
    def __init__(self, top, tmp, roots, ports, kit, keys, database, server, pis):
        self.top, self.tmp, self.roots, self.ports, self.kit, self.keys = top, tmp, roots, ports, kit, keys
        self.database, self.server, self.pis = database, server, pis
        self.secrets = top / "ansible/secrets"

    @property
    def machines(self):
        return (self.server, *self.pis)

    def plays_per_device(self) -> dict[str, int]:
        try:
            with sqlite3.connect(f"file:{self.database}?mode=ro", uri=True, timeout=5) as db:
                return dict(db.execute("SELECT device, COUNT(*) FROM plays GROUP BY device").fetchall())
        except sqlite3.Error:
            return {}

    def https(self):
        import httpx

        context = ssl.create_default_context(cafile=str(self.secrets / "ca.crt"))
        return httpx.Client(base_url=f"https://localhost:{self.ports['https']}", verify=context, timeout=30)

    def login(self, client) -> "object":
        page = client.get("/login")
        assert page.status_code == 200, page.text[:500]
        csrf = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)
        password = (self.secrets / "dashboard-admin.password").read_text().strip()
        answer = client.post("/login", data={"csrf": csrf, "next": "/compliance", "username": "admin",
                                             "password": password})
        assert answer.status_code == 303, answer.text[:500]
        return answer

    def installed(self, pi) -> int | None:
        try:
            # one store per bundle name (docs/updates.md); the technician's bundle is the promo's
            state = pi.root / "var/lib/ihanoi/content/by-name/ihanoi-promo/state.json"
            return json.loads(state.read_text()).get("installed")
        except (OSError, ValueError):
            return None

    def push(self, bundle: Path, *identity: str) -> subprocess.CompletedProcess:
        """``ihanoi-content push`` exactly as the technician kit's README writes it."""
        text = (self.kit / "README.txt").read_text()
        command = text[text.index("ihanoi-content push"):].split("\n\n", 1)[0].replace("\\\n", " ")
        argv = shlex.split(command.replace("BUNDLE.tar", str(bundle)).replace(" UNIT ", f" {UNIT} "))
        if identity:
            at = argv.index("--username")
            argv[at:at + 4] = list(identity)
        return subprocess.run([str(VENV_BIN / "ihanoi-content"), *argv[1:]], capture_output=True, text=True,
                              timeout=120)


# --- what the district sees ------------------------------------------------------------------
def test_both_boards_plays_reach_the_store_over_tls(deployed):
    counts = wait_for("plays from both boards", lambda: (lambda c: c if all(c.get(d, 0) >= 2 for d in (PI1, PI2))
                                                          else None)(deployed.plays_per_device()),
                      300, deployed.machines)
    assert set(counts) == {PI1, PI2}
    # They came over the TLS listener with the passwords ansible gave each Pi.
    log = (deployed.server.root / "var/log/mosquitto/mosquitto.log").read_text()
    for device in (PI1, PI2):
        assert re.search(rf"New client connected from \S+ as {device} .*u'{device}'", log), log[-2000:]


def test_the_dashboard_shows_both_boards_through_the_https_proxy(deployed):
    test_both_boards_plays_reach_the_store_over_tls(deployed)
    with deployed.https() as client:
        assert client.get("/compliance", follow_redirects=False).status_code in (302, 303, 401)
        answer = deployed.login(client)
        assert "secure" in answer.headers["set-cookie"].lower()        # the session cookie only goes over HTTPS
        day = client.get("/compliance.csv", params={"from": DAY, "to": DAY})
        assert day.status_code == 200, day.text[:500]
        lines = day.text.lstrip("\ufeff").splitlines()
        header = next(i for i, line in enumerate(lines) if "Mã đơn vị" in line)    # after the title lines
        assert any("Thực hiện văn bản số" in line for line in lines[:header])      # the directive it reports on
        rows = [r for r in csv.DictReader(io.StringIO("\n".join(lines[header:]))) if r["Mã đơn vị"] == UNIT]
        assert len(rows) == 1
        assert int(rows[0]["Số thiết bị"]) == 2 and int(rows[0]["Lượt phát trong giờ làm việc"]) >= 2
        assert rows[0]["Thiết bị không gửi dữ liệu"] == ""              # neither board was silent
        unit_page = client.get(f"/units/{UNIT}", params={"from": DAY, "to": DAY})
        assert unit_page.status_code == 200 and PI1 in unit_page.text and PI2 in unit_page.text
    import httpx
    plain = httpx.get(f"http://localhost:{deployed.ports['http']}/compliance", follow_redirects=False)
    assert plain.status_code == 301
    assert plain.headers["location"] == f"https://localhost:{deployed.ports['https']}/compliance"


def test_a_technicians_bundle_reaches_both_boards_and_a_boards_identity_cannot_push(deployed, tmp_path):
    key = deployed.keys / "content-1.key"
    bundles = {}
    for version in (2, 3):
        bundles[version] = tmp_path / f"promo-v{version}.tar"
        built = subprocess.run([str(VENV_BIN / "ihanoi-content"), "build", str(ROOT / "edge/packs/ihanoi-promo"),
                                "--key", str(key), "--version", str(version), "--unit", UNIT,
                                "--out", str(bundles[version])], capture_output=True, text=True)
        assert built.returncode == 0, built.stderr
    pushed = deployed.push(bundles[2])
    assert pushed.returncode == 0, pushed.stdout + pushed.stderr
    assert "announced bundle ihanoi-promo v2" in pushed.stdout
    wait_for("both boards to install v2", lambda: all(deployed.installed(pi) == 2 for pi in deployed.pis), 300,
             deployed.machines)

    # A board's own identity (with the technician's upload token, even) cannot announce.
    pi1 = deployed.pis[0]
    refused = deployed.push(bundles[3], "--username", PI1, "--password-file", str(pi1.root / "etc/ihanoi/mqtt-password"))
    assert refused.returncode == 1
    assert "refused the announcement" in refused.stderr and "Not authorized" in refused.stderr
    time.sleep(5)
    assert [deployed.installed(pi) for pi in deployed.pis] == [2, 2]

    # The server's own read-only command, as the services' user, sees what the boards report.
    def reported():
        proc = deployed.server.run(["/opt/ihanoi-server/venv/bin/ihanoi-broker", "devices", "--config",
                                    "/etc/ihanoi-server/collector.toml", "--format", "json"], user="ihanoi")
        assert proc.returncode == 0, proc.stderr
        versions = {d["device"]: d["content_version"] for d in json.loads(proc.stdout)}
        return versions if versions.get(PI1) == versions.get(PI2) == "2" else None
    wait_for("the boards to report content version 2", reported, 180, deployed.machines, interval=3)
