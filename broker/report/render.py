"""The report as a text table, CSV, JSON or an xlsx workbook (Vietnamese headers).

Each campaign's report opens with its title: the campaign, the directive it carries out (số,
ngày, cơ quan ban hành) and the period, so that the file can be attached to the district's
reply as it is. Several campaigns: one section each (the workbook: one sheet set each,
numbered), then the summary across them (which units comply with all their directives) and the
plays naming a campaign the store does not have (the text and JSON say those for one campaign too).

CSV is written with a byte-order mark so that spreadsheet programs read the diacritics as
UTF-8; the workbook keeps dates as dates, counts as numbers and compliance as booleans.

Text in a CSV or workbook cell is never a formula (the OWASP rule for CSV injection): boards
send content and software versions, and a version such as ``=HYPERLINK(...)`` must reach the
Culture office's spreadsheet as text. A CSV cell that begins with ``=``, ``+``, ``-``, ``@``, a
tab or a carriage return gets a leading apostrophe; such a workbook cell is stored as a string
with Excel's own "quote prefix" (shown as typed, kept as text when edited).
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import asdict
from datetime import date, datetime
from pathlib import Path

from broker.report.across import Across
from broker.report.compliance import Report
from ihanoi.contract.registry import SCREEN_LABELS_VI

FORMATS = ("table", "csv", "json", "xlsx")
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")

DAY_COLUMNS = [  # (header, key, kind)
    ("Ngày", "day", "date"),
    ("Mã đơn vị", "unit", "text"),
    ("Đơn vị", "name", "text"),
    ("Loại", "kind", "text"),
    ("Số thiết bị", "n_devices", "int"),
    ("Lượt phát trong giờ làm việc", "plays", "int"),
    ("Lượt phát khi TV tắt (không tính)", "not_shown", "int"),
    ("Định mức/thiết bị/ngày", "quota", "int"),
    ("Đạt", "compliant", "bool"),
    ("Thiết bị chưa đạt", "below_quota", "list"),
    ("Tỷ lệ phát vào giờ cao điểm", "peak_share", "pct"),
    ("Lượt người xem", "audience", "int"),
    ("Thiết bị không gửi dữ liệu", "silent", "list"),
]
UNIT_COLUMNS = [
    ("Mã đơn vị", "unit", "text"),
    ("Đơn vị", "name", "text"),
    ("Loại", "kind", "text"),
    ("Số thiết bị", "devices", "int"),
    ("Định mức/thiết bị/ngày", "quota", "int"),
    ("Số ngày làm việc", "open_days", "int"),
    ("Số ngày đạt", "compliant_days", "int"),
    ("Tổng lượt phát", "plays", "int"),
    ("Bình quân lượt phát/thiết bị/ngày", "average_per_device_day", "float"),
    ("Đạt bình quân", "meets_average", "bool"),
    ("Đạt mọi ngày", "compliant_every_day", "bool"),
]
DEVICE_COLUMNS = [
    ("Thiết bị", "device", "text"),
    ("Mã đơn vị", "unit", "text"),
    ("Màn hình", "screen", "text"),
    ("Trạng thái", "state", "text"),
    ("Lần cuối nhận dữ liệu", "last_seen", "datetime"),
    ("Phiên bản nội dung", "content_version", "text"),
    ("Sự kiện chờ gửi", "outbox_depth", "int"),
    ("Đồng hồ đồng bộ", "clock_synced", "bool"),
    ("Ghi chú", "problems", "list"),
]
STATE_VI = {"online": "đang hoạt động", "offline": "mất kết nối", "never seen": "chưa kết nối"}


def day_rows(report: Report) -> list[dict]:
    return [{**asdict(d), "n_devices": len(d.devices)} for d in report.days]


def unit_rows(report: Report) -> list[dict]:
    return [asdict(u) for u in report.units]


def device_rows(notes, tz) -> list[dict]:
    rows = []
    for n in notes:
        row = asdict(n)
        row["state"] = STATE_VI.get(n.state, n.state)
        row["screen"] = SCREEN_LABELS_VI.get(n.screen, n.screen)
        row["last_seen"] = n.last_seen.astimezone(tz) if n.last_seen else None
        rows.append(row)
    return rows


def district_rows(report: Report) -> list[tuple[str, object]]:
    d = report.district
    return [
        ("Kỳ báo cáo", f"{d.first:%d/%m/%Y} – {d.last:%d/%m/%Y}"),
        ("Thời gian chiến dịch", f"{d.campaign_first:%d/%m/%Y} – {d.campaign_last:%d/%m/%Y}"),
        ("Định mức của quận (lượt/ngày)", d.district_quota),
        ("Số đơn vị", d.units),
        ("Đơn vị đạt mọi ngày", d.units_compliant_every_day),
        ("Đơn vị đạt bình quân", d.units_meeting_average),
        ("Đơn vị-ngày làm việc", d.unit_days),
        ("Đơn vị-ngày đạt", d.unit_days_compliant),
        ("Tổng lượt phát được tính", d.plays),
        ("Bình quân lượt phát/thiết bị/ngày (toàn quận)", d.average_per_device_day),
        ("Ngày nghỉ không tính (cuối tuần, lễ, nghỉ)", d.closed_days_skipped),
    ]


def formula_safe(value):
    """A CSV cell's value that no spreadsheet reads as a formula (text only; numbers stay numbers)."""
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value


