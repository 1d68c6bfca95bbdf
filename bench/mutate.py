"""Mutation score of the modules that carry the users' rules (`make mutate`, docs/mutation.md).

mutmut (configured in pyproject.toml, ``[tool.mutmut]``) makes small changes to the code one
at a time and runs the fast tests that reach the changed function; a change no test notices
is a *survivor*. Each rule below is run on its own, one after the other, so that a shared
machine is never asked for more than ``--max-children`` processes, and the score table is
printed from mutmut's own results in ``mutants/``.

    python bench/mutate.py                 # every rule, in the order below
    python bench/mutate.py outbox auth     # some of them
    python bench/mutate.py --report        # only the table of what has been run
    python bench/mutate.py --resume outbox # only the mutants without a result yet
    python bench/mutate.py --survivors     # the survivors again, after new tests

Fast rules first (their tests take milliseconds), the collector and the report last (theirs
start a Mosquitto or a store), the planner at the very end.

A survivor that no test can kill because it changes nothing a user could see is listed in
``EQUIVALENT`` with its reason (and in docs/mutation.md); it does not count against the score.
"""

from __future__ import annotations

import argparse
import fnmatch
import ast
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MUTANTS = ROOT / "mutants"

# rule -> mutant name patterns (module.x_function or module.xǁClassǁmethod); the planner last,
# as it is the module most often rewritten.
RULES: dict[str, list[str]] = {
    "pins": ["edge.config.x_pir_pin_problem*"],
    "presence": ["edge.presence.x_apply_hold*", "edge.presence.xǁPresenceǁ*"],
    "installer": ["edge.updates.installer.xǁInstallerǁhandle*", "edge.updates.installer.xǁInstallerǁ_checked*"],
    "bundle": ["edge.updates.bundle.x_check_*", "edge.updates.bundle.x_open_bundle*",
               "edge.updates.bundle.x_parse_manifest*", "edge.updates.bundle.x__extract*",
               "edge.updates.bundle.x__members*", "edge.updates.bundle.x__read_small*"],
    "outbox": ["edge.outbox.*"],
    "auth": ["broker.web.auth.*"],
    "collector-commit": ["broker.collector.collector.xǁCollectorǁ_commit*",
                         "broker.collector.collector.xǁCollectorǁ_ack*",
                         "broker.collector.collector.xǁCollectorǁ_refused_by_store*"],
    "collector-validate": ["broker.collector.validate.*", "broker.collector.batch.*"],
    "report": ["broker.report.compliance.*"],
    "planner": ["edge.planner.x_expected_audience*", "edge.planner.x_actual_audience*",
                "edge.planner.x__interval_at*"],
}

