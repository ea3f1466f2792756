"""Use cases on single directory accounts: closing, unlinking, lookups (the bulk import is in
directory_import.py)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import asyncpg

from common.clock import Clock
from common.errors import FieldError, ValidationFailed
from common.events import write_event
from common.logging import get_logger
from services.tenancy import repository as sql
from services.tenancy.errors import AccountNotFound, AccountNotLinked, IdentityUnavailable
from services.tenancy.service import require_active_tenant

__all__ = ["LookupScope", "close_account", "lookup_accounts", "unlink_account"]

log = get_logger(__name__)


async def close_account(
    pool: asyncpg.Pool, identity, *, tenant_id: uuid.UUID, ref: str, clock: Clock, correlation_id: str | None = None
) -> None:
    """Close the account (idempotent): its person loses it at once (AGENCY-API.md), through identity.

    Identity is called once the close is committed; ``tenancy.account_closed`` then tells documents,
    and identity again (idempotent), so a call that failed (identity down) is done when the event is
    consumed, never lost. The close itself never waits for identity.
    """
    async with pool.acquire() as conn, conn.transaction():
        await require_active_tenant(conn, tenant_id, lock=True)
        account_id = await conn.fetchval(sql.CLOSE_ACCOUNT, tenant_id, ref)
        if account_id is None:
            if await conn.fetchrow(sql.SELECT_ACCOUNT_ID, tenant_id, ref) is None:
                raise AccountNotFound()
            return  # already closed: nothing changes, no second event
        await write_event(
            conn, type="tenancy.account_closed", tenant_id=tenant_id, correlation_id=correlation_id,
            occurred_at=clock.now(),
            payload={"account_id": str(account_id), "tenant_id": str(tenant_id), "ref": ref},
        )
    log.info("directory.account_closed", tenant_id=str(tenant_id), account_id=str(account_id))
    try:
        await identity.close_account(tenant_id=tenant_id, account_id=account_id, request_id=correlation_id)
    except IdentityUnavailable:
        log.warning("directory.close_deferred", tenant_id=str(tenant_id), account_id=str(account_id))


async def unlink_account(pool: asyncpg.Pool, identity, *, tenant_id: uuid.UUID, ref: str, reason: str, note: str,
                         request_id: str | None, staff_id: str | None) -> dict:
    """Take the account ``ref`` away from its person through identity (which tells the person)."""
    row = await pool.fetchrow(sql.SELECT_ACCOUNT_ID, tenant_id, ref)
    if row is None:
        raise AccountNotFound()
    answer = await identity.unlink(tenant_id=tenant_id, account_id=row["id"], reason=reason, note=note,
                                   request_id=request_id, staff_id=staff_id)
    if answer is None:
        raise AccountNotLinked()
    log.info("directory.account_unlinked", tenant_id=str(tenant_id), account_id=str(row["id"]), reason=reason)
    return {"account_ref": ref, "unlinked": True, "person_notified": answer["person_notified"]}


@dataclass(frozen=True)
class LookupScope:
    """What a lookup may return: the accounts of one tenant, or the given accounts (a person's)."""

    tenant_id: uuid.UUID | None = None
    account_ids: frozenset[str] | None = None

    def allows(self, row) -> bool:
        if self.account_ids is not None:
            return str(row["id"]) in self.account_ids
        return row["tenant_id"] == self.tenant_id


async def lookup_accounts(pool: asyncpg.Pool, account_ids: list[str], *, scope: LookupScope) -> list[dict[str, Any]]:
    """The ``Account`` of every known id in ``scope`` (docs/internal-api.md); the others are left out."""
    ids, errors = [], []
    for i, value in enumerate(account_ids):
        try:
            ids.append(uuid.UUID(str(value)))
        except ValueError:
            errors.append(FieldError(f"account_ids[{i}]", "not a uuid"))
    if errors:
        raise ValidationFailed(errors=errors)
    rows = await pool.fetch(sql.LOOKUP_ACCOUNTS, ids)
    return [
        {"id": str(r["id"]), "tenant_id": str(r["tenant_id"]), "ref": r["ref"], "role": r["role"],
         "display_name": r["display_name"], "council": r["council"], "status": r["status"], "lots": r["lots"]}
        for r in rows if scope.allows(r)
    ]
