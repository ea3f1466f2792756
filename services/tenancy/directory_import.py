"""The directory import: a document applied all or nothing, its accounts upserted a chunk at a time
while the service reads the next chunk and builds the previous one's events (docs/architecture.md,
"A directory import is a pipeline")."""

from __future__ import annotations

import asyncio
import gc
import uuid
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, TypeVar

import asyncpg

from common.clock import Clock
from common.directory_events import ACCOUNTS_UPSERTED, encode_batch
from common.errors import FieldError
from common.events import write_events
from common.logging import get_logger
from services.tenancy import domain
from services.tenancy import repository as sql
from services.tenancy.directory_sources import AccountList, AccountSource
from services.tenancy.domain import MAX_REPORTED_ERRORS, Account, Lot, Residence
from services.tenancy.errors import DirectoryInvalid
from services.tenancy.service import require_active_tenant

__all__ = ["EVENT_BATCH", "IMPORT_CHUNK", "DirectoryDocument", "import_directory", "paused_gc", "raise_invalid"]

log = get_logger(__name__)
T = TypeVar("T")
U = TypeVar("U")


@dataclass
class DirectoryDocument:
    """A directory document (JSON or CSV): residences and lots valid one by one, and its accounts,
    read and validated a chunk at a time as the import goes (directory_sources)."""

    residences: list[Residence] = field(default_factory=list)
    lots: list[Lot] = field(default_factory=list)
    accounts: AccountSource = field(default_factory=lambda: AccountList([]))


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
    full collection looks at them. It also unfreezes what ``common.service.freeze_startup_objects``
    froze at start-up: tenancy's full collections then walk those again, as they did before it.
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

# Accounts per chunk of the import pipeline: PostgreSQL upserts one chunk while the service builds
# the next chunk's rows and the previous chunk's events. Large enough that a statement's fixed
# cost stays small (50,000 accounts, copy + upsert: one statement 2.1-2.4 s, chunks of 12,500
# 2.1-2.5 s, of 5,000 2.2-2.8 s), small enough that the first chunk's rows, built before
# anything overlaps, are a fifth of the work at 50,000 accounts.
IMPORT_CHUNK = 10_000


def _counts(returned: list[asyncpg.Record], total: int) -> dict[str, int]:
    created = sum(1 for r in returned if r["created"])
    return {"created": created, "updated": len(returned) - created, "unchanged": total - len(returned)}


class _LotsOfAccounts:
    """The stored lots named by the accounts read so far: each lot's id (text) and its event row
    (LOT_FIELDS), and their residences by ref (``{"id", "ref", "name"}``, as events list them)."""

    def __init__(self) -> None:
        self.ids: dict[str, str] = {}
        self.rows: dict[str, list[str]] = {}
        self.residences: dict[str, dict[str, str]] = {}
        self._asked: set[str] = set()

    async def learn(self, conn: asyncpg.Connection, tenant_id: uuid.UUID, refs: set[str]) -> None:
        """Look up the lots of ``refs`` that no earlier call asked for, and their residences."""
        refs = refs - self._asked
        if not refs:
            return
        self._asked |= refs
        lots = await conn.fetchrow(sql.SELECT_LOTS_OF_ACCOUNTS, tenant_id, list(refs))
        lot_refs, residence_refs = lots["refs"], lots["residence_refs"]
        self.ids.update(zip(lot_refs, lots["ids"], strict=True))
        self.rows.update((ref, [ref, number, residence])
                         for ref, number, residence in zip(lot_refs, lots["numbers"], residence_refs, strict=True))
        new_residences = set(residence_refs).difference(self.residences)
        if new_residences:
            for r in await conn.fetch(sql.SELECT_RESIDENCES_BY_REFS, tenant_id, list(new_residences)):
                self.residences[r["ref"]] = {"id": r["id"], "ref": r["ref"], "name": r["name"]}

    def knows(self, accounts: list[Account]) -> bool:
        """Whether every lot ``accounts`` name was asked for already (found or not)."""
        asked = self._asked
        return all(ref in asked for account in accounts for ref in account.lot_refs)

    def records(self, accounts: list[Account]) -> list[tuple]:
        """The accounts' rows for ``account_input`` (lot ids resolved, see _sorted_ids)."""
        ids = self.ids
        return [(a.ref, a.role, a.display_name, a.email, a.council, _sorted_ids(a.lot_refs, ids)) for a in accounts]

    def event_lots(self, refs: list[str]) -> list[list[str]]:
        """An account's lots as event rows, sorted by ref (as events list them)."""
        if len(refs) == 1:
            return [self.rows[refs[0]]]
        return [self.rows[ref] for ref in sorted(refs)]


