"""Tools over the whole system, allowed to import both ``edge`` and ``broker``.

- ``demo``             a simulated district on one machine (``make demo``)
- ``tracegen``         generated lobby traffic (PIR onsets) for simulations, tests and benchmarks
- ``sample_district``  a database of plausible plays for trying the dashboard
- ``content``          ``ihanoi-content``: keys, signed bundles, push, the bundle server
- ``net``              free ports and waiting for them (the demo and the tests)
"""
