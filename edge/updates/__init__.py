"""Signed content updates: bundles built and signed by a technician, verified and installed by the boards.

- ``keys``: Ed25519 key pairs (the technician's private key, the devices' trusted public keys)
- ``manifest``: the signed bundle manifest and the retained ``content`` command
- ``bundle``: build a bundle from a pack; open and check one as a device does
- ``fetch``: resumable HTTP(S) download, checked against the announced size and SHA-256
- ``store`` + ``slot``: the crash-safe store of one bundle name on the device and its install steps
- ``installer``: the board's installed bundles, one per bundle name (the promo's, each campaign's)
- ``service``: runs the installer on its own thread for the MQTT commands
- ``cli``: ``ihanoi-content keygen | build | verify | push | serve``
See docs/updates.md.
"""
