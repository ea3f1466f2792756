"""The directory projection: tenancy's account events -> accounts and residences tables.

``handle`` runs inside the consumer's transaction (common.consumer): idempotent by construction
(upserts keyed by id) and safe against reordering (an event older than the applied state is
ignored, compared on ``occurred_at``). Access changes take effect at the next request: listing
and downloads read the projection every time.
"""

from __future__ import annotations

import uuid

import asyncpg
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from common.events import Envelope
from common.logging import get_logger
from services.documents import repository as repo

__all__ = ["CONSUMER_NAME", "ROUTING_KEYS", "handle"]

log = get_logger(__name__)

CONSUMER_NAME = "documents.directory"
ACCOUNT_UPSERTED = "tenancy.account_upserted"
ACCOUNT_CLOSED = "tenancy.account_closed"
ROUTING_KEYS = [ACCOUNT_UPSERTED, ACCOUNT_CLOSED]


class _Residence(BaseModel):
    model_config = ConfigDict(extra="ignore")
    id: uuid.UUID
    ref: str
    name: str = ""


class _AccountUpserted(BaseModel):
    model_config = ConfigDict(extra="ignore")
    account_id: uuid.UUID
    tenant_id: uuid.UUID
    ref: str
    role: str
    council: bool = False
    status: str = "active"
    residences: list[_Residence] = Field(default_factory=list)


class _AccountClosed(BaseModel):
    model_config = ConfigDict(extra="ignore")
    account_id: uuid.UUID
    tenant_id: uuid.UUID
    ref: str = ""


def _permanent(reason: str) -> Exception:
    try:
        from common.consumer import PermanentError
    except ImportError:  # the consumer module is not there yet: a plain error still refuses it
        return ValueError(reason)
    return PermanentError(reason)


async def handle(conn: asyncpg.Connection, envelope: Envelope) -> None:
    """Apply one tenancy directory event to the projection (other event types are ignored)."""
    try:
        if envelope.type == ACCOUNT_UPSERTED:
            event = _AccountUpserted.model_validate(envelope.payload)
            for residence in event.residences:
                await conn.execute(repo.UPSERT_RESIDENCE, residence.id, event.tenant_id, residence.ref,
                                   residence.name)
            await conn.execute(repo.UPSERT_ACCOUNT, event.account_id, event.tenant_id, event.ref, event.role,
                               event.council, event.status, sorted({r.id for r in event.residences}),
                               envelope.occurred_at)
            log.info("projection.account_upserted", account_id=str(event.account_id), status=event.status)
        elif envelope.type == ACCOUNT_CLOSED:
            event = _AccountClosed.model_validate(envelope.payload)
            await conn.execute(repo.CLOSE_ACCOUNT, event.account_id, event.tenant_id, event.ref,
                               envelope.occurred_at)
            log.info("projection.account_closed", account_id=str(event.account_id))
    except ValidationError as exc:
        raise _permanent(f"invalid {envelope.type} payload: {exc.error_count()} error(s)") from exc
