"""The sync protocol, free of any web framework.

- :mod:`sync.codec` — encoders and decoders (JSON, MessagePack) and per-mutation decoding with paths.
- :mod:`sync.cursor` — signed, device-bound feed cursors.
- :mod:`sync.digest` — the state-check digest of what a device holds.
- :mod:`sync.merge` — the written per-field merge rules and the three-way field merge.
- :mod:`sync.validate` — cross-field checks of a capture against the household it describes.
- :mod:`sync.reference` — the code lists devices download.
- :mod:`sync.client` — the reference offline client.

The server adapts these in :mod:`server.sync`.
"""
