"""The contract the lobby agent and the central server share; it imports neither of them.

- ``protocol``  MQTT topics and every message, one definition for both sides
- ``registry``  the units registry (``units.toml``, shipped here): units, hours, quota, devices
- ``hours``     opening hours per weekday; ``opendays`` holidays and open days
- ``timeofday`` seconds and slots of the day, the one place that does that arithmetic
- ``clock``     the one clock interface (real and simulated) and clock-sync detection
- ``errors``    the one exception tree (a leaf module: it imports nothing)
- ``tomlconf``  reading TOML into validated models with messages that name file, key and value
- ``verbs``     the shape both command lines share
"""