class _AccountEvents:
    """The accounts an import wrote or touched, as ``tenancy.accounts_upserted`` payloads of at
    most ``batch`` accounts each (docs/events.md), encoded as each batch fills up."""

    def __init__(self, tenant_id: uuid.UUID, batch: int, residences: dict[str, dict[str, str]]) -> None:
        self._tenant_id, self._batch, self.residences = str(tenant_id), batch, residences
        self._rows: list[list[Any]] = []
        self._encoded: list[str] = []
        self.accounts = 0
        self.events = 0

    def add(self, row: list[Any]) -> None:
        """One account, in ACCOUNT_FIELDS order; its lots' residences must be in ``residences``."""
        self._rows.append(row)
        self.accounts += 1
        if len(self._rows) == self._batch:
            self._encode()

    def take(self, *, last: bool = False) -> list[str]:
        """The payloads encoded since the previous call (with the incomplete batch when ``last``)."""
        if last and self._rows:
            self._encode()
        encoded, self._encoded = self._encoded, []
        return encoded

    def _encode(self) -> None:
        self._encoded.append(encode_batch(self._tenant_id, self._rows, self.residences))
        self.events += 1
        self._rows = []


async def _while_database_runs(call: Awaitable[T], work: Callable[[], U]) -> tuple[T, U]:
    """Send ``call`` to PostgreSQL, run the synchronous ``work`` while it executes there, then wait
    for its answer: the two cores work at once instead of in turn.

    The call is awaited even when ``work`` fails, so that the connection never has a statement in
    flight when the transaction rolls back; the error raised is then ``work``'s.
    """
    pending = asyncio.ensure_future(call)
    await asyncio.sleep(0)  # the call's first step writes its messages to the socket
    try:
        with paused_gc():
            done = work()
    except BaseException:
        await asyncio.wait([pending])
        if not pending.cancelled():
            pending.exception()  # retrieved, so that it is not reported as lost
        raise
    return await pending, done


