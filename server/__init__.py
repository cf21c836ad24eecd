"""The recheck Litestar application: settings, database, one sub-package per domain area."""
