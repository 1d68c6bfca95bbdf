"""Signed content updates: bundles built and signed by a technician, verified and installed by the boards.

- ``keys``: Ed25519 key pairs (the technician's private key, the devices' trusted public keys)
- ``manifest``: the signed bundle manifest and the retained ``content`` command
- ``bundle``: build a bundle from a pack; open and check one as a device does
- ``fetch``: resumable HTTP(S) download, checked against the announced size and SHA-256
- ``store`` + ``installer``: the crash-safe content store on the device and the install steps
- ``service``: runs the installer on its own thread for the MQTT commands
- ``cli``: ``ihanoi-content keygen | build | verify | push | serve``
See docs/updates.md.
"""
