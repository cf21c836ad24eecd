"""Planning operations for the ``recheck`` command line (``recheck plan --period 2027Q1``)."""

from __future__ import annotations

from sqlalchemy import select

from server.auth.identity import Actor
from server.db.session import command_transaction
from server.errors import DomainError
from server.planning.services import generate_plan
from server.registry.models import Area
from server.settings import Settings

__all__ = ["plan_by_codes"]


async def plan_by_codes(settings: Settings, period: str, area_codes: list[str]) -> str:
    """Generate the plan for ``period`` in the areas named by code (all areas when none).

    Returns the one-line summary printed by the command.

    Raises:
        CommandError: a bad period or an unknown area code.
    """
    from server.cli import CommandError

    async with command_transaction(settings.database_url) as session:
        area_ids: list[int] | None = None
        if area_codes:
            rows = await session.execute(select(Area.code, Area.id).where(Area.code.in_(area_codes)))
            found: dict[str, int] = {code: area_id for code, area_id in rows.all()}
            if missing := [c for c in area_codes if c not in found]:
                raise CommandError(f"unknown area code(s): {', '.join(missing)}")
            area_ids = [found[c] for c in area_codes]
        try:
            result = await generate_plan(session, Actor.system("cli"), period, area_ids=area_ids)
        except DomainError as exc:
            raise CommandError(exc.message) from exc
    return (
        f"plan {result.period} ({result.starts_on} – {result.ends_on}): {result.created} visits created, "
        f"{result.rescheduled} rescheduled, {result.cancelled} cancelled in {result.seconds:.2f} s"
    )
