"""Open an LED library once in a child process before the agent trusts it in its own.

rpi-rgb-led-matrix and Piomatter can end the process that loads them: ``exit(1)`` (hardware
pulsing without root, the sound module loaded, ``/dev/pio0`` missing), ``abort()`` (an RP1
transfer failed) or a segfault (a crash inside the library; a NULL matrix, which its Python
binding turned into one, the ``rgbmatrix`` output checks and raises). The checks in ``hostcheck`` catch what is known; this trial run catches
the rest: ``python -m edge.panel.probe OUTPUT`` opens the board with the same settings, shows
one black frame and closes it. A child that dies, exits non-zero or hangs becomes a
``PanelError`` naming the signal or exit status and the library's last words on stderr, and
the agent runs dark instead of dying. A trial that passed is not repeated in the process.
"""

from __future__ import annotations

import importlib
import json
import signal
import subprocess
import sys

from ihanoi.contract.errors import PanelError, SignageError

TIMEOUT = 60.0      # opening takes well under a second; a hung library must not hold the agent's start-up
_passed: set[tuple[str, str]] = set()


def trial_run(output: str, spec: dict, timeout: float = TIMEOUT) -> None:
    """Open the board of ``spec`` with ``output``'s library in a child process; PanelError if it fails."""
    key = (output, json.dumps(spec, sort_keys=True))
    if key in _passed:
        return
    cmd = [sys.executable, "-m", "edge.panel.probe", output]
    try:
        proc = subprocess.run(cmd, input=key[1], capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise PanelError(f"the {output} library did not open the board within {timeout:.0f} s in a trial run "
                         f"(it hangs); check the wiring and the profile, and the agent's log") from None
    if proc.returncode == 0 and proc.stdout.strip().endswith("ok"):
        _passed.add(key)
        return
    said = last_words(proc.stderr + "\n" + proc.stdout)   # Piomatter explains itself on stdout
    if proc.returncode < 0:
        try:
            how = f"was killed by {signal.Signals(-proc.returncode).name}"
        except ValueError:
            how = f"was killed by signal {-proc.returncode}"
    else:
        how = f"exited with status {proc.returncode}"
    raise PanelError(f"the {output} library {how} while opening the board in a trial run"
                     + (f"; it said: {said}" if said else ""))


def last_words(stderr: str, lines: int = 6) -> str:
    """The last non-empty lines a library wrote (its own explanation, when it gives one)."""
    kept = [line.strip() for line in stderr.replace("\033[1;31m", "").replace("\033[0m", "").splitlines()
            if line.strip()]
    return " / ".join(kept[-lines:])


def main(argv: list[str]) -> int:
    output = argv[0]
    spec = json.loads(sys.stdin.read())
    try:
        module = importlib.import_module(f"edge.panel.{output}")
        module.trial(spec)
    except SignageError as exc:
        print(exc, file=sys.stderr)
        return 3
    print("ok")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
