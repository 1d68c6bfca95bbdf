"""Which Raspberry Pi GPIOs each HUB75 hardware mapping of rpi-rgb-led-matrix drives.

Taken from the library's ``lib/hardware-mapping.c``; the PIR sensor (and anything else we
wire) must avoid these pins, or the board flickers and the sensor reads garbage.
``board_pins`` answers for either Pi library: Piomatter's pinouts are in ``piomatter_pins``.
"""

from __future__ import annotations

# name -> signal -> BCM GPIO (tuples where a mapping drives two pins for one signal)
MAPPINGS: dict[str, dict[str, tuple[int, ...]]] = {
    "regular": {
        "oe": (18,), "clk": (17,), "lat": (4,),
        "a": (22,), "b": (23,), "c": (24,), "d": (25,), "e": (15,),
        "p0": (11, 27, 7, 8, 9, 10),
        "p1": (12, 5, 6, 19, 13, 20),
        "p2": (14, 2, 3, 26, 16, 21),
    },
    "adafruit-hat": {
        "oe": (4,), "clk": (17,), "lat": (21,),
        "a": (22,), "b": (26,), "c": (27,), "d": (20,), "e": (24,),
        "p0": (5, 13, 6, 12, 16, 23),
    },
    "adafruit-hat-pwm": {
        "oe": (18,), "clk": (17,), "lat": (21,),
        "a": (22,), "b": (26,), "c": (27,), "d": (20,), "e": (24,),
        "p0": (5, 13, 6, 12, 16, 23),
    },
    "regular-pi1": {
        "oe": (18,), "clk": (17,), "lat": (4,),
        "a": (22,), "b": (23,), "c": (24,), "d": (25,), "e": (15,),
        "p0": (11, 21, 27, 7, 8, 9, 10),
    },
    "classic": {
        "oe": (27,), "clk": (11,), "lat": (4,),
        "a": (7,), "b": (8,), "c": (9,), "d": (10,),
        "p0": (17, 18, 22, 23, 24, 25),
        "p1": (12, 5, 6, 19, 13, 20),
        "p2": (14, 2, 3, 15, 26, 21),
    },
    "classic-pi1": {
        "oe": (0, 2), "clk": (1, 3), "lat": (4,),
        "a": (7,), "b": (8,), "c": (9,), "d": (10,),
        "p0": (17, 18, 22, 23, 24, 25),
    },
}

# Pins a PIR may use at all: BCM 2..27 on the 40-pin header.
HEADER_GPIOS = range(2, 28)


def max_parallel(mapping: str) -> int:
    return sum(1 for key in MAPPINGS[mapping] if key.startswith("p"))


# Pins a mapping claims beyond its signals: the Adafruit HAT's PWM mod solders GPIO 4 (the
# old OE) to GPIO 18; the library keeps GPIO 4 an input, and anything else wired to it would
# drive OE (lib/gpio.cc, InitOutputs).
RESERVED: dict[str, dict[int, str]] = {
    "adafruit-hat-pwm": {4: "bridged to OE (GPIO 18) by the PWM mod of hardware mapping 'adafruit-hat-pwm'"},
}


def pins_in_use(mapping: str, rows: int, parallel: int = 1) -> dict[int, str]:
    """GPIO -> signal name for a board of ``rows`` pixel rows per panel.

    Address line E is only driven for 1:32 scan panels (64 rows); the parallel chains'
    colour pins only when that many chains are used.
    """
    table = MAPPINGS[mapping]
    used: dict[int, str] = {}
    for signal, pins in table.items():
        if signal == "e" and rows < 64:
            continue
        if signal.startswith("p") and int(signal[1:]) >= parallel:
            continue
        for pin in pins:
            used[pin] = f"{signal.upper()} of hardware mapping '{mapping}'"
    for pin, why in RESERVED.get(mapping, {}).items():
        used.setdefault(pin, why)
    return used


def board_pins(output: str, profile) -> dict[int, str]:
    """The GPIOs the board of ``profile`` takes when driven by ``output`` (Piomatter has its
    own pinouts; every other output stands for hzeller's library and its mapping)."""
    if output == "piomatter":
        from edge.panel.piomatter_pins import pins_in_use as piomatter_pins

        return piomatter_pins(profile)
    return pins_in_use(profile.hardware_mapping, profile.rows, profile.parallel)
