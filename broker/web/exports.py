"""The dashboard's tables as files: compliance by the report's own renderers, the fleet here.

Every cell goes through the report's formula rule (``render.csv_row``, ``render.write_sheet``):
a board's version string is text in the spreadsheet, never a formula."""

from __future__ import annotations

import csv
import io
import tempfile
from pathlib import Path

from broker.report import render
from broker.report.compliance import Report
from ihanoi.contract.registry import SCREEN_LABELS_VI

FLEET_EXTRA = [("Đơn vị", "unit_name", "text"), ("Vị trí", "location", "text"),
               ("Phiên bản phần mềm", "software_version", "text"), ("Nhiệt độ CPU (°C)", "cpu_temp_c", "float")]
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
CSV = "text/csv; charset=utf-8"


def compliance_csv(report: Report) -> bytes:
    return render.render_csv(report)


def compliance_xlsx(report: Report) -> bytes:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "report.xlsx"
        render.render_xlsx(report, path)
        return path.read_bytes()


def _fleet_records(rows, tz) -> tuple[list, list[dict]]:
    columns = render.DEVICE_COLUMNS[:3] + FLEET_EXTRA + render.DEVICE_COLUMNS[3:]
    records = []
    for r in rows:
        rec = {"device": r.note.device, "unit": r.note.unit,
               "screen": SCREEN_LABELS_VI.get(r.note.screen, r.note.screen),
               "unit_name": r.unit_name, "location": r.location,
               "software_version": r.software_version, "cpu_temp_c": r.cpu_temp_c,
               "state": render.STATE_VI.get(r.note.state, r.note.state),
               "last_seen": r.note.last_seen.astimezone(tz) if r.note.last_seen else None,
               "content_version": r.note.content_version, "outbox_depth": r.note.outbox_depth,
               "clock_synced": r.note.clock_synced, "problems": r.note.problems}
        records.append(rec)
    return columns, records


def fleet_csv(rows, tz) -> bytes:
    columns, records = _fleet_records(rows, tz)
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow([h for h, _, _ in columns])
    for rec in records:
        out = []
        for _, k, kind in columns:
            v = rec[k]
            if v is None:
                v = ""
            elif kind == "list":
                v = ";".join(v)
            elif kind == "bool":
                v = int(v)
            elif kind == "datetime":
                v = v.isoformat()
            out.append(v)
        w.writerow(render.csv_row(out))
    return buf.getvalue().encode("utf-8-sig")


def fleet_xlsx(rows, tz) -> bytes:
    from openpyxl import Workbook

    columns, records = _fleet_records(rows, tz)
    wb = Workbook()
    ws = wb.active
    ws.title = "Thiết bị"
    render.write_sheet(ws, columns, records, tz)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()
