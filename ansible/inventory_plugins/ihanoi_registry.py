"""Ansible inventory from the units registry (ihanoi/contract/units.toml): one host per lobby device.

The registry is the one list of units and devices; the collector, the agent's config check
and the broker's ACL and password file all read it, so the inventory is derived from it
rather than kept beside it. A device added to the registry is a host here on the next run.

Groups: ``signage`` (every device), one per unit kind (``ward``, ``department``, ``health``,
``education``, ``organisation``), one per unit (``unit_<id>`` with '-' as '_') and one per
screen kind (``screen_led``, ``screen_lcd``).
Host variables: ``ihanoi_device``, ``ihanoi_unit``, ``ihanoi_unit_kind``, ``ihanoi_unit_name``,
``ihanoi_location``, ``ihanoi_screen`` (led | lcd) and, when the registry names one, ``ihanoi_panel_profile``. How to reach
the Pi and its wiring (``ansible_host``, ``ihanoi_pir_pin``, ...) live in ``host_vars/<device>.yml``.
"""

from __future__ import annotations

import os
import re
import tomllib

from ansible.errors import AnsibleParserError
from ansible.plugins.inventory import BaseInventoryPlugin

DOCUMENTATION = r"""
name: ihanoi_registry
short_description: hosts and groups from the iHanoi units registry
description:
  - Reads the units registry (TOML) and yields one host per device, grouped by unit and unit kind.
options:
  plugin:
    description: Marks this file as this plugin's configuration.
    required: true
    choices: ['ihanoi_registry']
  registry:
    description:
      - Path of the units registry, relative to this configuration file when not absolute.
      - The environment variable IHANOI_REGISTRY overrides it, as it does for every other part.
    type: path
    default: ../ihanoi/contract/units.toml
  group:
    description: Name of the group holding every device.
    type: str
    default: signage
  reserved_users:
    description: MQTT user names of services; a device may not take one of them.
    type: list
    elements: str
    default: [collector, dashboard, technician, admin]
"""

ID = re.compile(r"^[a-z0-9][a-z0-9-]{1,62}$")
KINDS = ("ward", "department", "health", "education", "organisation")
SCREENS = ("led", "lcd")


class InventoryModule(BaseInventoryPlugin):
    NAME = "ihanoi_registry"

    def verify_file(self, path):
        return super().verify_file(path) and os.path.basename(path) in ("registry.yml", "registry.yaml")

    def parse(self, inventory, loader, path, cache=True):
        super().parse(inventory, loader, path, cache)
        self._read_config_data(path)
        registry = os.environ.get("IHANOI_REGISTRY") or self.get_option("registry")
        if not os.path.isabs(registry):
            registry = os.path.normpath(os.path.join(os.path.dirname(path), registry))
        units = self._units(registry)
        top = self.get_option("group")
        reserved = set(self.get_option("reserved_users"))
        self.inventory.add_group(top)
        for kind in KINDS:
            self.inventory.add_group(kind)
            self.inventory.add_child(top, kind)
        for screen in SCREENS:
            self.inventory.add_group(f"screen_{screen}")
        seen: dict[str, str] = {}
        for i, unit in enumerate(units):
            where = f"{registry}: units[{i}]"
            unit_id = unit.get("id", "")
            if not ID.match(str(unit_id)):
                raise AnsibleParserError(f"{where}.id = {unit_id!r}: lower-case letters, digits and '-' (2-63)")
            kind = unit.get("kind")
            if kind not in KINDS:
                raise AnsibleParserError(f"{where}.kind = {kind!r}; allowed: {', '.join(KINDS)}")
            group = "unit_" + unit_id.replace("-", "_")
            self.inventory.add_group(group)
            self.inventory.add_child(kind, group)
            self.inventory.set_variable(group, "ihanoi_unit", unit_id)
            for j, device in enumerate(unit.get("devices", [])):
                device_id = device.get("id", "")
                if not ID.match(str(device_id)):
                    raise AnsibleParserError(f"{where}.devices[{j}].id = {device_id!r}: "
                                             "lower-case letters, digits and '-' (2-63)")
                if device_id in seen:
                    raise AnsibleParserError(f"{where}.devices[{j}].id: device {device_id!r} is also listed "
                                             f"under unit {seen[device_id]!r}; a device belongs to one unit")
                if device_id in reserved:
                    raise AnsibleParserError(f"{where}.devices[{j}].id: {device_id!r} is the MQTT user of a "
                                             "service; pick another device id")
                screen = device.get("screen", "led")
                if screen not in SCREENS:
                    raise AnsibleParserError(f"{where}.devices[{j}].screen = {screen!r}; allowed: {', '.join(SCREENS)}")
                seen[device_id] = unit_id
                self.inventory.add_host(device_id, group=group)
                self.inventory.add_host(device_id, group=f"screen_{screen}")
                host_vars = {
                    "ihanoi_device": device_id,
                    "ihanoi_unit": unit_id,
                    "ihanoi_unit_kind": kind,
                    "ihanoi_unit_name": unit.get("name", unit_id),
                    "ihanoi_location": device.get("location", ""),
                    "ihanoi_screen": screen,
                }
                if device.get("panel"):
                    host_vars["ihanoi_panel_profile"] = device["panel"]
                for key, value in host_vars.items():
                    self.inventory.set_variable(device_id, key, value)

    @staticmethod
    def _units(registry: str) -> list[dict]:
        try:
            with open(registry, "rb") as fh:
                data = tomllib.load(fh)
        except FileNotFoundError:
            raise AnsibleParserError(f"units registry {registry} does not exist; set 'registry' in the "
                                     "inventory's registry.yml or IHANOI_REGISTRY") from None
        except tomllib.TOMLDecodeError as exc:
            raise AnsibleParserError(f"units registry {registry} is not valid TOML: {exc}") from None
        units = data.get("units")
        if not isinstance(units, list) or not units:
            raise AnsibleParserError(f"units registry {registry} has no [[units]]")
        return units