async def import_directory(
    pool: asyncpg.Pool, *, tenant_id: uuid.UUID, document: DirectoryDocument, clock: Clock,
    correlation_id: str | None = None, event_batch: int = EVENT_BATCH, chunk_size: int = IMPORT_CHUNK,
) -> dict[str, dict[str, int]]:
    """Apply a directory document all or nothing: any problem in it (a malformed row, a duplicate,
    an unknown ref) rolls everything back and is reported with all the others.

    Idempotent: rows equal to the stored ones are counted ``unchanged`` and write nothing. The
    accounts created or changed (their own row, or one of their lots or residences) are written
    to the outbox as ``tenancy.accounts_upserted`` events of at most ``event_batch`` accounts
    each, in the same transaction (docs/events.md, "Directory events"). Accounts are read and
    upserted ``chunk_size`` at a time, pipelined: see _upsert_accounts.
    """
    source = document.accounts
    async with pool.acquire() as conn, conn.transaction():
        await require_active_tenant(conn, tenant_id, lock=True)
        await conn.execute(sql.TUNE_BULK_TRANSACTION)
        chunks = source.chunks(chunk_size)
        if source.error_count:  # the residences or lots are malformed: the accounts are read for theirs
            _read_to_the_end(chunks)
            raise_invalid(source.errors, source.error_count)
        residence_refs, _ = domain.referenced_refs(document.residences, document.lots, ())
        known_residences = [r["ref"] for r in await conn.fetch(sql.SELECT_RESIDENCE_REFS, tenant_id,
                                                               list(residence_refs))] if residence_refs else []
        if domain.check_directory_references(residences=document.residences, lots=document.lots, accounts=(),
                                             known_residence_refs=known_residences):
            with paused_gc():
                accounts = [account for chunk in chunks for account in chunk]
            if source.error_count:
                raise_invalid(source.errors, source.error_count)
            await _raise_reference_errors(conn, tenant_id, document, accounts, known_residences)

        residences = await conn.fetch(
            sql.UPSERT_RESIDENCES, tenant_id, *_columns(document.residences, 3)) if document.residences else []
        lots = await conn.fetch(sql.UPSERT_LOTS, tenant_id, *_columns(document.lots, 4)) if document.lots else []
        moved_lots = [r["id"] for r in lots if not r["created"]]
        renamed_residences = [r["id"] for r in residences if not r["created"]]

        # The lots the accounts name are read after the document's own were written (their ids for
        # the accounts' rows, their numbers and residences for the events), in one lookup for the
        # refs the document shows before it is validated, so that the chunks need none.
        lots_of_accounts = _LotsOfAccounts()
        with paused_gc():
            hinted = source.lot_refs_hint()
        await lots_of_accounts.learn(conn, tenant_id, hinted)
        del hinted
        events = _AccountEvents(tenant_id, event_batch, lots_of_accounts.residences)
        event_fields = {"tenant_id": tenant_id, "correlation_id": correlation_id, "occurred_at": clock.now()}
        written = await _upsert_accounts(conn, tenant_id, chunks, source, lots_of_accounts, events,
                                         event_fields=event_fields)
        if moved_lots or renamed_residences:
            # Accounts whose own row did not change but whose lot moved or residence was renamed.
            for row in await conn.fetch(sql.SELECT_TOUCHED_ACCOUNTS, tenant_id, moved_lots, renamed_residences):
                if row["id"] not in written.ids:
                    for lot in row["lots"]:
                        events.residences.setdefault(lot[2], {"id": str(lot[3]), "ref": lot[2], "name": lot[4]})
                    events.add([row["id"], row["ref"], row["role"], row["display_name"], row["council"],
                                row["status"], sorted([lot[0], lot[1], lot[2]] for lot in row["lots"])])
        await write_events(conn, type=ACCOUNTS_UPSERTED, payloads=events.take(last=True), **event_fields)
    result = {
        "residences": _counts(residences, len(document.residences)),
        "lots": _counts(lots, len(document.lots)),
        "accounts": {"created": written.created, "updated": len(written.ids) - written.created,
                     "unchanged": written.read - len(written.ids)},
    }
    log.info("directory.imported", tenant_id=str(tenant_id), accounts_in_events=events.accounts, events=events.events,
             **{f"{kind}_{k}": v for kind, counts in result.items() for k, v in counts.items()})
    return result


@dataclass
class _Written:
    read: int = 0  # accounts in the document
    ids: set[str] = field(default_factory=set)  # those written (created or changed)
    created: int = 0


