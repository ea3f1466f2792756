"""Person use cases: listing, signed links, and resolving a signed link to what it grants.

Who the person is comes only from the signed claims (``pid``, ``acc``); what their accounts
may see comes from the directory projection, through the pure rule in ``domain.py``.
"""

from __future__ import annotations

import base64
import binascii
import uuid
from collections.abc import AsyncIterator, Mapping
from datetime import date

import asyncpg

from services.documents import repository as repo
from services.documents.categories import CATEGORIES, GROUPS
from services.documents.domain import (
    AccountView,
    Audience,
    AudienceKind,
    DocumentAccess,
    audience_keys,
    can_see,
    grants,
    resolve_accounts,
)
from services.documents.errors import DocumentNotFound, FieldError, InvalidDocument
from services.documents.schemas import ArchiveIn, ListQuery

__all__ = ["document_grant", "document_json", "iter_archive_documents", "list_documents", "person_accounts",
           "visible_document"]

ARCHIVE_PAGE = 500
GROUP_LABELS = dict(GROUPS)


async def person_accounts(conn: asyncpg.Connection, claimed: list[Mapping]) -> list[AccountView]:
    """The claimed accounts as the projection knows them (unknown or mismatched ones dropped)."""
    ids = []
    for item in claimed:
        try:
            ids.append(uuid.UUID(str(item.get("account_id"))))
        except (ValueError, TypeError, AttributeError):
            continue
    if not ids:
        return []
    known = {
        r["id"]: AccountView(account_id=r["id"], tenant_id=r["tenant_id"], role=r["role"], council=r["council"],
                             closed=r["status"] == "closed", residence_ids=frozenset(r["residence_ids"]))
        for r in await repo.fetch_accounts(conn, ids)
    }
    return resolve_accounts(claimed, known)


def _uuid_or_none(value) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(value)) if value is not None else None
    except ValueError:
        return None


def encode_cursor(row: asyncpg.Record) -> str:
    raw = f"{row['doc_date'].isoformat()}|{row['id']}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[date, uuid.UUID]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        day, _, ident = raw.partition("|")
        return date.fromisoformat(day), uuid.UUID(ident)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise InvalidDocument(errors=[FieldError("cursor", "invalid cursor")]) from None


def _like_pattern(q: str | None) -> str | None:
    if not q:
        return None
    escaped = q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def document_json(row: asyncpg.Record, account_ids: set[uuid.UUID]) -> dict:
    """The ``Doc`` of docs/internal-api.md; ``account_ids`` are the person's accounts granting it."""
    category = CATEGORIES.get(row["category"])
    return {
        "id": str(row["id"]),
        "tenant_id": str(row["tenant_id"]),
        "account_ids": sorted(str(a) for a in account_ids),
        "category": row["category"],
        "category_label": category.label if category else row["category"],
        "group": GROUP_LABELS.get(category.group) if category else None,
        "group_code": category.group if category else None,
        "title": row["title"],
        "date": row["doc_date"].isoformat(),
        "size": row["size"],
        "content_type": row["content_type"],
        "filename": row["filename"],
        "published_at": row["published_at"].isoformat(),
    }


def _scoped_keys(accounts: list[AccountView], tenant_id: uuid.UUID | None,
                 account_id: uuid.UUID | None) -> dict[str, set[uuid.UUID]]:
    scoped = [a for a in accounts if (tenant_id is None or a.tenant_id == tenant_id)
              and (account_id is None or a.account_id == account_id)]
    return audience_keys(scoped)


