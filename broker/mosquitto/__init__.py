"""Mosquitto's configuration as the project ships it, read as package resources.

- ``mosquitto.conf``: a plain local broker for trying things on a PC (no TLS, anonymous);
- ``conf.d/ihanoi-queues.conf``: the production drop-in that keeps the collectors' backlog
  (the server's role installs it; the demo and the tests include it).
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

FOLDER = Path(str(files(__package__)))
LOCAL_CONF = FOLDER / "mosquitto.conf"
CONF_D = FOLDER / "conf.d"
QUEUES_CONF = CONF_D / "ihanoi-queues.conf"

__all__ = ["CONF_D", "LOCAL_CONF", "QUEUES_CONF"]
