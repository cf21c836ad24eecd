"""The stored answers to creates sent with an ``Idempotency-Key``."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import ForeignKey, Index, Integer, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from server.db.base import Base, utcnow

__all__ = ["StoredAnswer"]


class StoredAnswer(Base):
    """The answer a create gave, written in the create's own transaction, replayed to retries.

    Keyed by the caller and a keyed hash of their ``Idempotency-Key`` (keys are per user). The
    answer (status aside) is sealed with a key derived from the client's key: a database copy
    shows neither the personal data in it nor a new device's secret.
    """

    __tablename__ = "idempotent_answer"
    __table_args__ = (Index("ix_idempotent_answer_expires_at", "expires_at"),)

    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("user_account.id", ondelete="CASCADE"), primary_key=True)
    key_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    fingerprint: Mapped[str] = mapped_column(String(64))
    """SHA-256 of method, path, query and body: the same key with another request is refused."""
    status: Mapped[int] = mapped_column(Integer)
    sealed: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[dt.datetime] = mapped_column()
