"""The promo compiled in a short-lived child process: the same frames, the pack's errors as before,
and a child that fails is logged and reported while the board still plays."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edge.content import ChildCompiler, PackError, builtin_pack, compile_pack
from edge.content import child as child_module
from edge.panel.profile import load_profile
from tests.updates_kit import make_pack

PROFILE = load_profile("p4-128x32")


def _script(folder: Path, body: str) -> str:
    """An executable that stands in for the child's interpreter."""
    path = folder / "python"
    path.write_text("#!/bin/sh\n" + body + "\n")
    path.chmod(0o755)
    return str(path)


def test_the_child_compiles_the_same_frames_the_agent_would(tmp_path):
    compiler = ChildCompiler()
    in_child = compiler(builtin_pack("ihanoi-promo"), PROFILE, tmp_path / "child")
    here = compile_pack(builtin_pack("ihanoi-promo"), PROFILE, tmp_path / "here")
    assert compiler.fault is None
    assert in_child.path.parent == tmp_path / "child" and in_child.content == here.content
    assert len(in_child) == len(here) and np.array_equal(in_child.durations, here.durations)
    assert all(np.array_equal(a, b) for a, b in zip(in_child.frames, here.frames))


def test_a_cached_pack_needs_no_child(tmp_path):
    compile_pack(builtin_pack("ihanoi-promo"), PROFILE, tmp_path)
    compiler = ChildCompiler(python=str(tmp_path / "no-such-python"))
    compiled = compiler(builtin_pack("ihanoi-promo"), PROFILE, tmp_path)
    assert compiler.fault is None and len(compiled) > 0


def test_a_pack_that_does_not_compile_is_the_same_pack_error_from_the_child(tmp_path):
    pack = make_pack(tmp_path / "pack", "v1", broken=True)
    with pytest.raises(PackError) as here:
        compile_pack(pack, PROFILE, tmp_path / "here")
    compiler = ChildCompiler()
    with pytest.raises(PackError) as there:
        compiler(pack, PROFILE, tmp_path / "child")
    assert str(there.value) == str(here.value) and there.value.path == here.value.path
    assert compiler.fault is None, "a broken pack is the pack's fault, not the child's"


@pytest.mark.parametrize("body, why", [
    ("kill -KILL $$", "signal 9"),
    ("echo 'MemoryError: cannot allocate the strip' >&2; exit 1", "MemoryError: cannot allocate the strip"),
    ("echo 'not json'; exit 0", "exit status 0"),
])
def test_a_child_that_fails_is_logged_and_reported_and_the_pack_compiled_here(tmp_path, caplog, body, why):
    compiler = ChildCompiler(python=_script(tmp_path, body))
    with caplog.at_level(logging.ERROR, logger="edge.content.child"):
        compiled = compiler(builtin_pack("ihanoi-promo"), PROFILE, tmp_path / "cache")
    assert len(compiled) > 0 and compiled.path.parent == tmp_path / "cache"
    assert compiler.fault and why in compiler.fault
    assert any(why in r.getMessage() and "compiling it in the agent" in r.getMessage() for r in caplog.records)
    compiler.python = child_module.PYTHON
    compiler(builtin_pack("ihanoi-promo"), PROFILE, tmp_path / "again")
    assert compiler.fault is None, "the next good compile clears the fault"


def test_a_child_that_cannot_start_falls_back_too(tmp_path):
    compiler = ChildCompiler(python=str(tmp_path / "no-such-python"))
    compiled = compiler(builtin_pack("ihanoi-promo"), PROFILE, tmp_path / "cache")
    assert len(compiled) > 0 and "could not start" in compiler.fault


def test_the_agent_stays_alive_and_its_health_says_why_when_the_child_fails(tmp_path, monkeypatch, caplog):
    from edge.agent import Agent
    from edge.config import check_config
    from ihanoi.contract.clock import SimClock
    from tests.agent_support import device_config
    from tests.test_agent_parts import WED, at

    monkeypatch.delenv("IHANOI_PANEL", raising=False)
    monkeypatch.setattr(child_module, "PYTHON", _script(tmp_path, "kill -KILL $$"))
    config, registry, profile = check_config(device_config(tmp_path, "hbt-bach-dang-01", 1883, output="null"))
    with caplog.at_level(logging.ERROR):
        agent = Agent(config, registry, profile, SimClock(at(WED, 7, 30)), connect=False)
    try:
        assert len(agent.promo.current) > 0, "the promo was compiled in the agent instead"
        assert "signal 9" in agent.status()["details"]["compile_fault"]
        assert any("compiling it in the agent" in r.getMessage() for r in caplog.records)
    finally:
        agent.screen.close()
        agent.outbox.close()


@settings(deadline=None)              # no wall-clock limit: the machine may be busy
@given(st.text())
def test_whatever_a_child_prints_the_answer_is_a_dict(stdout):
    assert isinstance(child_module._last_json(stdout), dict)

