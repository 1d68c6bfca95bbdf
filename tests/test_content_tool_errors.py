"""``ihanoi-content`` as a technician meets it: a pack given by its pack.toml is its folder,
and a missing folder, token file or password file is one sentence that says what to do
(exit status 2), never a traceback."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from ihanoi.tools.content import main as content_cli

ROOT = Path(__file__).resolve().parents[1]
PROMO = ROOT / "edge/packs/ihanoi-promo"


@pytest.fixture(scope="module")
def key(tmp_path_factory):
    stem = tmp_path_factory.mktemp("keys") / "tech"
    assert content_cli(["keygen", "--out", str(stem)]) == 0
    return stem.with_suffix(".key")


def content(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "ihanoi.tools.content", *args], capture_output=True, text=True,
                          cwd=cwd)


def test_a_packs_pack_toml_means_its_folder(tmp_path, key):
    by_file = content("build", str(PROMO / "pack.toml"), "--key", str(key), "--version", "3", "--all",
                      "--out", "a.tar", cwd=tmp_path)
    assert by_file.returncode == 0, by_file.stderr
    assert "bundle ihanoi-promo v3" in by_file.stdout


def test_a_folder_that_is_not_a_pack_is_named_with_what_to_give(tmp_path, key):
    proc = content("build", "packs/ihanoi-promo", "--key", str(key), "--version", "3", "--all", "--out", "a.tar",
                   cwd=tmp_path)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "packs/ihanoi-promo: not a content pack folder (it does not exist)" in proc.stderr
    assert "edge/packs/ihanoi-promo" in proc.stderr and "pack.toml/pack.toml" not in proc.stderr


@pytest.mark.parametrize("verb", ["push", "serve"])
def test_a_missing_token_file_is_a_sentence(tmp_path, key, verb):
    content("build", str(PROMO), "--key", str(key), "--version", "3", "--all", "--out", "b.tar", cwd=tmp_path)
    args = (["push", "b.tar", "--unit", "phuong-bach-mai", "--server", "https://content.example",
             "--token-file", "kit/upload-token"] if verb == "push"
            else ["serve", "--dir", "bundles", "--port", "1", "--token-file", "kit/upload-token"])
    proc = content(*args, cwd=tmp_path)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
    assert "kit/upload-token" in proc.stderr and "cannot be read" in proc.stderr
