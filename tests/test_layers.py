"""The three layers are a rule, not a wish: ``lint-imports`` with the contracts in pyproject.toml.

ihanoi.contract imports neither side; edge (the Pi) and broker (the server) import only the
contract, never each other; ihanoi.tools on top may import all. A Pi's code imports none of
the server's packages and the server's none of the display's.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LINT = str(Path(sys.executable).with_name("lint-imports"))


def lint(cwd: Path, config: Path) -> subprocess.CompletedProcess:
    return subprocess.run([LINT, str(config), "--no-cache"], cwd=cwd, capture_output=True, text=True,
                          env={"PYTHONPATH": str(cwd), "PATH": "/usr/bin:/bin"})


def test_the_project_keeps_its_layers():
    result = lint(ROOT, ROOT / "pyproject.toml")
    assert result.returncode == 0, result.stdout + result.stderr
    contracts = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]["contracts"]
    assert f"Contracts: {len(contracts)} kept, 0 broken." in result.stdout


def _tree(tmp_path: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


BASE = {"ihanoi/__init__.py": "", "ihanoi/contract/__init__.py": "", "ihanoi/tools/__init__.py": "",
        "edge/__init__.py": "", "broker/__init__.py": ""}


def test_an_agent_module_importing_the_server_breaks_the_build(tmp_path):
    tree = _tree(tmp_path, {**BASE, "edge/agent.py": "from broker.registry import Registry\n"})
    result = lint(tree, tree / "pyproject.toml")
    assert result.returncode == 1
    assert "edge is not allowed to import broker" in result.stdout and "edge.agent -> broker" in result.stdout


def test_the_contract_importing_a_side_breaks_the_build(tmp_path):
    tree = _tree(tmp_path, {**BASE, "ihanoi/contract/protocol.py": "import edge\n"})
    result = lint(tree, tree / "pyproject.toml")
    assert result.returncode == 1
    assert "ihanoi.contract.protocol -> edge" in result.stdout
