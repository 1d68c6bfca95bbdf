"""hzeller's rpi-rgb-led-matrix built once from source for the tests and benchmarks that run the
real library (and cached: a rerun takes no time): its shared library ``librgbmatrix.so.1``
(what the ``rgbmatrix`` output loads, ``shared_library``) and its Python bindings (the old
hand-off the benchmark compares with, ``built``).

The source is the one ansible builds on a Pi: ``IHANOI_RGBMATRIX_TARBALL`` names a source
tarball of the pinned commit (the Makefile points it at a local snapshot when there is one);
without it the pinned commit is cloned from upstream. With neither, the tests that need the
library are skipped and say why. The build needs Debian's ``python3-pil`` (``Imaging.h``),
``python3-dev``, ``cmake``, ``g++``; pip fetches scikit-build-core and Cython.

The shared library needs only ``make`` and ``g++``. The bindings are a folder holding the
``rgbmatrix`` package, put on ``PYTHONPATH`` of the child processes that use it. Neither is
ever loaded into the test process: the library must only ever start inside the stand-in Pi
(edge/panel/standin.py) or as an unprivileged user.
"""

from __future__ import annotations

import fcntl
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import tarfile
import tempfile
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
ROLE_DEFAULTS = ROOT / "ansible" / "roles" / "rgbmatrix" / "defaults" / "main.yml"
CACHE = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "ihanoi-signage" / "rgbmatrix"
PILLOW_HEADERS = ("Imaging.h", "ImPlatform.h", "ImDib.h", "ImagingUtils.h")


def pinned() -> tuple[str, str]:
    """(repository, commit) the ansible role builds: one definition, in the role's defaults."""
    text = ROLE_DEFAULTS.read_text()
    repo = re.search(r"^rgbmatrix_repo:\s*(\S+)", text, re.M).group(1)
    commit = re.search(r"^rgbmatrix_version:\s*([0-9a-f]{40})", text, re.M).group(1)
    return repo, commit


def pillow_include() -> Path | None:
    """Debian's python3-pil headers (the binding's shims/pillow.c includes Imaging.h)."""
    folder = Path(f"/usr/include/python3.{sys.version_info.minor}")
    return folder if (folder / "Imaging.h").exists() else None


def source() -> tuple[str, str]:
    """(what to pip-build, a name for the cache) or a pytest skip with the reason."""
    repo, commit = pinned()
    tarball = os.environ.get("IHANOI_RGBMATRIX_TARBALL")
    if tarball:
        if not Path(tarball).is_file():
            pytest.skip(f"IHANOI_RGBMATRIX_TARBALL={tarball} does not exist")
        return str(Path(tarball).resolve()), Path(tarball).name.split(".tar")[0]
    clone = CACHE / f"src-{commit[:12]}"
    if not (clone / "CMakeLists.txt").exists():
        CACHE.mkdir(parents=True, exist_ok=True)            # a fresh machine has no cache yet
        work = Path(tempfile.mkdtemp(dir=CACHE))
        try:
            subprocess.run(["git", "clone", "-q", "--filter=blob:none", repo, str(work / "src")], check=True,
                           capture_output=True, timeout=300)
            subprocess.run(["git", "-C", str(work / "src"), "checkout", "-q", commit], check=True, capture_output=True)
            (work / "src").rename(clone)
        except (OSError, subprocess.SubprocessError):
            pytest.skip(f"no rpi-rgb-led-matrix source: IHANOI_RGBMATRIX_TARBALL is not set and {repo} at "
                        f"{commit[:12]} cannot be cloned (offline?)")
        finally:
            shutil.rmtree(work, ignore_errors=True)
    return str(clone), f"rpi-rgb-led-matrix-{commit[:8]}"


