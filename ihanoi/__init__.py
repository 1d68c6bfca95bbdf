"""iHanoi signage: what is neither the lobby agent (``edge``) nor the central server (``broker``).

- ``ihanoi.contract`` — the contract both sides speak: the wire protocol, the units registry,
  opening hours and open days, time of day, the clock, the one error tree, config reading and
  the shape of the command lines. ``edge`` and ``broker`` import it and never each other.
- ``ihanoi.tools`` — whole-system tools that may import both sides: the simulated district
  (``python -m ihanoi.tools.demo``), the lobby-traffic generator, the sample district for the
  dashboard, and the technicians' content command ``ihanoi-content``.

The layers are a rule checked in the test run (``tests/test_layers.py``, import-linter).
"""
