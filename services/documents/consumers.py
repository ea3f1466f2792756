"""The directory projection: tenancy's account events -> accounts and residences tables.

``handle`` runs inside the consumer's transaction (common.consumer): idempotent by construction
(upserts keyed by id) and safe against reordering (an event older than the applied state is
ignored, compared on ``occurred_at``). Access changes take effect at the next request: listing
and downloads read the projection every time.

Imports arrive as ``tenancy.accounts_upserted`` (up to 1,000 accounts per event, applied with
two set-based statements); the single-account ``tenancy.account_upserted`` that tenancy wrote
before is still consumed, so the messages queued during a rolling deploy are applied too.
"""

from __future__ import annotations

import uuid

import asyncpg
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from common.directory_events import ACCOUNT_UPSERTED, ACCOUNTS_UPSERTED, BatchError, accounts_of_batch
from common.events import Envelope
from common.logging import get_logger
from services.documents import repository as repo

__all__ = ["CONSUMER_NAME", "ROUTING_KEYS", "handle"]

log = get_logger(__name__)

CONSUMER_NAME = "documents.directory"
ACCOUNT_CLOSED = "tenancy.account_closed"
ROUTING_KEYS = [ACCOUNTS_UPSERTED, ACCOUNT_UPSERTED, ACCOUNT_CLOSED]


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
        elif envelope.type == ACCOUNTS_UPSERTED:
            await _apply_batch(conn, envelope)
        elif envelope.type == ACCOUNT_CLOSED:
            event = _AccountClosed.model_validate(envelope.payload)
            await conn.execute(repo.CLOSE_ACCOUNT, event.account_id, event.tenant_id, event.ref,
                               envelope.occurred_at)
            log.info("projection.account_closed", account_id=str(event.account_id))
    except ValidationError as exc:
        raise _permanent(f"invalid {envelope.type} payload: {exc.error_count()} error(s)") from exc
    except BatchError as exc:
        raise _permanent(str(exc)) from exc


async def _apply_batch(conn: asyncpg.Connection, envelope: Envelope) -> None:
    """A batch of accounts of one tenant, with the rules of the single event, in two statements."""
    events = [_AccountUpserted.model_validate(a) for a in accounts_of_batch(envelope.payload)]
    tenant_ids = {e.tenant_id for e in events}
    if len(tenant_ids) > 1 or (envelope.tenant_id and tenant_ids - {envelope.tenant_id}):
        raise _permanent(f"{ACCOUNTS_UPSERTED} mixes tenants")
    if not events:
        return
    (tenant_id,) = tenant_ids
    # ON CONFLICT cannot touch a row twice in one statement: one entry per id (the last wins,
    # as it would with one event per account applied in order).
    residences = {r.id: r for e in events for r in e.residences}
    accounts = {e.account_id: e for e in events}
    if residences:
        await conn.execute(repo.UPSERT_RESIDENCES, list(residences), tenant_id,
                           [r.ref for r in residences.values()], [r.name for r in residences.values()])
    await conn.execute(
        repo.UPSERT_ACCOUNTS, list(accounts), tenant_id, [e.ref for e in accounts.values()],
        [e.role for e in accounts.values()], [e.council for e in accounts.values()],
        [e.status for e in accounts.values()],
        ["{" + ",".join(str(i) for i in sorted({r.id for r in e.residences})) + "}" for e in accounts.values()],
        envelope.occurred_at)
    log.info("projection.accounts_upserted", accounts=len(accounts), residences=len(residences))