async def list_documents(pool: asyncpg.Pool, *, claimed: list[Mapping], query: ListQuery,
                         person_id: str | None = None) -> dict:
    """One page of the person's visible documents, newest first, with facet counts; with ``person_id``,
    each item says when that person first opened it (``opened_at``, None: never)."""
    if query.category is not None and query.category not in CATEGORIES:
        raise InvalidDocument(errors=[FieldError("category", "unknown category")])
    before = decode_cursor(query.cursor) if query.cursor else None
    async with pool.acquire() as conn:
        accounts = await person_accounts(conn, claimed)
        keys = _scoped_keys(accounts, query.tenant_id, query.account_id)
        if not keys:
            return {"items": [], "next_cursor": None, "facets": {"categories": {}, "years": {}}}
        key_list = sorted(keys)
        rows = await repo.list_page(conn, keys=key_list, before=before, year=query.year, category=query.category,
                                    pattern=_like_pattern(query.q), limit=query.limit + 1)
        facet_rows = await conn.fetch(repo.FACETS, key_list)
        more = len(rows) > query.limit
        rows = rows[: query.limit]
        opened = {}
        person = _uuid_or_none(person_id)
        if person is not None and rows:
            opened = {r["document_id"]: r["opened_at"]
                      for r in await conn.fetch(repo.FIRST_OPENED, person, [r["id"] for r in rows])}
    categories: dict[str, int] = {}
    years: dict[str, int] = {}
    for r in facet_rows:
        for totals, counts in ((categories, r["categories"]), (years, r["years"])):
            for value, n in counts.items():
                totals[value] = totals.get(value, 0) + n
    return {
        "items": [{**document_json(r, keys[r["audience_key"]]),
                   "opened_at": opened[r["id"]].isoformat() if r["id"] in opened else None} for r in rows],
        "next_cursor": encode_cursor(rows[-1]) if more else None,
        "facets": {"categories": {k: n for k, n in categories.items() if n > 0},
                   "years": {k: n for k, n in sorted(years.items(), reverse=True) if n > 0}},
    }


def _access(row: asyncpg.Record) -> DocumentAccess:
    return DocumentAccess(tenant_id=row["tenant_id"],
                          audience=Audience(AudienceKind(row["audience_kind"]), row["audience_id"]),
                          withdrawn=row["withdrawn_at"] is not None)


async def document_grant(pool: asyncpg.Pool, *, claimed: list[Mapping], document_id: str | uuid.UUID):
    """``(row, account_id)``: the document row (None if no such document) and the person's account that
    gives sight of it now (None when none does: withdrawn, closed, never in the audience)."""
    try:
        document_id = uuid.UUID(str(document_id))
    except ValueError:
        return None, None
    async with pool.acquire() as conn:
        row = await conn.fetchrow(repo.GET_DOCUMENT, document_id)
        if row is None:
            return None, None
        accounts = await person_accounts(conn, claimed)
    access = _access(row)
    if not can_see(access, accounts):
        return row, None
    return row, next(a.account_id for a in accounts if grants(a, access))


async def visible_document(pool: asyncpg.Pool, *, claimed: list[Mapping], document_id: str | uuid.UUID):
    """The document row if the person may see it now; :class:`DocumentNotFound` otherwise (never 403)."""
    row, account_id = await document_grant(pool, claimed=claimed, document_id=document_id)
    if account_id is None:
        raise DocumentNotFound()
    return row


def check_archive(selection: ArchiveIn) -> None:
    if selection.category is not None and selection.category not in CATEGORIES:
        raise InvalidDocument(errors=[FieldError("category", "unknown category")])


async def iter_archive_documents(pool: asyncpg.Pool, *, claimed: list[Mapping],
                                 selection: ArchiveIn) -> AsyncIterator[asyncpg.Record]:
    """Every visible document of the selection, newest first, fetched page by page."""
    async with pool.acquire() as conn:
        accounts = await person_accounts(conn, claimed)
    keys = sorted(_scoped_keys(accounts, selection.tenant_id, None))
    if not keys:
        return
    before = None
    while True:
        async with pool.acquire() as conn:
            rows = await repo.list_page(conn, keys=keys, before=before, year=selection.year,
                                        category=selection.category, pattern=None, limit=ARCHIVE_PAGE)
        for row in rows:
            yield row
        if len(rows) < ARCHIVE_PAGE:
            return
        before = (rows[-1]["doc_date"], rows[-1]["id"])
