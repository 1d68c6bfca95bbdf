"""Compile a pack in a short-lived child process; the agent only maps the finished frame cache.

Compiling decodes every image and draws every text strip in memory before the cache is written:
done in the agent, that memory sets the agent's peak and much of it stays in its heap for good
(about 15 MB above its playing footprint on a 128x64 board). A child process holds it instead
and gives it all back when it exits; the agent then maps the cache as it would have anyway.

    compiler = ChildCompiler()
    compiled = compiler(pack, profile, cache_dir)   # a CompiledPack, as ``compile_pack`` returns
    compiler.fault                                  # why the last child failed, else None

A pack that does not compile is the child's ``PackError``, raised here with the same path, item
and problem. A child that fails in any other way (cannot start, killed, out of memory) is
logged, kept in ``fault`` for health, and the pack is compiled in this process as before: the
board plays either way.

    python -m edge.content.child PACK CACHE_DIR < profile.json     # what the child runs
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from pathlib import Path

from edge.content.compiled import CompiledPack
from edge.content.compiler import cached, compile_pack
from edge.panel.profile import PanelProfile
from ihanoi.contract.errors import PackError

log = logging.getLogger(__name__)

STDERR_TAIL = 2000          # characters of a failed child's stderr kept in the log and ``fault``
PYTHON = sys.executable     # the interpreter the child runs (this one)


class ChildCompiler:
    def __init__(self, python: str | None = None):
        self.python = python or PYTHON
        self.fault: str | None = None

    def __call__(self, pack: Path | str, profile: PanelProfile, cache_dir: Path | str) -> CompiledPack:
        ready = cached(pack, profile, cache_dir)
        if ready is not None:            # nothing to compile: no child needed
            return ready
        try:
            # The profile goes on stdin: a board's own profile file need not be readable by name.
            done = subprocess.run([self.python, "-m", "edge.content.child", str(pack), str(cache_dir)],
                                  input=profile.model_dump_json(), capture_output=True, text=True, check=False)
        except OSError as exc:
            return self._fallback(pack, profile, cache_dir, f"the compiler process could not start: {exc}")
        answer = _last_json(done.stdout)
        if done.returncode == 0 and "folder" in answer:
            self.fault = None
            if done.stderr.strip():        # the compile's own warnings, as the agent would have logged them
                log.warning("compiling %s: %s", pack, done.stderr.strip()[-STDERR_TAIL:])
            return CompiledPack(Path(answer["folder"]))
        if "pack_error" in answer:
            self.fault = None            # the pack's fault, not the child's: the caller decides
            raise _pack_error(answer["pack_error"])
        how = f"exit status {done.returncode}" if done.returncode >= 0 else f"signal {-done.returncode}"
        return self._fallback(pack, profile, cache_dir,
                              f"the compiler process ended with {how}: {done.stderr[-STDERR_TAIL:].strip()}")

    def _fallback(self, pack, profile, cache_dir, why: str) -> CompiledPack:
        self.fault = why
        log.error("compiling %s in a child process failed (%s); compiling it in the agent instead", pack, why)
        return compile_pack(pack, profile, cache_dir)


def _last_json(stdout: str) -> dict:
    for line in reversed(stdout.splitlines()):
        try:
            value = json.loads(line)
        except ValueError:
            continue
        if isinstance(value, dict):
            return value
    return {}


def _pack_error(fields: dict) -> PackError:
    problems = [tuple(p) for p in fields["problems"]] or [("", "cannot be compiled")]
    item, problem = problems[0] if len(problems) == 1 else ("", "; ".join(f"{k}: {m}" for k, m in problems))
    return PackError(fields["path"], item, problem)


def main(argv: list[str] | None = None) -> int:
    pack, cache_dir = argv if argv is not None else sys.argv[1:]
    profile = PanelProfile.model_validate_json(sys.stdin.read())
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        compiled = compile_pack(pack, profile, cache_dir)
    except PackError as exc:
        print(json.dumps({"pack_error": {"path": exc.path, "problems": exc.problems}}), flush=True)
        return 1
    print(json.dumps({"folder": str(compiled.path)}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
