"""The supervisors' web console: server-rendered pages (Jinja2, htmx, Alpine.js, Leaflet) that
call the same services as the API, signed in with a browser session."""

from __future__ import annotations

from pathlib import Path
from typing import Any

__all__ = ["STATIC", "console_routes"]

STATIC = Path(__file__).resolve().parent / "static"


def console_routes() -> list[Any]:
    """The console's controllers and its static files, for the app factory."""
    from litestar import Router
    from litestar.static_files import create_static_files_router

    from server.console.assign import AssignController
    from server.console.auth import ConsoleAuthController, root
    from server.console.dashboard import DashboardController
    from server.console.devices import WorkerController
    from server.console.routes import RouteController
    from server.console.visits import PlanController, VisitListController
    from server.console.web import CONSOLE_OPT, console_dependencies, console_exception_handlers
    from server.paths import plain_file_path

    static = create_static_files_router(
        path="/console/static",
        directories=[STATIC],
        opt=CONSOLE_OPT,
        guards=[plain_file_path],
        include_in_schema=False,
        name="console_static",
    )
    pages = Router(
        path="/",
        route_handlers=[
            root,
            ConsoleAuthController,
            DashboardController,
            PlanController,
            VisitListController,
            AssignController,
            RouteController,
            WorkerController,
        ],
        dependencies=console_dependencies,
        exception_handlers=console_exception_handlers,
        include_in_schema=False,
    )
    return [pages, static]
