"""Run presence + planner over a trace of motion onsets in simulated time (weeks in seconds).

Learns the traffic model as it goes and never looks ahead; writes every play (start, end,
reason, audience) and per-day figures, with the audience of an even spread over the opening
hours and of the best schedule in hindsight for comparison. Hours, quota, gap, days off and
the campaign come from the registry, overridden by the device config's [planner] section.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import date, datetime
from pathlib import Path

from ihanoi.contract.clock import CAMPAIGN_TZ
from ihanoi.contract.timeofday import bin_of_day


def _span(text: str) -> tuple[datetime, datetime]:
    try:
        a, b = text.split("/", 1)
        start, end = datetime.fromisoformat(a), datetime.fromisoformat(b)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: expected FROM/TO, e.g. 2024-09-10T09:00/2024-09-10T11:00") from None
    start = start if start.tzinfo else start.replace(tzinfo=CAMPAIGN_TZ)
    end = end if end.tzinfo else end.replace(tzinfo=CAMPAIGN_TZ)
    if end <= start:
        raise argparse.ArgumentTypeError(f"{text!r}: TO must be after FROM")
    return start, end


def _moment(text: str) -> datetime:
    try:
        t = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: expected an ISO 8601 time, e.g. 2024-09-10T10:30") from None
    return t if t.tzinfo else t.replace(tzinfo=CAMPAIGN_TZ)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--trace", required=True, type=Path, help="CSV of motion onsets (column 'timestamp', ISO 8601)")
    p.add_argument("--config", required=True, type=Path, help="device config (TOML): unit, [pir], [planner]")
    p.add_argument("--out", required=True, type=Path, help="JSON file for the plays and per-day figures")
    p.add_argument("--plot", type=Path, help="PNG: average weekday traffic and where the plays landed")
    p.add_argument("--from", dest="first", type=date.fromisoformat, help="first day (default: the trace's, within the campaign)")
    p.add_argument("--to", dest="last", type=date.fromisoformat, help="last day (default: the trace's, within the campaign)")
    p.add_argument("--play-seconds", type=float, default=45.0, help="length of one play of the promo (default 45)")
    p.add_argument("--down", type=_span, action="append", default=[], metavar="FROM/TO",
                   help="the agent is down in this span (repeatable), e.g. 2024-09-10T09:00/2024-09-10T11:00")
    p.add_argument("--manual", type=_moment, action="append", default=[], metavar="TIME",
                   help="a play-now command at TIME (repeatable)")
    p.add_argument("--model", type=Path, help="traffic model to start from and save to (JSON); a fresh prior if absent")


def run(args: argparse.Namespace) -> int:
    from edge.config import load_config
    from edge.planner import PlanRules
    from edge.presence import read_trace
    from edge.simulation import simulate
    from edge.traffic import TrafficModel
    from ihanoi.contract.registry import load_registry

    config = load_config(args.config)
    registry = load_registry(config.registry)
    try:
        kind = registry.unit(config.unit).kind
    except KeyError as exc:
        print(f"error: {args.config}: unit: {exc.args[0]}", file=sys.stderr)
        return 2
    rules = PlanRules.from_config(config, registry, play_seconds=args.play_seconds)
    onsets = read_trace(args.trace)
    if not onsets:
        print(f"error: {args.trace}: the trace holds no onsets", file=sys.stderr)
        return 2
    first = max(args.first or onsets[0].date(), rules.calendar.first_day)
    last = min(args.last or onsets[-1].date(), rules.calendar.last_day)
    if last < first:
        print(f"error: the trace ({onsets[0].date()} .. {onsets[-1].date()}) does not overlap the campaign "
              f"({rules.calendar.first_day} .. {rules.calendar.last_day}) or --from/--to", file=sys.stderr)
        return 2
    bin_seconds = config.planner.bin_seconds
    model = (TrafficModel.load_or_prior(args.model, rules.hours, bin_seconds=bin_seconds, kind=kind) if args.model
             else TrafficModel(rules.hours, bin_seconds=bin_seconds, kind=kind))
    result = simulate(onsets, rules, first, last, model=model, hold_seconds=config.pir.hold_seconds,
                      bin_seconds=bin_seconds, outages=args.down, manual=args.manual)
    out = result.to_json()
    out["trace"] = str(args.trace)
    out["device"] = config.device
    out["unit"] = config.unit
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, ensure_ascii=False, indent=1), encoding="utf-8")
    if args.model:
        model.save(args.model)
    if args.plot:
        plot_result(result, onsets, args.plot, hold_seconds=config.pir.hold_seconds)
    s = out["summary"]
    print(f"{first} .. {last}: {s['open_days']} open days, {s['plays']} plays {s['reasons']}, "
          f"quota met every open day: {'yes' if s['quota_met_every_open_day'] else 'NO'}, "
          f"rule violations: {len(s['violations'])}")
    if s["hindsight_audience"]:
        print(f"after the first week ({s['scored_days']} days): audience {s['audience']} = "
              f"{s['audience_vs_hindsight']:.1%} of the best in hindsight ({s['hindsight_audience']}); "
              f"evenly spread {s['even_vs_hindsight']:.1%}, morning plan without live adaptation "
              f"{s['static_vs_hindsight']:.1%}")
        print(hour_table(s["plays_by_hour"]))
    print(f"wrote {args.out}" + (f" and {args.plot}" if args.plot else ""))
    return 0 if not s["violations"] and s["quota_met_every_open_day"] else 1


def hour_table(by_hour: dict) -> str:
    """Two lines: plays per day in each hour of the day, the planner's over the hindsight best's."""
    hours = sorted(set(by_hour["planner"]) | set(by_hour["hindsight"]))
    head = "plays/day by hour " + " ".join(f"{h:>4d}" for h in hours)
    rows = [f"{name:<17} " + " ".join(f"{by_hour[key].get(h, 0):4.1f}" for h in hours)
            for name, key in (("  planner", "planner"), ("  hindsight best", "hindsight"))]
    return "\n".join([head, *rows])


REASON_COLOURS = {"peak": "tab:blue", "live": "tab:orange", "catch-up": "tab:red", "manual": "tab:purple"}


def plot_result(result, onsets, path: Path, hold_seconds: float = 8.0) -> Path:
    """One panel per open weekday: the average traffic per bin and, one row per day, where the
    plays landed (coloured by reason) next to the best plays in hindsight (grey)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    from edge.planner import hindsight_best
    from edge.presence import apply_hold

    counted = apply_hold(onsets, hold_seconds)
    rules = result.rules
    by_day: dict = {}
    for t in counted:
        by_day.setdefault(t.date(), []).append(t)
    open_days = [d for d in result.days if d.open]
    weekdays = sorted({d.day.weekday() for d in open_days}) or [0]
    names = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
    fig, axes = plt.subplots(len(weekdays), 1, figsize=(11, 2.6 * len(weekdays)), sharex=True, squeeze=False)
    bin_h = 300 / 3600
    for ax, weekday in zip(axes[:, 0], weekdays):
        days = [d.day for d in open_days if d.day.weekday() == weekday]
        mean = np.zeros(288)
        for day in days:
            for t in by_day.get(day, []):
                mean[bin_of_day(t, 300)] += 1
        mean /= max(len(days), 1)
        ax.stairs(mean, np.arange(289) * bin_h, fill=True, color="0.8", label="onsets per 5 min (mean)")
        top = max(mean.max(), 1.0)
        for row, day in enumerate(days):
            y = top * (1.08 + 0.1 * row)
            best = [s for s, _ in hindsight_best(day, by_day.get(day, []), rules)]
            ax.scatter([s.hour + s.minute / 60 for s in best], [y] * len(best), marker="|", color="0.55", s=60)
            mine = [p for p in result.plays if p.start.date() == day]
            ax.scatter([p.start.hour + p.start.minute / 60 for p in mine], [y] * len(mine), marker="o", s=14,
                       c=[REASON_COLOURS.get(p.reason, "black") for p in mine])
        for s, e in rules.hours.intervals(weekday):
            ax.axvspan(s.hour + s.minute / 60, e.hour + e.minute / 60, color="tab:green", alpha=0.06)
        ax.set_ylabel(f"{names[weekday]}\n({len(days)} days)")
        ax.set_ylim(0, top * (1.2 + 0.1 * len(days)))
    handles = [plt.Line2D([], [], marker="o", ls="", color=c, label=r) for r, c in REASON_COLOURS.items()]
    handles.append(plt.Line2D([], [], marker="|", ls="", color="0.55", label="best in hindsight"))
    axes[0, 0].legend(handles=handles, loc="upper right", ncol=5, fontsize=8)
    axes[-1, 0].set_xlim(6.5, 18)
    axes[-1, 0].set_xlabel("hour of the day (one row of dots per day)")
    summary = result.summary()
    if summary["audience_vs_hindsight"] is not None:
        fig.suptitle(f"planner {summary['audience_vs_hindsight']:.0%} of the best in hindsight, "
                     f"evenly spread {summary['even_vs_hindsight']:.0%} (after the first week)")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path
