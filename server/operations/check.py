"""``recheck check``: does what is stored still agree with itself? Reads only, changes nothing.

Four agreements, each a query or a walk over the media store:

- every stored photo's objects (original, review and thumbnail renditions) exist and still hash
  to their SHA-256 address;
- every mutation receipt a tablet may hold (applied, merged, conflict) has its stored change: the
  capture or household exists at (at least) the version the receipt told the tablet;
- the sync change log's counter is ahead of every row, purge mark and device cursor;
- every roster row paid by an approved proposal carries the amount that proposal pays that month.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import AsyncIterator, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import anyio
import msgspec
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from media.store import MediaStore, ObjectNotFound
from schemas.sync import MutationResult
from server.decisions.models import Proposal
from server.media.models import Photo
from server.payments.models import RosterRow
from server.payments.services import month_start, proposal_month_amount
from server.registry.models import Household
from server.sync.models import CaptureRecord, DeviceSyncState, FeedRow, MutationReceipt, SyncCounter

__all__ = ["Problem", "check_all"]

#: Receipt statuses that promise the tablet its change is stored (rejected ones promise nothing).
_STORED_STATUSES = ("applied", "merged", "conflict")
_RECEIPT_BATCH = 5_000
_result_decoder = msgspec.json.Decoder(MutationResult)


@dataclass(frozen=True)
class Problem:
    """One disagreement: ``kind`` is a stable code, ``subject`` names the record, ``detail`` says what."""

    kind: str
    subject: str
    detail: str

    def line(self) -> str:
        return f"{self.kind}\t{self.subject}\t{self.detail}"


async def check_all(session: AsyncSession, store: MediaStore, *, threads: int = 4) -> list[Problem]:
    """Every problem found, in the order of the module docstring's list."""
    problems = [p async for p in _photo_objects(session, store, threads)]
    problems += [p async for p in _receipts(session)]
    problems += await _change_log(session)
    problems += [p async for p in _roster_amounts(session)]
    return problems


# ---------------------------------------------------------------- photos


def _verify(store: MediaStore, key: str) -> str | None:
    """``None`` if the object is there and intact, else the problem's kind."""
    try:
        return None if store.verify(key) else "photo_object_changed"
    except ObjectNotFound:
        return "photo_object_missing"


async def _photo_objects(session: AsyncSession, store: MediaStore, threads: int) -> AsyncIterator[Problem]:
    rows = await session.execute(
        select(Photo.id, Photo.sha256, Photo.review_sha256, Photo.thumb_sha256).where(Photo.status == "stored")
    )
    work: list[tuple[uuid.UUID, str, str]] = []
    for photo_id, *keys in rows:
        for role, key in zip(("original", "review", "thumbnail"), keys, strict=True):
            if key:
                work.append((photo_id, role, key))
    # hashing is I/O and hashlib (which releases the GIL): a few threads keep the disk busy
    with ThreadPoolExecutor(max_workers=threads) as pool:
        verdicts = await anyio.to_thread.run_sync(lambda: list(pool.map(lambda w: _verify(store, w[2]), work)))
    for (photo_id, role, key), verdict in zip(work, verdicts, strict=True):
        if verdict:
            yield Problem(verdict, f"photo {photo_id}", f"{role} object {key}")


# ---------------------------------------------------------------- receipts


async def _versions(
    session: AsyncSession, model: type[CaptureRecord | Household], ids: Iterable[uuid.UUID | None]
) -> dict[uuid.UUID, int]:
    wanted = [i for i in set(ids) if i is not None]
    if not wanted:
        return {}
    rows = await session.execute(select(model.id, model.version).where(model.id.in_(wanted)))
    return {row[0]: row[1] for row in rows}


