"""Proof of availability (issue 14, docs/legal-proofs.md): the access log and the agency's proof report.

What a syndic must be able to show when a co-owner says "it was never online": the document's
SHA-256 (recomputed from the stored blob when the report is made, and compared), when it became
visible, to whom (the audience snapshot taken at publication), and every view or download by each
account, successful or not. Withdrawal keeps all of it: rows are append-only at the database.
"""

from __future__ import annotations

import hashlib
import uuid
from datetime import datetime

import asyncpg

from common.logging import get_logger
from services.documents import repository as repo
from services.documents.agency import audience_as_given
from services.documents.categories import CATEGORIES
from services.documents.consent_register import paper_accounts
from services.documents.consents import kind_for_category
from services.documents.errors import DocumentNotFound, FieldError, InvalidDocument
from services.documents.storage import BlobStore

__all__ = ["KINDS", "account_proof", "document_proof", "record_access"]

log = get_logger(__name__)

KINDS = ("view", "download", "archive")
ACCOUNT_PROOF_LIMIT = 500


def _uuid(value) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(value))
    except (ValueError, TypeError):
        return None


async def record_access(pool: asyncpg.Pool, *, row: asyncpg.Record, person_id: str, account_id: uuid.UUID | None,
                        kind: str, success: bool, at: datetime) -> None:
    """Append one access to the log (``account_id``: the account that granted it, None if none did)."""
    person = _uuid(person_id)
    if person is None:  # identity's person ids are uuids: a token without one granted nothing
        return
    async with pool.acquire() as conn:
        await conn.execute(repo.INSERT_ACCESS, row["id"], row["tenant_id"], person, account_id, at, kind, success)
    log.info("document.accessed", document_id=str(row["id"]), kind=kind, success=success)


async def blob_sha256(store: BlobStore, sha256: str) -> str | None:
    """The SHA-256 of the stored bytes, read again now (None when the blob cannot be read)."""
    digest = hashlib.sha256()
    try:
        async for chunk in store.read(sha256):
            digest.update(chunk)
    except Exception as exc:  # a missing file, an S3 error: the report says so rather than failing
        log.warning("proof.blob_unreadable", sha256=sha256, error=type(exc).__name__)
        return None
    return digest.hexdigest()


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def _document(row: asyncpg.Record) -> dict:
    category = CATEGORIES.get(row["category"])
    return {"id": str(row["id"]), "title": row["title"], "category": row["category"],
            "category_label": category.label if category else row["category"], "date": row["doc_date"].isoformat(),
            "audience": audience_as_given(row), "residence_name": row["residence_name"], "filename": row["filename"],
            "size": row["size"], "content_type": row["content_type"], "sha256": row["sha256"],
            "published_at": row["published_at"].isoformat(), "withdrawn_at": _iso(row["withdrawn_at"])}


def _access(row: asyncpg.Record) -> dict:
    return {"at": row["at"].isoformat(), "account_ref": row["account_ref"],
            "account_id": str(row["account_id"]) if row["account_id"] else None, "person_id": str(row["person_id"]),
            "kind": row["kind"], "success": row["success"]}


async def document_proof(pool: asyncpg.Pool, store: BlobStore, *, tenant_id: uuid.UUID, document_id: str,
                         now: datetime) -> dict:
    """The proof report of one document of the agency (withdrawn ones included); 404 otherwise."""
    ident = _uuid(document_id)
    if ident is None:
        raise DocumentNotFound()
    async with pool.acquire() as conn:
        row = await conn.fetchrow(repo.DOCUMENT_OF_TENANT, ident, tenant_id)
        if row is None:
            raise DocumentNotFound()
        audience = await conn.fetch(repo.AUDIENCE_OF, ident)
        accesses = await conn.fetch(repo.ACCESSES_OF, [ident], None)
        paper = await paper_accounts(conn, category=row["category"], account_ids=[a["account_id"] for a in audience],
                                     moment=row["published_at"])
    needs_consent = kind_for_category(row["category"]) is not None
    computed = await blob_sha256(store, row["sha256"])
    opened = {a["account_id"] for a in accesses if a["success"] and a["account_id"]}
    return {
        "generated_at": now.isoformat(),
        "document": _document(row),
        "integrity": {"stored_sha256": row["sha256"], "computed_sha256": computed,
                      "matches": computed == row["sha256"], "checked_at": now.isoformat()},
        "audience_at_publication": [
            {"account_ref": a["account_ref"], "account_id": str(a["account_id"]), "opened": a["account_id"] in opened,
             # For notifications in law: "post" when the account had not consented to electronic ones.
             "delivery": ("post" if a["account_id"] in paper else "email") if needs_consent else None}
            for a in audience],
        "accesses": [_access(a) for a in accesses],
        "summary": {"audience": len(audience), "opened": sum(1 for a in audience if a["account_id"] in opened),
                    "accesses": len(accesses), "failed_accesses": sum(1 for a in accesses if not a["success"]),
                    "to_send_by_post": len(paper)},
    }


async def account_proof(pool: asyncpg.Pool, *, tenant_id: uuid.UUID, account_ref: str, now: datetime) -> dict:
    """Every document one account was published to (or opened), with its accesses by that account."""
    async with pool.acquire() as conn:
        account = await conn.fetchrow(repo.ACCOUNT_BY_REF, tenant_id, account_ref)
        if account is None:
            raise InvalidDocument(errors=[FieldError("account_ref", "unknown account")])
        rows = await conn.fetch(repo.DOCUMENTS_OF_ACCOUNT, tenant_id, account["id"], ACCOUNT_PROOF_LIMIT)
        accesses = await conn.fetch(repo.ACCESSES_OF, [r["id"] for r in rows], account["id"]) if rows else []
    by_document: dict[uuid.UUID, list[asyncpg.Record]] = {}
    for access in accesses:
        by_document.setdefault(access["document_id"], []).append(access)
    documents = []
    for row in rows:
        mine = by_document.get(row["id"], [])
        first = next((a["at"] for a in mine if a["success"]), None)
        documents.append({**_document(row), "in_audience_at_publication": row["in_audience"],
                          "first_opened_at": _iso(first), "accesses": [_access(a) for a in mine]})
    return {"generated_at": now.isoformat(), "account": {"ref": account_ref, "id": str(account["id"])},
            "documents": documents}