async def _upsert_accounts(conn: asyncpg.Connection, tenant_id: uuid.UUID, chunks: Iterator[list[Account]],
                           source: AccountSource, lots: _LotsOfAccounts, events: _AccountEvents, *,
                           event_fields: dict[str, Any]) -> _Written:
    """Upsert the accounts chunk by chunk, pipelined: while PostgreSQL upserts chunk k, the service
    builds the events of chunk k-1, reads and validates chunk k+1 and, its lots being known already
    (the caller looked up the document's hint), checks its references and builds its rows; chunk k+1
    is then sent at once. Lots the hint missed are looked up with their chunk, between two upserts.
    A problem stops the writing (the caller's transaction rolls back) and the rest is read only for
    its own problems, all reported at the end.
    """
    written = _Written()
    check = domain.AccountReferenceCheck()
    upsert: asyncpg.prepared_stmt.PreparedStatement | None = None
    answered: tuple[list[Account], asyncpg.Record] | None = None  # a chunk whose events are not built yet

    def rows_of(chunk: list[Account]) -> list[tuple] | None:
        """Check ``chunk`` (each chunk once, in order); its rows, or None once the document is wrong."""
        check.check(chunk, lots.ids)
        return None if check.errors else lots.records(chunk)

    def meanwhile(answered) -> tuple[list[Account] | None, list[tuple] | None, bool]:
        if answered is not None:
            _add_written(events, lots, *answered)
        chunk = next(chunks, None)
        if chunk is None or source.error_count or not lots.knows(chunk):
            return chunk, None, False
        return chunk, rows_of(chunk), True

    with paused_gc():
        chunk = next(chunks, None)
    checked, records = False, None
    while chunk is not None:
        written.read += len(chunk)
        if source.error_count:  # a malformed row: the rest is read for its problems only
            _read_to_the_end(chunks)
            break
        if not checked:
            await lots.learn(conn, tenant_id, {ref for account in chunk for ref in account.lot_refs})
            with paused_gc():
                records = rows_of(chunk)
        if records is None:  # nothing more is written; the rest is read and checked for the report
            with paused_gc():
                chunk = next(chunks, None)
            checked = False
            continue
        await sql.copy_account_input(conn, records, first=upsert is None)
        if upsert is None:
            # Prepared once account_input exists, so that each execution below is sent in the
            # task's first step, before the work meant to overlap it.
            upsert = await conn.prepare(sql.UPSERT_ACCOUNTS)
        answer, (next_chunk, records, checked) = await _while_database_runs(
            upsert.fetchrow(tenant_id), lambda: meanwhile(answered))  # noqa: B023 (run at once)
        written.ids.update(answer["ids"])
        written.created += answer["created"]
        answered = (chunk, answer)
        await write_events(conn, type=ACCOUNTS_UPSERTED, payloads=events.take(), **event_fields)
        chunk = next_chunk
    if source.error_count:
        raise_invalid(source.errors, source.error_count)
    if check.errors:
        raise_invalid(check.errors)
    if answered is not None:
        with paused_gc():
            _add_written(events, lots, *answered)
    return written


def _read_to_the_end(chunks: Iterator[list[Account]]) -> None:
    """Read the rest of a document that will not be written, for the problems it may hold."""
    with paused_gc():
        for _ in chunks:
            pass


def _add_written(events: _AccountEvents, lots: _LotsOfAccounts, chunk: list[Account], answer: asyncpg.Record) -> None:
    """The events of the accounts of ``chunk`` that the upsert wrote (``answer``: their refs and ids)."""
    if not answer["refs"]:
        return
    ids = dict(zip(answer["refs"], answer["ids"], strict=True))
    for a in chunk:
        account_id = ids.get(a.ref)
        if account_id is not None:
            events.add([account_id, a.ref, a.role, a.display_name, a.council, "active", lots.event_lots(a.lot_refs)])


async def _raise_reference_errors(conn: asyncpg.Connection, tenant_id: uuid.UUID, document: DirectoryDocument,
                                  accounts: list[Account], known_residences: list[str]) -> None:
    """Every cross-row problem of a document whose residences or lots are wrong, accounts included,
    checked against the stored lots (before anything is written)."""
    stored_lots = _LotsOfAccounts()
    await stored_lots.learn(conn, tenant_id, {ref for account in accounts for ref in account.lot_refs})
    raise_invalid(domain.check_directory_references(
        residences=document.residences, lots=document.lots, accounts=accounts,
        known_residence_refs=known_residences, known_lot_refs=stored_lots.ids))


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