def csv_row(values) -> list:
    return [formula_safe(v) for v in values]


def append_row(ws, values) -> None:
    """``ws.append`` where text that looks like a formula stays text (openpyxl would store
    ``=...`` as a formula)."""
    ws.append(list(values))
    for cell in ws[ws.max_row]:
        if isinstance(cell.value, str) and cell.value.startswith(FORMULA_START):
            cell.data_type = "s"
            cell.quotePrefix = True


def _text(value, kind: str) -> str:
    if value is None:
        return "—"
    if kind == "date":
        return f"{value:%d/%m/%Y}"
    if kind == "datetime":
        return f"{value:%d/%m/%Y %H:%M}"
    if kind == "bool":
        return "có" if value else "không"
    if kind == "pct":
        return f"{value:.0%}"
    if kind == "float":
        return f"{value:.1f}"
    if kind == "list":
        return ", ".join(value) if value else ""
    return str(value)


def grid(columns, rows) -> str:
    cells = [[h for h, _, _ in columns]] + [[_text(r[k], kind) for _, k, kind in columns] for r in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(columns))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def titles(report: Report) -> list[str]:
    """The report's title lines: the campaign, its directive, the period."""
    c, d = report.campaign, report.district
    lines = [f"BÁO CÁO KẾT QUẢ PHÁT: {c.title.upper()} (mã chiến dịch {c.id})"]
    lines.append(f"Thực hiện văn bản số {c.directive.number} ngày {c.directive.date:%d/%m/%Y} "
                 f"của {c.directive.issuer}")
    lines.append(f"Kỳ báo cáo: {d.first:%d/%m/%Y} – {d.last:%d/%m/%Y}; thời gian chiến dịch: "
                 f"{d.campaign_first:%d/%m/%Y} – {d.campaign_last:%d/%m/%Y}")
    return lines


def footnotes(report: Report) -> list[str]:
    notes = [f"{n.device} ({n.unit}): {'; '.join(n.problems)}" for n in report.devices if n.problems]
    notes += [f"{unit}: {n} lượt phát ghi chiến dịch {report.campaign.id}, chiến dịch này không áp dụng cho đơn vị "
              "(đã lưu, không tính)" for unit, n in sorted(report.untargeted.items())]
    if report.quarantine:
        notes.append("Tin nhắn bị cách ly (không tính): " +
                     ", ".join(f"{reason}: {n}" for reason, n in sorted(report.quarantine.items())))
    return notes


def render_table(report: Report) -> str:
    day_cols = [c for c in DAY_COLUMNS if c[1] not in ("unit", "kind")]
    parts = [*titles(report), "", grid(day_cols, day_rows(report)), "",
             "Theo đơn vị", grid(UNIT_COLUMNS, unit_rows(report)), "", "Toàn quận"]
    parts += [f"  {k}: {_text(v, 'float' if isinstance(v, float) else 'text')}" for k, v in district_rows(report)]
    notes = footnotes(report)
    if notes:
        parts += ["", "Ghi chú"] + [f"  {i}. {n}" for i, n in enumerate(notes, 1)]
    return "\n".join(parts) + "\n"


ACROSS_COLUMNS = [("Mã đơn vị", "unit", "text"), ("Đơn vị", "name", "text"), ("Loại", "kind", "text")]


