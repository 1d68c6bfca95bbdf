"""Web dashboard: compliance per unit and day, a unit's charts, the fleet, CSV/XLSX exports and /metrics."""

from broker.web import add_arguments, serve as run  # noqa: F401
