"""Use cases on the directory: the all-or-nothing bulk import, closing an account, lookups."""

from __future__ import annotations

import gc
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import asyncpg

from common.clock import Clock
from common.errors import FieldError, ValidationFailed
from common.events import write_event
from common.logging import get_logger
from services.tenancy import domain
from services.tenancy import repository as sql
from services.tenancy.domain import MAX_REPORTED_ERRORS, Account, Lot, Residence
from services.tenancy.errors import AccountNotFound, AccountNotLinked, DirectoryInvalid
from services.tenancy.schemas import DirectoryIn
from services.tenancy.service import require_active_tenant

__all__ = ["DirectoryDocument", "LookupScope", "close_account", "import_directory", "lookup_accounts", "paused_gc",
           "raise_invalid", "unlink_account"]

log = get_logger(__name__)


@dataclass
class DirectoryDocument:
    """A directory document, each row already valid on its own (JSON or CSV)."""

    residences: list[Residence] = field(default_factory=list)
    lots: list[Lot] = field(default_factory=list)
    accounts: list[Account] = field(default_factory=list)

    @classmethod
    def from_json(cls, doc: DirectoryIn) -> DirectoryDocument:
        return cls(
            residences=[Residence(r.ref, r.name, r.address) for r in doc.residences],
            lots=[Lot(lot.ref, lot.residence_ref, lot.number, lot.kind) for lot in doc.lots],
            accounts=[Account(a.ref, a.role, a.display_name, a.email, a.council, a.lot_refs, f"accounts[{i}]")
                      for i, a in enumerate(doc.accounts)],
        )


