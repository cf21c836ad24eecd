"""Liveness (``/health``) and readiness (``/ready``: database and media store reachable)."""

from __future__ import annotations

import anyio
from litestar import Response, get
from litestar.datastructures import State
from sqlalchemy import text

from schemas.base import Struct
from server.auth.guards import PUBLIC

__all__ = ["Readiness", "health", "ready"]


class Readiness(Struct):
    status: str
    database: str
    media: str


@get("/health", opt=PUBLIC, operation_id="health", tags=["operations"])
async def health() -> dict[str, str]:
    """The process is up."""
    return {"status": "ok"}


@get("/ready", opt=PUBLIC, operation_id="ready", tags=["operations"])
async def ready(state: State) -> Response[Readiness]:
    """Both the database and the media store answer; 503 naming the one that does not."""
    database = media = "ok"
    try:
        async with state.engine.connect() as connection:
            await connection.execute(text("SELECT 1"))
    except Exception as exc:  # any failure means not ready; the reason is reported
        database = f"error: {type(exc).__name__}"
    try:
        await anyio.to_thread.run_sync(state.media_check)
    except Exception as exc:
        media = f"error: {type(exc).__name__}"
    ok = database == media == "ok"
    body = Readiness(status="ok" if ok else "unavailable", database=database, media=media)
    return Response(body, status_code=200 if ok else 503)
