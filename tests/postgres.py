"""A PostgreSQL server for tests: a fresh database per test, dropped afterwards.

Where the server comes from, first that works:
1. ``$IHANOI_TEST_PG_URL`` (any database on a server where that role may CREATE DATABASE);
2. a server already answering on 127.0.0.1:5432 as ``postgres`` (trust authentication);
3. a throwaway cluster (``initdb`` + ``pg_ctl``) in a temp dir on a free port, when the server
   binaries are installed (as root, run as ``nobody``: initdb refuses root);
4. otherwise the test is skipped and says why.

Import the fixture into a test module: ``from tests.postgres import pg_url  # noqa: F401``.
"""

from __future__ import annotations

import atexit
import glob
import os
import shutil
import subprocess
import tempfile
import uuid
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.mosquitto import free_port, wait_port

_server: str | None = None
_why_not: str | None = None


def _answers(url: str) -> bool:
    try:
        import psycopg
        with psycopg.connect(url, connect_timeout=2, autocommit=True) as conn:
            conn.execute("SELECT 1")
        return True
    except Exception:
        return False


def _start_cluster() -> str | None:
    binaries = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if not binaries:
        return None
    bindir = Path(binaries[-1]).parent
    data = Path(tempfile.mkdtemp(prefix="ihanoi-pg-"))
    port = free_port()
    prefix: list[str] = []
    if os.geteuid() == 0:
        shutil.chown(data, "nobody")
        os.chmod(data, 0o700)
        prefix = ["runuser", "-u", "nobody", "--"]
    subprocess.run(prefix + [str(bindir / "initdb"), "-D", str(data / "db"), "-U", "postgres", "--auth=trust",
                             "--no-sync", "-E", "UTF8"], check=True, capture_output=True)
    subprocess.run(prefix + [str(bindir / "pg_ctl"), "-D", str(data / "db"), "-l", str(data / "log"), "-w", "start",
                             "-o", f"-p {port} -k {data} -c listen_addresses=127.0.0.1 -c fsync=off"],
                   check=True, capture_output=True)

    def stop() -> None:
        subprocess.run(prefix + [str(bindir / "pg_ctl"), "-D", str(data / "db"), "-m", "immediate", "stop"],
                       capture_output=True)
        shutil.rmtree(data, ignore_errors=True)

    atexit.register(stop)
    wait_port("127.0.0.1", port)
    return f"postgresql://postgres@127.0.0.1:{port}/postgres"


def server_url() -> str | None:
    """An admin URL of a usable server, or None (``why_not()`` says why)."""
    global _server, _why_not
    if _server or _why_not:
        return _server
    env = os.environ.get("IHANOI_TEST_PG_URL")
    candidates = [env] if env else ["postgresql://postgres@127.0.0.1:5432/postgres"]
    for url in candidates:
        if _answers(url):
            _server = url
            return _server
    if env:
        _why_not = f"IHANOI_TEST_PG_URL={env} does not answer"
        return None
    try:
        _server = _start_cluster()
    except (subprocess.CalledProcessError, OSError, TimeoutError) as exc:
        _why_not = f"could not start a throwaway PostgreSQL: {exc}"
        return None
    if _server is None:
        _why_not = ("no PostgreSQL: set IHANOI_TEST_PG_URL, run one on 127.0.0.1:5432, or install "
                    "postgresql (its initdb is used to start a throwaway server)")
    return _server


def why_not() -> str:
    return _why_not or "PostgreSQL is available"


@contextmanager
def fresh_database(prefix: str = "ihanoi_test"):
    """Yield the URL of a new, empty database; drop it afterwards."""
    import psycopg
    from sqlalchemy.engine import make_url

    admin = server_url()
    if admin is None:
        raise RuntimeError(why_not())
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield make_url(admin).set(database=name).render_as_string(hide_password=False)
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def pg_url():
    if server_url() is None:
        pytest.skip(why_not())
    with fresh_database() as url:
        yield url


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_url(request, tmp_path):
    """Every store test runs on both databases through the same code path."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path}/store.sqlite3"
        return
    if server_url() is None:
        pytest.skip(why_not())
    with fresh_database() as url:
        yield url
