"""Imports every model module so ``Base.metadata`` is complete (for alembic and tests).

Add one import line per new model module.
"""

from server.audit import models as audit_models
from server.auth import models as auth_models
from server.db.base import Base
from server.decisions import models as decisions_models
from server.idempotency import models as idempotency_models
from server.media import models as media_models
from server.payments import models as payments_models
from server.planning import models as planning_models
from server.registry import models as registry_models
from server.sync import models as sync_models

__all__ = [
    "Base",
    "audit_models",
    "auth_models",
    "decisions_models",
    "idempotency_models",
    "media_models",
    "payments_models",
    "planning_models",
    "registry_models",
    "sync_models",
]