def across_rows(summary: Across) -> tuple[list, list[dict]]:
    """The summary as columns and rows: one column per campaign, then whether the unit complies with all."""
    columns = ACROSS_COLUMNS + [(f"Đạt {c}", c, "bool") for c in summary.campaigns] + [
        ("Đạt mọi văn bản", "all", "bool")]
    rows = [{"unit": u.unit, "name": u.name, "kind": u.kind, **{c: u.verdicts.get(c) for c in summary.campaigns},
             "all": u.complies_with_all} for u in summary.units]
    return columns, rows


def across_title(summary: Across) -> str:
    return (f"TỔNG HỢP CÁC CHIẾN DỊCH ({', '.join(summary.campaigns)}): {summary.complying}/{len(summary.units)} "
            "đơn vị đạt mọi văn bản (bình quân lượt phát/thiết bị/ngày đạt định mức của từng chiến dịch)")


def unknown_note(summary: Across | None) -> str | None:
    """Plays naming campaigns the store does not have: kept, counted for none, said."""
    if summary is None or not summary.unknown:
        return None
    return ("Lượt phát ghi chiến dịch không có trong danh sách (đã lưu, không tính): "
            + ", ".join(f"{c}: {n}" for c, n in sorted(summary.unknown.items())))


def render_tables(reports: list[Report], summary: Across | None = None) -> str:
    parts = [render_table(r) for r in reports]
    if summary is not None and len(reports) > 1:
        columns, rows = across_rows(summary)
        parts.append(across_title(summary) + "\n" + grid(columns, rows) + "\n")
    if unknown_note(summary):
        parts.append(unknown_note(summary) + "\n")
    return "\n".join(parts)


def render_csv(report: Report) -> bytes:
    buf = io.StringIO()
    _csv_section(csv.writer(buf), report)
    return buf.getvalue().encode("utf-8-sig")


def render_csvs(reports: list[Report], summary: Across | None = None) -> bytes:
    buf = io.StringIO()
    writer = csv.writer(buf)
    for i, report in enumerate(reports):
        if i:
            writer.writerow([])
        _csv_section(writer, report)
    if summary is not None and len(reports) > 1:
        columns, rows = across_rows(summary)
        writer.writerows([[], [across_title(summary)], [h for h, _, _ in columns]])
        for r in rows:
            writer.writerow(csv_row("" if r[k] is None else (int(r[k]) if kind == "bool" else r[k])
                                    for _, k, kind in columns))
        if unknown_note(summary):
            writer.writerows([[], csv_row([unknown_note(summary)])])
    return buf.getvalue().encode("utf-8-sig")


def _csv_section(writer, report: Report) -> None:
    """The title lines, then the header and one row per unit and day."""
    for line in titles(report):
        writer.writerow(csv_row([line]))
    writer.writerow([h for h, _, _ in DAY_COLUMNS])
    for r in day_rows(report):
        writer.writerow(csv_row(r[k].isoformat() if kind == "date" else
                                ("" if r[k] is None else (";".join(r[k]) if kind == "list" else
                                                          (int(r[k]) if kind == "bool" else
                                                           (round(r[k], 4) if kind == "pct" else r[k]))))
                                for _, k, kind in DAY_COLUMNS))


def _json_default(value):
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON")


def _json_data(report: Report) -> dict:
    return {"generated_at": report.generated_at, "campaign": report.campaign.model_dump(mode="json"),
            "title": titles(report), "district": asdict(report.district),
            "units": unit_rows(report), "days": [asdict(d) for d in report.days],
            "devices": [asdict(n) for n in report.devices], "quarantine": report.quarantine,
            "untargeted": report.untargeted, "footnotes": footnotes(report)}


def render_json(report: Report) -> bytes:
    return render_json_with(report, {})


def render_json_with(report: Report, extra: dict) -> bytes:
    return json.dumps(_json_data(report) | extra, ensure_ascii=False, indent=2, default=_json_default).encode("utf-8")


def render_jsons(reports: list[Report], summary: Across | None = None) -> bytes:
    """One campaign: its report as ``render_json``; several: ``{"campaigns": [...], "across": [...]}``."""
    if len(reports) == 1 and not (summary and summary.unknown):
        return render_json(reports[0])
    if len(reports) == 1:
        return render_json_with(reports[0], {"unknown_campaigns": summary.unknown})
    data = {"campaigns": [_json_data(r) for r in reports],
            "across": across_rows(summary)[1] if summary is not None else [],
            "unknown_campaigns": summary.unknown if summary is not None else {}}
    return json.dumps(data, ensure_ascii=False, indent=2, default=_json_default).encode("utf-8")


