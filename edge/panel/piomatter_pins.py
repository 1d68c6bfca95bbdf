"""Adafruit Piomatter's pinouts (Pi 5) and which panel profiles it can drive as written.

Taken from the package's ``src/include/piomatter/pins.h``. Piomatter initialises every colour
pin of its pinout whatever the number of chains, and the address lines the panels need
(A..E: 5 for 64-row panels): with ``Active3`` and 64-row panels that is every GPIO 2..27.
A profile maps onto a pinout by its hardware mapping and colour order.
"""

from __future__ import annotations

PINOUTS: dict[str, dict[str, tuple[int, ...]]] = {
    "AdafruitMatrixBonnet": {
        "rgb": (5, 13, 6, 12, 16, 23), "addr": (22, 26, 27, 20, 24), "oe": (4,), "clk": (17,), "lat": (21,),
    },
    "AdafruitMatrixBonnetBGR": {
        "rgb": (6, 13, 5, 23, 16, 12), "addr": (22, 26, 27, 20, 24), "oe": (4,), "clk": (17,), "lat": (21,),
    },
    "Active3": {
        "rgb": (7, 27, 11, 10, 9, 8, 6, 5, 12, 20, 13, 19, 3, 2, 14, 21, 16, 26),
        "addr": (22, 23, 24, 25, 15), "oe": (18,), "clk": (17,), "lat": (4,),
    },
    "Active3BGR": {
        "rgb": (11, 27, 7, 8, 9, 10, 12, 5, 6, 19, 13, 20, 14, 2, 3, 26, 16, 21),
        "addr": (22, 23, 24, 25, 15), "oe": (18,), "clk": (17,), "lat": (4,),
    },
}
# hardware_mapping of a profile -> the pinout of the same wiring (RGB order; BGR below).
BY_MAPPING = {"regular": "Active3", "adafruit-hat": "AdafruitMatrixBonnet", "adafruit-hat-pwm": "AdafruitMatrixBonnet"}
MAX_PLANES = 10          # Piomatter's colour depth (n_planes); rpi-rgb-led-matrix's pwm_bits go to 11
PIOMATTER_TIMING = 130   # ns; Piomatter's timing is its own: pwm_lsb_nanoseconds must be the default


def pinout_for(profile) -> str | None:
    base = BY_MAPPING.get(profile.hardware_mapping)
    if base is None or profile.led_rgb_sequence not in ("RGB", "BGR"):
        return None
    return base + ("BGR" if profile.led_rgb_sequence == "BGR" else "")


def address_lines(rows: int) -> int:
    """Address lines of a panel with ``rows`` rows: two rows are lit per address (16 -> 3, 64 -> 5)."""
    return (rows // 2).bit_length() - 1


def unsupported_fields(profile) -> list[str]:
    """What in ``profile`` Piomatter cannot do as written (an empty list when it can drive it)."""
    out = []
    if profile.hardware_mapping not in BY_MAPPING:
        out.append(f"hardware_mapping = {profile.hardware_mapping!r}: Piomatter has pinouts for "
                   f"{', '.join(BY_MAPPING)} only")
    if profile.led_rgb_sequence not in ("RGB", "BGR"):
        out.append(f"led_rgb_sequence = {profile.led_rgb_sequence!r}: Piomatter has RGB and BGR pinouts only")
    if profile.parallel != 1:
        out.append(f"parallel = {profile.parallel}: this output drives one chain with Piomatter; use the "
                   f"rgbmatrix output (its Pi 5 backend drives parallel chains)")
    for field, default in (("scan_mode", 0), ("multiplexing", 0), ("row_address_type", 0), ("panel_type", ""),
                           ("pwm_dither_bits", 0), ("pwm_lsb_nanoseconds", PIOMATTER_TIMING)):
        value = getattr(profile, field)
        if value != default:
            out.append(f"{field} = {value!r}: Piomatter has no such setting (only {default!r}); use the rgbmatrix output")
    return out


def pins_in_use(profile) -> dict[int, str]:
    """GPIO -> what drives it, for the pinout ``profile`` maps to (empty when it maps to none)."""
    name = pinout_for(profile)
    if name is None:
        return {}
    table = PINOUTS[name]
    used: dict[int, str] = {}
    for signal, pins in table.items():
        if signal == "addr":
            pins = pins[:address_lines(profile.rows)]
        for pin in pins:
            used[pin] = f"{signal.upper()} of Piomatter pinout '{name}'"
    if profile.hardware_mapping == "adafruit-hat-pwm":
        used[18] = "bridged to OE (GPIO 4) by the HAT's PWM mod"
    return used
