"""``dark``: what the agent runs with when its board cannot be driven.

Nothing reaches a board: ``fault`` says why (the panel error that kept the real output from
opening), so health, state and the dashboard can show the board as dark and plays made on it
are not counted. Frames are still taken (and copied, so the timing matches a real board) and
``snapshot`` is black. Not an output one configures: ``open_panel_or_dark`` falls back to it.
"""

from __future__ import annotations

from edge.panel.base import Panel


class DarkPanel(Panel):
    output = "dark"

    def __init__(self, profile, fault: str, wanted: str = "", **_opts):
        super().__init__(profile.width, profile.height, profile.brightness)
        self.fault = fault
        self.wanted = wanted   # the output that could not be opened