def write_sheet(ws, columns, rows, tz) -> None:
    """One typed sheet: bold headers, dates as dates (local, without zone), numbers as numbers."""
    from openpyxl.styles import Font
    from openpyxl.utils import get_column_letter

    ws.append([h for h, _, _ in columns])
    for cell in ws[1]:
        cell.font = Font(bold=True)
    for r in rows:
        values = []
        for _, k, kind in columns:
            v = r[k]
            if kind == "list":
                v = ", ".join(v) if v else None
            elif kind == "datetime" and v is not None:
                v = v.astimezone(tz).replace(tzinfo=None)  # spreadsheets have no zones
            values.append(v)
        append_row(ws, values)
    for i, (header, _, kind) in enumerate(columns, 1):
        letter = get_column_letter(i)
        fmt = {"date": "dd/mm/yyyy", "datetime": "dd/mm/yyyy hh:mm", "pct": "0%", "float": "0.0",
               "int": "0"}.get(kind)
        if fmt:
            for cell in ws[letter][1:]:
                cell.number_format = fmt
        ws.column_dimensions[letter].width = max(10, min(45, len(header) + 2))
    ws.freeze_panes = "A2"
    ws.auto_filter.ref = ws.dimensions


def render_xlsx(report: Report, path: Path) -> None:
    render_xlsxs([report], None, path)


def render_xlsxs(reports: list[Report], summary: Across | None, path: Path) -> None:
    """A cover sheet ("Báo cáo": each campaign's title, and the summary across several), then per
    campaign its sheets (numbered " (2)", " (3)"... after the first)."""
    from openpyxl import Workbook
    from openpyxl.styles import Font

    wb = Workbook()
    cover = wb.active
    cover.title = "Báo cáo"
    for i, report in enumerate(reports):
        for j, line in enumerate(titles(report)):
            append_row(cover, [line])
            if j == 0:
                cover[cover.max_row][0].font = Font(bold=True)
        cover.append([])
    if summary is not None and len(reports) > 1:
        append_row(cover, [across_title(summary)])
        cover[cover.max_row][0].font = Font(bold=True)
        columns, rows = across_rows(summary)
        append_row(cover, [h for h, _, _ in columns])
        for r in rows:
            append_row(cover, [r[k] for _, k, _ in columns])
        if unknown_note(summary):
            append_row(cover, [unknown_note(summary)])
    cover.column_dimensions["A"].width = 30
    wb.properties.title = titles(reports[0])[0] if reports else "Báo cáo"
    for i, report in enumerate(reports):
        _report_sheets(wb, report, "" if i == 0 else f" ({i + 1})")
    wb.save(path)


def _report_sheets(wb, report: Report, suffix: str) -> None:
    tz = report.generated_at.tzinfo

    def sheet(ws, columns, rows):
        write_sheet(ws, columns, rows, tz)

    sheet(wb.create_sheet("Theo ngày" + suffix), DAY_COLUMNS, day_rows(report))
    sheet(wb.create_sheet("Theo đơn vị" + suffix), UNIT_COLUMNS, unit_rows(report))
    ws = wb.create_sheet("Toàn quận" + suffix)
    for line in titles(report):
        append_row(ws, [line])
    for k, v in district_rows(report):
        append_row(ws, [k, v])
    ws.column_dimensions["A"].width = 50
    ws.column_dimensions["B"].width = 25
    sheet(wb.create_sheet("Thiết bị" + suffix), DEVICE_COLUMNS, device_rows(report.devices, tz))
    ws = wb.create_sheet("Ghi chú" + suffix)
    for n in footnotes(report) or ["Không có ghi chú."]:
        append_row(ws, [n])
    ws.column_dimensions["A"].width = 100


def write(reports: Report | list[Report], fmt: str, out: Path | None, summary: Across | None = None) -> bytes | None:
    """Render ``reports`` (one campaign's, or several with their ``summary``); to ``out`` when given
    (xlsx needs a file), else return the bytes."""
    reports = [reports] if isinstance(reports, Report) else list(reports)
    if fmt == "xlsx":
        if out is None:
            raise ValueError("--format xlsx needs --out FILE.xlsx")
        render_xlsxs(reports, summary, out)
        return None
    data = {"table": lambda r, s: render_tables(r, s).encode("utf-8"), "csv": render_csvs,
            "json": render_jsons}[fmt](reports, summary)
    if out is not None:
        out.write_bytes(data)
        return None
    return data
