"""Masking of personal data for roles that do not need it, and for public notices."""

from __future__ import annotations

from schemas.auth import Role

__all__ = [
    "mask_bank_account",
    "mask_id_number",
    "mask_name",
    "sees_full_bank_account",
    "sees_full_id_number",
]

_FULL_ID_ROLES = frozenset({Role.admin, Role.approver, Role.supervisor, Role.auditor})
_FULL_BANK_ROLES = frozenset({Role.admin, Role.approver})


def sees_full_id_number(role: Role) -> bool:
    """Workers check ID cards at the door against the masked form; other case handlers see it whole."""
    return role in _FULL_ID_ROLES


def sees_full_bank_account(role: Role) -> bool:
    """Only the county centre (payments) and admins see whole bank account numbers."""
    return role in _FULL_BANK_ROLES


def mask_id_number(value: str) -> str:
    """``520111********123X``: region and last four kept, birth date and serial hidden."""
    return value[:6] + "*" * (len(value) - 10) + value[-4:] if len(value) > 10 else "*" * len(value)


def mask_bank_account(value: str) -> str:
    """``************1234``."""
    return "*" * max(len(value) - 4, 0) + value[-4:]


def mask_name(name: str) -> str:
    """Public-notice form: surname kept, given name masked (``张三丰`` → ``张*``)."""
    return name[:1] + "*" if name else name
