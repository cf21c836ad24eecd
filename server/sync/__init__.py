"""Sync on the server: the change feed (pull), applying mutations (push), review of captures.

Importing this package installs the change-capture session hooks (:mod:`server.sync.changes`),
so every process that loads the models — the app, the command line, the tests — feeds devices.
"""

from server.sync.changes import install as _install

_install()