async def _receipt_batch(session: AsyncSession, batch: list[tuple[uuid.UUID, str, bytes]]) -> AsyncIterator[Problem]:
    results = [(mutation_id, entity, _result_decoder.decode(raw)) for mutation_id, entity, raw in batch]
    stored = {
        "capture": await _versions(session, CaptureRecord, (r.entity_id for _m, e, r in results if e == "capture")),
        "household": await _versions(session, Household, (r.entity_id for _m, e, r in results if e == "household")),
    }
    for mutation_id, entity, result in results:
        if result.entity_id is None:
            continue
        version = stored.get(entity, {}).get(result.entity_id)
        if version is None:
            yield Problem("receipt_without_change", f"receipt {mutation_id}", f"{entity} {result.entity_id} is missing")
        elif result.version is not None and version < result.version:
            yield Problem(
                "receipt_ahead_of_change",
                f"receipt {mutation_id}",
                f"{entity} {result.entity_id} is at version {version}, the receipt says {result.version}",
            )


async def _receipts(session: AsyncSession) -> AsyncIterator[Problem]:
    rows = await session.stream(
        select(MutationReceipt.mutation_id, MutationReceipt.entity, MutationReceipt.result)
        .where(MutationReceipt.status.in_(_STORED_STATUSES))
        .execution_options(yield_per=_RECEIPT_BATCH)
    )
    async for partition in rows.partitions(_RECEIPT_BATCH):
        async for problem in _receipt_batch(session, [tuple(r) for r in partition]):  # type: ignore[misc]
            yield problem


# ---------------------------------------------------------------- change log


async def _change_log(session: AsyncSession) -> list[Problem]:
    counters = dict((await session.execute(select(SyncCounter.name, SyncCounter.value))).all())
    feed = counters.get("feed", 0)
    problems = []
    highest = await session.scalar(select(func.max(FeedRow.seq)))
    if highest is not None and highest > feed:
        problems.append(
            Problem("feed_row_ahead_of_counter", "sync_counter feed", f"counter {feed}, a row at {highest}")
        )
    if counters.get("purged", 0) > feed:
        problems.append(
            Problem("purge_ahead_of_counter", "sync_counter purged", f"purged {counters['purged']}, counter {feed}")
        )
    empty = await session.scalar(
        select(func.count()).select_from(FeedRow).where(FeedRow.removed.is_(False), FeedRow.payload.is_(None))
    )
    if empty:
        problems.append(Problem("feed_row_without_payload", "sync_feed", f"{empty} live rows have no payload"))
    ahead = await session.execute(
        select(DeviceSyncState.device_id, DeviceSyncState.cursor_seq).where(DeviceSyncState.cursor_seq > feed)
    )
    for device_id, cursor in ahead:
        problems.append(Problem("cursor_ahead_of_counter", f"device {device_id}", f"cursor {cursor}, counter {feed}"))
    return problems


# ---------------------------------------------------------------- roster


async def _roster_amounts(session: AsyncSession) -> AsyncIterator[Problem]:
    rows = await session.stream(
        select(
            RosterRow.month,
            RosterRow.household_code,
            RosterRow.amount,
            Proposal.id,
            Proposal.state,
            Proposal.outcome,
            Proposal.decided_outcome,
            Proposal.new_amount,
            Proposal.decided_amount,
            Proposal.phase_out_until,
            Proposal.effective_from,
        ).join(Proposal, Proposal.id == RosterRow.proposal_id)
    )
    async for month, code, amount, pid, state, outcome, decided_outcome, new, decided, until, effective in rows:
        first: dt.date = month_start(month)
        subject = f"roster {month} household {code}"
        if state not in ("approved", "effective") or effective is None or effective > first:
            yield Problem("roster_proposal_not_in_force", subject, f"proposal {pid} is {state}, effective {effective}")
            continue
        expected = proposal_month_amount(first, outcome, decided_outcome, new, decided, until)
        if amount != expected:
            yield Problem(
                "roster_amount_differs", subject, f"roster pays {amount} fen, approved proposal {pid} says {expected}"
            )
