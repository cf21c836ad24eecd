"""The app factory: settings, database engine, routes, auth, errors, compression, OpenAPI."""

from __future__ import annotations

import os
from collections.abc import AsyncGenerator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from litestar import Litestar
from litestar.config.compression import CompressionConfig
from litestar.datastructures import State
from litestar.middleware import DefineMiddleware

from server.apidocs import assets_router, swagger_plugin
from server.audit.controllers import AuditController
from server.auth.controllers import AuthController, DeviceController, UserController
from server.auth.guards import SCHEMA_PATH, role_guard
from server.auth.middleware import TokenAuthMiddleware
from server.console import console_routes
from server.db.session import make_engine, make_session_factory
from server.decisions.controllers import DecisionController
from server.decoding import StrictBodyPlugin
from server.deps import dependencies
from server.errors import exception_handlers
from server.field.controllers import FieldAppController
from server.health import health, ready
from server.idempotency.guard import AnswerRecordingResponse, Replay, replay_response
from server.media.controllers import MediaDownloadController, TusController, VisitPhotoController
from server.observability import RequestIdMiddleware, configure_logging
from server.openapi import DocumentConfig, document_error_responses
from server.payments.controllers import BankLayoutController, PaymentController
from server.planning.controllers import (
    AssignmentController,
    ComplaintController,
    PlanController,
    RouteController,
    VisitController,
)
from server.registry.controllers import AmountCorrectionController, AreaController, HouseholdController
from server.registry.imports import RosterImportController
from server.reports.controllers import ReportController
from server.settings import Settings, get_settings
from server.sync.controllers import ReviewController, SyncController

__all__ = ["ROUTES", "create_app"]

#: Every route handler and controller of the API. Add new areas' controllers here.
ROUTES: list[Any] = [
    health,
    ready,
    AuthController,
    DeviceController,
    UserController,
    AreaController,
    HouseholdController,
    AmountCorrectionController,
    RosterImportController,
    AuditController,
    TusController,
    VisitPhotoController,
    MediaDownloadController,
    PlanController,
    VisitController,
    AssignmentController,
    RouteController,
    ComplaintController,
    DecisionController,
    PaymentController,
    BankLayoutController,
    ReportController,
    SyncController,
    ReviewController,
    FieldAppController,
]


def media_check(settings: Settings) -> Callable[[], None]:
    """A blocking check that the media store is reachable (used by ``/ready``)."""
    url = urlparse(settings.media_url)
    if url.scheme == "file":

        def check_folder() -> None:
            folder = Path(url.path)
            folder.mkdir(parents=True, exist_ok=True)
            if not os.access(folder, os.W_OK):
                raise PermissionError(f"{folder} is not writable")

        return check_folder

    def check_bucket() -> None:
        import boto3

        client = boto3.client(
            "s3",
            endpoint_url=settings.s3_endpoint_url,
            region_name=settings.s3_region,
            aws_access_key_id=settings.s3_access_key,
            aws_secret_access_key=settings.s3_secret_key,
        )
        client.head_bucket(Bucket=url.netloc)

    return check_bucket


def create_app(settings: Settings | None = None) -> Litestar:
    """Build the application for ``settings`` (read from the environment when omitted)."""
    settings = settings or get_settings()
    settings.check()
    configure_logging(settings.log_json)

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncGenerator[None, None]:
        engine = make_engine(settings.database_url)
        app.state.engine = engine
        app.state.session_factory = make_session_factory(engine)
        try:
            yield
        finally:
            await engine.dispose()

    openapi_config = DocumentConfig(
        title="recheck",
        version="0.1.0",
        description="Offline-first backend for dibao household rechecks.",
        path=SCHEMA_PATH,
        render_plugins=[swagger_plugin()],
    )
    handlers: dict[type[Exception], Any] = {**exception_handlers, Replay: replay_response}
    auth = DefineMiddleware(TokenAuthMiddleware, exclude=[f"^{SCHEMA_PATH}"])
    app = Litestar(
        route_handlers=[*ROUTES, assets_router(), *console_routes()],
        dependencies=dependencies,
        middleware=[auth],
        guards=[role_guard],
        exception_handlers=handlers,  # type: ignore[arg-type]
        response_class=AnswerRecordingResponse,
        plugins=[StrictBodyPlugin()],
        lifespan=[lifespan],
        state=State({"settings": settings, "media_check": media_check(settings), "idempotency_claims": set()}),
        compression_config=CompressionConfig(backend="gzip", minimum_size=512, exclude_opt_key="skip_compression"),
        request_max_body_size=settings.max_body_bytes,
        openapi_config=openapi_config,
        debug=False,
    )
    document_error_responses(app)
    openapi_config.app = app
    # outermost, around Litestar's own error handling: the router's 404 and 405 and the auth
    # layer's 401 are answered there, outside any route middleware, and must be logged too
    app.asgi_handler = RequestIdMiddleware(app.asgi_handler)
    return app