# Survivors that change nothing a user can see: name -> why (the same list is in docs/mutation.md).
EQUIVALENT: dict[str, str] = {
    "edge.config.x_pir_pin_problem__mutmut_41":
        "asks hzeller's library instead of Piomatter for the free pins of the 'adafruit-hat' wiring: "
        "Piomatter's AdafruitMatrixBonnet pinout drives exactly the GPIOs of that mapping, at 32 and 64 rows",
    "edge.presence.xǁPresenceǁ_prune__mutmut_7":
        "prunes at 1024 old onsets instead of 1025: the threshold only batches the deletion; every onset "
        "within `keep` is kept either way",
    "edge.presence.xǁPresenceǁ_prune__mutmut_8": "the same threshold moved to 1026: as above",
    "edge.presence.xǁPresenceǁ_count_day__mutmut_10":
        "popitem(last=None) instead of last=False: None is false, so the oldest day still goes first",
    "edge.presence.xǁPresenceǁ_floor__mutmut_20":
        "int(seconds / bin) instead of int(seconds // bin): the same for the non-negative seconds since midnight",
    "edge.updates.installer.xǁInstallerǁhandle__mutmut_51":
        "a not-newer refusal without its SHA-256: `_refuse` then remembers it only as the last result, "
        "exactly as by_file=False does",
    "edge.updates.installer.xǁInstallerǁhandle__mutmut_54": "by_file=None instead of False: both are false",
    "edge.updates.installer.xǁInstallerǁhandle__mutmut_124":
        "install_file without the announced SHA-256 hashes the file itself: the download already checked "
        "that it is the announced one",
    "edge.updates.installer.xǁInstallerǁhandle__mutmut_126": "the same, the argument left out",
    "broker.web.auth.xǁLoginGuardǁfailed__mutmut_3":
        "forgets old names at 10 000 instead of past 10 000: the table stays bounded; no login is answered otherwise",
    "broker.web.auth.xǁLoginGuardǁfailed__mutmut_4": "the same bound moved to 10 001: as above",
    "broker.web.auth.x_check_csrf__mutmut_4": "a form without a token read as None instead of '': refused alike",
    "broker.web.auth.x_check_csrf__mutmut_6": "the same, the default left out",
    "broker.web.auth.x_check_csrf__mutmut_9":
        "a form without a token read as 'XXXX': no session holds that token (they are random), so refused alike",
    "broker.web.auth.x_check_csrf__mutmut_24":
        "a session without a token compared as 'XXXX' instead of '': only a form sending that very constant "
        "could tell, and a session gets its random token with its first page",
    "broker.web.auth.x_current_user__mutmut_8":
        "an empty proxy header looked up as a user name: no user can be named '' (users.toml names match "
        "[A-Za-z0-9._@-]{1,64}), so it is refused alike",
    "broker.web.auth.xǁSessionBookǁopen__mutmut_21":
        "a session of a user without a password: a session is opened only by a form login, which needs one",
    "broker.web.auth.xǁSessionBookǁuser__mutmut_17":
        "the same for a user without a password when the session is checked: form logins always have one",
    "broker.web.auth.xǁSessionBookǁopen__mutmut_8":
        "a full book also drops sessions exactly `lifetime_s` old by age rather than as the oldest: they are "
        "expired for `user()` either way (>= lifetime), only the count of dead entries differs",
    "broker.web.auth.xǁSessionBookǁopen__mutmut_2":
        "secrets.token_urlsafe(None) instead of (32): None is the library's default of 32 bytes",
    "broker.web.auth.xǁSessionBookǁopen__mutmut_3":
        "a session id of 33 random bytes instead of 32: as unguessable; nothing depends on its length",
    "edge.updates.installer.xǁInstallerǁhandle__mutmut_102":
        "log.warning(exc) instead of log.warning('%s', exc): the same line is logged",
    "edge.updates.bundle.x__extract__mutmut_16":
        "reads a member in one piece instead of 64 KiB chunks: the same bytes written and hashed",
    "edge.updates.bundle.x_check_policy__mutmut_11":
        "an absent unit is matched as 'XXXX' instead of '': no target is named either",
    "edge.updates.bundle.x_check_policy__mutmut_13": "the same for an absent device",
    "broker.collector.batch.x_kind_of_topic__mutmut_5":
        "topic.rsplit('/') instead of rsplit('/', 1): the last part of a topic is the same however many "
        "splits come before it",
    "broker.collector.batch.x_kind_of_topic__mutmut_8": "the same with rsplit('/', 2): as above",
    "broker.report.compliance.x_day_quota__mutmut_6":
        "the campaign's window taken in the zone of the first window's end instead of its start: "
        "both ends of every window are in the campaign's zone",
    "broker.report.compliance.x_day_quota__mutmut_26":
        "a day the campaign covers whole goes on to ceil(quota * covered / total): covered is then the same "
        "sum as total, so the quota itself",
    "broker.report.compliance.x_day_quota__mutmut_28": "covered > total instead of >=: as above",
    "broker.collector.collector.xǁCollectorǁ_refused_by_store__mutmut_45":
        "a refused message's batch with an empty list per kind instead of no kinds: the store skips a kind "
        "without rows, so nothing is written or counted either way",
    "broker.collector.collector.xǁCollectorǁ_commit__mutmut_85":
        "str(exc).split('\\n') instead of split('\\n', 1) for the first line of a database error: the first "
        "part is the same however many splits follow",
    "broker.collector.collector.xǁCollectorǁ_commit__mutmut_89": "the same with split('\\n', 2): as above",
    "edge.planner.x_actual_audience__mutmut_17":
        "np.searchsorted without side='left': 'left' is numpy's default",
    "edge.planner.x_actual_audience__mutmut_21":
        "astype(None) instead of astype(float): numpy reads a dtype of None as float64, the same type",
}

