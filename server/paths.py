"""A guard for the routes that serve files by path (the field app, the console's static files).

A path with a NUL byte, or longer than any file they serve, names no file; asking the file
system anyway raises (``ValueError: embedded null byte``, ``OSError: File name too long``) and
the client would see a 500. Such a path is a plain 404 before the file system is asked.
"""

from __future__ import annotations

from typing import Any

from server.errors import NotFound

__all__ = ["MAX_FILE_PATH", "plain_file_path"]

#: Longer than any file path the app serves, shorter than the file system's name limit.
MAX_FILE_PATH = 200


def plain_file_path(connection: Any, _handler: Any) -> None:
    """Litestar guard: 404 for a path no file system accepts (see the module docstring)."""
    path: str = connection.scope["path"]
    if "\x00" in path or len(path) > MAX_FILE_PATH:
        raise NotFound(f"{path[:40]}…: no such file")