def built() -> Path:
    """The folder with the built ``rgbmatrix`` package (building it on first use)."""
    include = pillow_include()
    if include is None:
        pytest.skip("the binding needs Debian's python3-pil headers: apt-get install -y python3-pil")
    for tool in ("cmake", "g++"):
        if shutil.which(tool) is None:
            pytest.skip(f"building rpi-rgb-led-matrix needs {tool}: apt-get install -y cmake g++")
    src, name = source()
    import PIL

    tag = f"{name}-{sysconfig.get_platform()}-py{sys.version_info.major}{sys.version_info.minor}-pillow{PIL.__version__}"
    site = CACHE / tag / "site"
    CACHE.mkdir(parents=True, exist_ok=True)
    with open(CACHE / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)   # two test runs must not build into the same folder
        if not (site / "rgbmatrix" / "__init__.py").exists():
            _build(src, include, site)
    return site


def _build(src: str, include: Path, site: Path) -> None:
    work = Path(tempfile.mkdtemp(dir=CACHE))
    try:
        headers = work / "pillow-include"   # Pillow's headers only, not Debian's Python.h
        headers.mkdir()
        for name in PILLOW_HEADERS:
            if (include / name).exists():
                shutil.copy(include / name, headers / name)
        env = dict(os.environ, CFLAGS=f"-I{headers}", CXXFLAGS=f"-I{headers}")
        proc = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(work / "dist"), src],
                              env=env, capture_output=True, text=True, timeout=1800)
        if proc.returncode != 0:
            raise AssertionError(f"building rpi-rgb-led-matrix failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-6000:]}")
        wheel = next((work / "dist").glob("rgbmatrix-*.whl"))
        part = site.with_name("site.part")
        shutil.rmtree(part, ignore_errors=True)
        with zipfile.ZipFile(wheel) as zf:
            zf.extractall(part)
        part.rename(site)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def shared_library() -> Path:
    """A folder with ``librgbmatrix.so.1`` and the ``led-matrix-c.h`` it was built from (built on first use)."""
    for tool in ("make", "g++"):
        if shutil.which(tool) is None:
            pytest.skip(f"building rpi-rgb-led-matrix needs {tool}: apt-get install -y make g++")
    src, name = source()
    done = CACHE / f"{name}-{sysconfig.get_platform()}-lib"
    CACHE.mkdir(parents=True, exist_ok=True)
    with open(CACHE / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (done / "librgbmatrix.so.1").exists():
            _make_library(src, done)
    return done


def _make_library(src: str, done: Path) -> None:
    work = Path(tempfile.mkdtemp(dir=CACHE))
    try:
        tree = work / "src"
        if Path(src).is_file():
            with tarfile.open(src) as tar:
                tar.extractall(work / "unpacked", filter="data")
            next((work / "unpacked").iterdir()).rename(tree)
        else:
            shutil.copytree(src, tree, ignore=shutil.ignore_patterns(".git"))
        # lib/Makefile includes ../config.mk (compiler tuning); a snapshot without it builds with
        # the plain flags, as the ansible role does.
        if not (tree / "config.mk").exists():
            (tree / "config.mk").write_text("")
        proc = subprocess.run(["make", "-C", str(tree / "lib"), f"-j{os.cpu_count() or 1}", "librgbmatrix.so.1"],
                              capture_output=True, text=True, timeout=1800)
        if proc.returncode != 0:
            raise AssertionError(f"building librgbmatrix.so.1 failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-6000:]}")
        part = done.with_name(done.name + ".part")
        shutil.rmtree(part, ignore_errors=True)
        part.mkdir()
        shutil.copy(tree / "lib" / "librgbmatrix.so.1", part / "librgbmatrix.so.1")
        shutil.copy(tree / "include" / "led-matrix-c.h", part / "led-matrix-c.h")
        part.rename(done)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def readable_copy(built_folder: Path, folder: Path, name: str = "rgbmatrix-site") -> Path:
    """A copy of a built folder an unprivileged user can load (the cache is root's)."""
    dest = folder / name
    shutil.copytree(built_folder, dest)
    for path in [dest, *dest.rglob("*")]:
        path.chmod(0o755 if path.is_dir() or ".so" in path.suffixes else 0o644)
    return dest