# SQLite reads keywords and table and column names whatever their letter case: a mutant that
# only changes the case of an SQL statement is equivalent (found by comparing the two functions).
SQL = re.compile(r"^\s*(SELECT|INSERT|UPDATE|DELETE|CREATE|ALTER|PRAGMA|BEGIN|COMMIT|ROLLBACK)\b", re.IGNORECASE)
SQL_CASE_ONLY = "changes only the letter case of an SQL statement, which SQLite reads the same"

KILLED = {1, 3}
TIMEOUT = {36, -24, 24, 152, 255}


def results() -> dict[str, int | None]:
    """Every mutant mutmut knows, with the exit code of its test run (None: not run yet)."""
    codes: dict[str, int | None] = {}
    for meta in MUTANTS.rglob("*.py.meta"):
        codes.update(json.loads(meta.read_text("utf-8")).get("exit_code_by_key", {}))
    return codes


class _LowerSql(ast.NodeTransformer):
    def visit_Constant(self, node: ast.Constant) -> ast.Constant:
        if isinstance(node.value, str) and SQL.match(node.value):
            return ast.Constant(node.value.lower())
        return node


def _functions(module: str) -> dict[str, ast.FunctionDef]:
    path = MUTANTS / (module.replace(".", "/") + ".py")
    tree = ast.parse(path.read_text("utf-8"))
    return {node.name: node for node in ast.walk(tree) if isinstance(node, ast.FunctionDef)}


def sql_case_only(name: str, cache: dict) -> bool:
    """Whether mutant ``name`` differs from its original only in the case of SQL text."""
    module, _, function = name.rpartition(".x")
    if module not in cache:
        cache[module] = _functions(module)
    functions = cache[module]
    mutant, original = functions.get("x" + function), functions.get("x" + function.rsplit("__mutmut_", 1)[0]
                                                                      + "__mutmut_orig")
    if mutant is None or original is None:
        return False
    same = [ast.dump(f.args) + ast.dump(_LowerSql().visit(ast.Module(body=f.body, type_ignores=[])))
            for f in (mutant, original)]
    return same[0] == same[1]


def equivalent(name: str, cache: dict) -> str | None:
    return EQUIVALENT.get(name) or (SQL_CASE_ONLY if sql_case_only(name, cache) else None)


def matches(name: str, rule: str) -> bool:
    return any(fnmatch.fnmatchcase(name, pattern) for pattern in RULES[rule])


def score(rule: str, codes: dict[str, int | None]) -> dict:
    names = [n for n in codes if matches(n, rule)]
    run = [n for n in names if codes[n] is not None]
    killed = [n for n in run if codes[n] in KILLED or codes[n] in TIMEOUT]
    cache: dict = {}
    same = [n for n in run if n not in killed and equivalent(n, cache)]
    survivors = sorted(set(run) - set(killed) - set(same))
    counted = len(run) - len(same)
    return {"mutants": len(names), "run": len(run), "killed": len(killed), "equivalent": len(same),
            "survivors": survivors, "score": len(killed) / counted if counted else None}