@contextmanager
def paused_gc() -> Iterator[None]:
    """Pause the cyclic garbage collector around a synchronous block that builds a document's rows.

    Tens of thousands of new, acyclic objects (models, tuples, lists) trigger collection after
    collection, each scanning the growing document: measured on the 50,000-account JSON document,
    parse + rows took 0.96-1.04 s of CPU with the collector and 0.29-0.39 s without (CSV:
    0.67-0.71 s against 0.40-0.49 s). Reference counting still frees everything; only cycles
    wait for the next collection. Wrap synchronous code only (no ``await`` inside), so that no
    other request runs while the collector is paused.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            _forget_young_objects()
            gc.enable()


def _forget_young_objects() -> None:
    """Move the objects allocated while the collector was paused to the oldest generation, uncounted.

    Re-enabling the collector alone leaves them all in the youngest generation with its counter far
    past the threshold, so the next allocation runs a collection over the whole document just built
    (py-spy on the 50,000-account bench: ~200 samples of 2,700 at ``gc.enable()``'s next allocation,
    a collection per CSV chunk). ``freeze`` moves every tracked object to the permanent generation
    and zeroes the young counter; ``unfreeze`` puts them back in the oldest generation, where only a
    full collection looks at them. Nothing else in the services freezes objects (grep gc.freeze).
    """
    gc.freeze()
    gc.unfreeze()


def raise_invalid(errors: list[FieldError], error_count: int | None = None) -> None:
    """Raise the 422 listing ``errors`` (at most MAX_REPORTED_ERRORS, with the total count)."""
    total = error_count if error_count is not None else len(errors)
    raise DirectoryInvalid(errors=errors[:MAX_REPORTED_ERRORS], error_count=total)


# Accounts per ``tenancy.accounts_upserted`` event (TENANCY_DIRECTORY_EVENT_BATCH): ~300 KB of
# JSON per message at 1,000, so a 50,000-account import is 50 messages instead of 50,000.
EVENT_BATCH = 1000


def _counts(returned: list[asyncpg.Record], total: int) -> dict[str, int]:
    created = sum(1 for r in returned if r["created"])
    return {"created": created, "updated": len(returned) - created, "unchanged": total - len(returned)}


async def import_directory(
    pool: asyncpg.Pool, *, tenant_id: uuid.UUID, document: DirectoryDocument, clock: Clock,
    correlation_id: str | None = None, event_batch: int = EVENT_BATCH,
) -> dict[str, dict[str, int]]:
    """Validate the whole document against the stored directory, then apply it all or nothing.

    Idempotent: rows equal to the stored ones are counted ``unchanged`` and write nothing. The
    accounts created or changed (their own row, or one of their lots or residences) are written
    to the outbox as ``tenancy.accounts_upserted`` events of at most ``event_batch`` accounts
    each, in the same transaction (docs/events.md, "Directory events").
    """
    async with pool.acquire() as conn, conn.transaction():
        await require_active_tenant(conn, tenant_id, lock=True)
        await conn.execute(sql.TUNE_BULK_TRANSACTION)
        residence_refs, _ = domain.referenced_refs(document.residences, document.lots, ())
        known_residences = [r["ref"] for r in await conn.fetch(sql.SELECT_RESIDENCE_REFS, tenant_id,
                                                               list(residence_refs))] if residence_refs else []
        # The stored lots of every ref the accounts name (defined in this document or not): their
        # refs for the cross-checks, their ids for the accounts' lot_ids (resolved here, not by
        # a subquery per account in the upsert: measured in the commit that made this change).
        account_lot_refs = {ref for account in document.accounts for ref in account.lot_refs}
        lot_ids: dict[str, str] = {}  # ref -> id in its text form (see sql.SELECT_LOT_IDS)
        if account_lot_refs:
            refs, ids = await conn.fetchrow(sql.SELECT_LOT_IDS, tenant_id, list(account_lot_refs))
            lot_ids = dict(zip(refs, ids, strict=True))
            del refs, ids
        errors = domain.check_directory_references(
            residences=document.residences, lots=document.lots, accounts=document.accounts,
            known_residence_refs=known_residences, known_lot_refs=lot_ids,
        )
        if errors:
            raise_invalid(errors)

        residences = await conn.fetch(
            sql.UPSERT_RESIDENCES, tenant_id, *_columns(document.residences, 3)) if document.residences else []
        lots = await conn.fetch(sql.UPSERT_LOTS, tenant_id, *_columns(document.lots, 4)) if document.lots else []
        lot_ids.update((r["ref"], str(r["id"])) for r in lots if r["created"])  # a lot keeps its id when updated
        moved_lots = [r["id"] for r in lots if not r["created"]]
        renamed_residences = [r["id"] for r in residences if not r["created"]]
        accounts = {"created": 0, "updated": 0, "unchanged": len(document.accounts)}
        in_events = 0
        if document.accounts:
            with paused_gc():
                records = [(a.ref, a.role, a.display_name, a.email, a.council, _sorted_ids(a.lot_refs, lot_ids))
                           for a in document.accounts]
            await sql.copy_account_input(conn, records)
            del records
            # One statement: the upsert and the events of the accounts it wrote (and of those whose
            # lots moved or residence was renamed); only the counts come back.
            counts = await conn.fetchrow(sql.UPSERT_ACCOUNTS_WITH_EVENTS, tenant_id, clock.now(), correlation_id,
                                         event_batch, moved_lots, renamed_residences)
            accounts = {"created": counts["created"], "updated": counts["updated"],
                        "unchanged": len(document.accounts) - counts["created"] - counts["updated"]}
            in_events = counts["in_events"]
        elif moved_lots or renamed_residences:
            touched = await conn.fetch(sql.SELECT_ACCOUNTS_TOUCHED, tenant_id, moved_lots, renamed_residences)
            if touched:
                await conn.execute(sql.INSERT_ACCOUNTS_UPSERTED_EVENTS, [r["id"] for r in touched], clock.now(),
                                   correlation_id, event_batch)
            in_events = len(touched)
    result = {
        "residences": _counts(residences, len(document.residences)),
        "lots": _counts(lots, len(document.lots)),
        "accounts": accounts,
    }
    log.info("directory.imported", tenant_id=str(tenant_id), accounts_in_events=in_events,
             events=-(-in_events // event_batch),
             **{f"{kind}_{k}": v for kind, counts in result.items() for k, v in counts.items()})
    return result


def _sorted_ids(refs: list[str], ids: dict[str, str]) -> str:
    """The lot ids of ``refs`` in PostgreSQL's uuid order, as stored, written as an array literal
    (``{id,id}``) that the upsert casts to ``uuid[]``: ids in PostgreSQL's text form (lowercase,
    hyphens at fixed places) sort as the uuids' bytes do, and need no quoting. Sent as text, the
    50,000 accounts' lot ids cost the COPY 15 ms of CPU instead of 66 ms as a list of uuids."""
    if len(refs) == 1:
        return "{" + ids[refs[0]] + "}"
    return "{" + ",".join(sorted(ids[ref] for ref in refs)) + "}"


def _columns(rows: list[tuple], width: int) -> list[list[Any]]:
    """Rows as ``width`` parallel arrays, for ``unnest``."""
    return [[row[i] for row in rows] for i in range(width)]


async def close_account(
    pool: asyncpg.Pool, *, tenant_id: uuid.UUID, ref: str, clock: Clock, correlation_id: str | None = None
) -> None:
    """Close the account (idempotent); identity and documents drop its access on ``tenancy.account_closed``."""
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
