"""How the dashboard writes dates, numbers and states for Vietnamese readers (pure).

Dates are dd/mm/yyyy, times 24-hour in the campaign's zone, thousands are grouped with a
dot and decimals follow a comma (1.234,5), as on the district's own reports.
"""

from __future__ import annotations

from datetime import date, datetime, tzinfo

WEEKDAYS_VI = ("Thứ Hai", "Thứ Ba", "Thứ Tư", "Thứ Năm", "Thứ Sáu", "Thứ Bảy", "Chủ Nhật")


def number(value: float | int | None, decimals: int = 0) -> str:
    """1234.5 -> '1.234,5'; None -> '—'."""
    if value is None:
        return "—"
    text = f"{value:,.{decimals}f}"
    return text.replace(",", "\x00").replace(".", ",").replace("\x00", ".")


def percent(share: float | None, decimals: int = 0) -> str:
    """0.625 -> '62,5 %' with decimals=1 (Vietnamese puts a space before the sign)."""
    if share is None:
        return "—"
    return f"{number(share * 100, decimals)} %"


def day(value: date | None) -> str:
    return "—" if value is None else value.strftime("%d/%m/%Y")


def weekday_day(value: date) -> str:
    return f"{WEEKDAYS_VI[value.weekday()]}, {day(value)}"


def moment(value: datetime | None, tz: tzinfo) -> str:
    """An aware time as 'HH:MM dd/mm/yyyy' in the campaign's zone."""
    if value is None:
        return "—"
    return value.astimezone(tz).strftime("%H:%M %d/%m/%Y")


def parse_day(text: str) -> date:
    """Accepts what the page's date inputs send (yyyy-mm-dd) and what people type (dd/mm/yyyy)."""
    text = text.strip()
    if "/" in text:
        d, m, y = text.split("/")
        return date(int(y), int(m), int(d))
    return date.fromisoformat(text)


def duration(seconds: float | None) -> str:
    """How long ago, in words: '3 ngày 4 giờ', '25 phút'."""
    if seconds is None:
        return "—"
    minutes = int(seconds // 60)
    days, rest = divmod(minutes, 24 * 60)
    hours, minutes = divmod(rest, 60)
    if days:
        return f"{days} ngày {hours} giờ"
    if hours:
        return f"{hours} giờ {minutes} phút"
    return f"{minutes} phút"