def _shown(rule: str, codes: dict) -> tuple[dict, str, str]:
    """A rule's score, its score as text, and how many of its mutants are still to run."""
    s = score(rule, codes)
    shown = "-" if s["score"] is None else f"{100 * s['score']:.1f} %"
    return s, shown, "" if s["run"] == s["mutants"] else f"({s['mutants'] - s['run']} not run)"


def table(rules: list[str]) -> str:
    codes = results()
    lines = [f"{'rule':20} {'mutants':>7} {'killed':>7} {'equiv.':>7} {'survived':>8} {'score':>7}"]
    for rule in rules:
        s, shown, note = _shown(rule, codes)
        lines.append(f"{rule:20} {s['mutants']:>7} {s['killed']:>7} {s['equivalent']:>7} "
                     f"{len(s['survivors']):>8} {shown:>7} {note}".rstrip())
        lines += [f"    survivor: {name}" for name in s["survivors"]]
    return "\n".join(lines)


def markdown(rules: list[str]) -> str:
    """The score table and the equivalent mutants, as docs/mutation.md shows them."""
    codes, cache = results(), {}
    lines = ["| rule | mutants | killed | equivalent | survived | score |", "|---|---:|---:|---:|---:|---:|"]
    same: list[tuple[str, str]] = []
    for rule in rules:
        s, shown, note = _shown(rule, codes)
        lines.append(f"| `{rule}` | {s['mutants']} | {s['killed']} | {s['equivalent']} | {len(s['survivors'])} "
                     f"| {shown} {note} |".replace("  |", " |"))
        same += [(n, equivalent(n, cache) or "") for n in codes if matches(n, rule) and codes[n] is not None
                 and codes[n] not in KILLED | TIMEOUT and equivalent(n, cache)]
    lines += ["", "| mutant | why it is equivalent |", "|---|---|"]
    lines += [f"| `{name}` | {why} |" for name, why in sorted(same)]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("rules", nargs="*", help=f"some of: {', '.join(RULES)} (default: all)")
    parser.add_argument("--report", action="store_true", help="print the table of what has been run, run nothing")
    parser.add_argument("--markdown", action="store_true",
                        help="with --report: the table and the equivalents in Markdown")
    parser.add_argument("--resume", action="store_true", help="run only the mutants that have no result yet")
    parser.add_argument("--survivors", action="store_true",
                        help="run again only the survivors and the mutants without a result (after new tests)")
    parser.add_argument("--max-children", type=int, default=2)
    parser.add_argument("--timeout", type=float, default=3600, help="seconds allowed to one rule")
    args = parser.parse_args(argv)
    unknown = [r for r in args.rules if r not in RULES]
    if unknown:
        parser.error(f"unknown rule(s) {unknown}; the rules are: {', '.join(RULES)}")
    rules = args.rules or list(RULES)
    if not args.report:
        for rule in rules:
            started = time.monotonic()
            names = RULES[rule]
            if (args.resume or args.survivors) and MUTANTS.exists():
                codes = results()
                again = {None} | ({0, 33} if args.survivors else set())
                names = sorted(n for n, code in codes.items() if code in again and matches(n, rule)
                               and n not in EQUIVALENT)
                if not names:
                    continue
            cmd = [sys.executable, "-m", "mutmut", "run", "--max-children", str(args.max_children), *names]
            # its own process group, so that a timeout stops mutmut's forked test runs as well
            with subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, start_new_session=True) as proc:
                try:
                    proc.wait(timeout=args.timeout)
                except BaseException:
                    os.killpg(proc.pid, signal.SIGTERM)
                    proc.wait()
                    print(f"{rule}: stopped after {time.monotonic() - started:.0f} s; the table shows what was run",
                          file=sys.stderr)
                    if not isinstance(sys.exc_info()[1], subprocess.TimeoutExpired):
                        raise
            print(f"{rule}: {time.monotonic() - started:.0f} s", file=sys.stderr)
    print(markdown(rules) if args.markdown else table(rules))
    return 0


if __name__ == "__main__":
    sys.exit(main())
