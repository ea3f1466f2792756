"""Agency use cases: upload (publish) and withdraw. The service function owns the transaction."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from pathlib import Path

import asyncpg
from aiohttp import MultipartReader
from aiohttp.http_exceptions import HttpProcessingError

from common.clock import Clock
from common.events import write_event
from common.logging import get_logger
from services.documents import repository as repo
from services.documents.categories import category as find_category
from services.documents.consent_register import paper_accounts
from services.documents.domain import Audience, AudienceKind, audience_problems
from services.documents.errors import (
    DocumentNotFound,
    FieldError,
    InvalidDocument,
    MalformedRequest,
    UnsupportedMediaType,
)
from services.documents.schemas import MetadataIn, parse
from services.documents.storage import BlobStore
from services.documents.uploads import SpooledFile, sniff_spooled, spool_part

__all__ = ["UploadLimits", "upload_document", "withdraw_document"]

log = get_logger(__name__)

MAX_METADATA_BYTES = 64 * 1024
PUBLISHED_EVENT = "documents.document_published"


@dataclass(frozen=True)
class UploadLimits:
    max_bytes: int
    spool_dir: Path


@dataclass(frozen=True)
class _Target:
    audience: Audience
    metadata: MetadataIn


_MULTIPART_ERRORS = (HttpProcessingError, ValueError)  # what aiohttp's reader raises on a broken body


async def _malformed_as_400(awaitable):
    """Await a read of the multipart body; a broken body is the client's error (400), never a 500."""
    try:
        return await awaitable
    except _MULTIPART_ERRORS as exc:
        raise MalformedRequest("The multipart body is malformed") from exc


async def _next_part(reader: MultipartReader):
    return await _malformed_as_400(reader.next())


async def _read_metadata(part) -> MetadataIn:
    raw = await _malformed_as_400(part.read(decode=False))
    if len(raw) > MAX_METADATA_BYTES:
        raise InvalidDocument(errors=[FieldError("metadata", "metadata is too large")])
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise InvalidDocument(errors=[FieldError("metadata", "metadata is not valid JSON")]) from None
    if not isinstance(data, dict):
        raise InvalidDocument(errors=[FieldError("metadata", "metadata must be a JSON object")])
    return parse(MetadataIn, data, prefix="metadata")


async def _resolve_target(conn: asyncpg.Connection, tenant_id: uuid.UUID, metadata: MetadataIn) -> _Target:
    """Refs -> ids and the category/audience consistency (422 with every problem)."""
    category = find_category(metadata.category)
    if category is None:
        raise InvalidDocument(errors=[FieldError("metadata.category", "unknown category")])
    wanted = metadata.audience
    errors: list[FieldError] = []
    if wanted.account_ref is not None:
        row = await conn.fetchrow(repo.ACCOUNT_BY_REF, tenant_id, wanted.account_ref)
        if row is None or row["status"] == "closed":
            raise InvalidDocument(errors=[FieldError("metadata.audience.account_ref", "unknown account")])
        audience = Audience(AudienceKind.ACCOUNT, row["id"])
        problems = audience_problems(category, audience.kind, row["role"])
    else:
        residence_id = await conn.fetchval(repo.RESIDENCE_BY_REF, tenant_id, wanted.residence_ref)
        if residence_id is None:
            raise InvalidDocument(errors=[FieldError("metadata.audience.residence_ref", "unknown residence")])
        kind = AudienceKind.RESIDENCE_COUNCIL if wanted.council_only else AudienceKind.RESIDENCE_ALL
        audience = Audience(kind, residence_id)
        problems = audience_problems(category, audience.kind)
    errors += [FieldError("metadata.audience", message) for message in problems]
    if errors:
        raise InvalidDocument(errors=errors)
    return _Target(audience, metadata)


async def _audience_accounts(conn: asyncpg.Connection, tenant_id: uuid.UUID, audience: Audience,
                             account_ref: str | None) -> list[tuple[uuid.UUID, str]]:
    """The (id, ref) of every account the document is published to, at this moment."""
    if audience.kind is AudienceKind.ACCOUNT:
        return [(audience.target_id, account_ref or "")]
    rows = await conn.fetch(repo.AUDIENCE_ACCOUNT_IDS, tenant_id, audience.target_id,
                            audience.kind is AudienceKind.RESIDENCE_COUNCIL)
    return [(r["id"], r["ref"]) for r in rows]


def upload_answer(row: asyncpg.Record) -> dict:
    return {"id": str(row["id"]), "sha256": row["sha256"], "size": row["size"],
            "content_type": row["content_type"], "published_at": row["published_at"].isoformat()}


async def upload_document(pool: asyncpg.Pool, store: BlobStore, clock: Clock, *, tenant_id: uuid.UUID,
                          reader: MultipartReader, limits: UploadLimits,
                          request_id: str | None = None, staff_id: uuid.UUID | None = None) -> tuple[dict, bool]:
    """Publish one document from a streamed multipart body; return (answer, created).

    ``staff_id``: the console user who published it (None: the agency's software, its API key).

    The metadata is checked as soon as its part arrives (before the file is read when it comes
    first); the file is spooled, hashed, size- and type-checked, stored, then its row and the
    ``documents.document_published`` event are committed together. Identical content for the
    same category and audience returns the live document (created = False).
    """
    target: _Target | None = None
    spooled: SpooledFile | None = None
    try:
        while (part := await _next_part(reader)) is not None:
            if part.name == "metadata" and target is None:
                metadata = await _read_metadata(part)
                async with pool.acquire() as conn:
                    target = await _resolve_target(conn, tenant_id, metadata)
            elif part.name == "file" and spooled is None:
                spooled = await _malformed_as_400(spool_part(part, limits.spool_dir, max_bytes=limits.max_bytes))
            else:
                await _malformed_as_400(part.release())
        missing = [name for name, value in (("metadata", target), ("file", spooled)) if value is None]
        if missing:
            raise MalformedRequest("multipart/form-data with a metadata part and a file part is required",
                                   errors=[FieldError(name, "missing part") for name in missing])
        content_type = await sniff_spooled(spooled)
        if content_type is None:
            raise UnsupportedMediaType()
        return await _publish(pool, store, clock, tenant_id=tenant_id, target=target, spooled=spooled,
                              content_type=content_type, request_id=request_id, staff_id=staff_id)
    finally:
        if spooled is not None:
            spooled.discard()


async def _publish(pool, store, clock, *, tenant_id, target: _Target, spooled: SpooledFile, content_type: str,
                   request_id: str | None, staff_id: uuid.UUID | None) -> tuple[dict, bool]:
    audience, metadata = target.audience, target.metadata
    async with pool.acquire() as conn:
        existing = await conn.fetchrow(repo.SAME_CONTENT, audience.key, metadata.category, spooled.sha256)
        if existing is not None:
            return upload_answer(existing), False
    # The blob is stored before its row commits (content-addressed: a leftover blob is harmless,
    # a row without its blob would not be).
    await store.put_file(spooled.path, spooled.sha256, spooled.size)
    category = find_category(metadata.category)
    filename = Path(spooled.filename.replace("\\", "/")).name[:255] or "document"
    async with pool.acquire() as conn, conn.transaction():
        # Resolved again inside the transaction: the directory may have changed during the upload.
        target = await _resolve_target(conn, tenant_id, metadata)
        audience = target.audience
        row = await repo.insert_document(
            conn, document_id=uuid.uuid4(), tenant_id=tenant_id, category=metadata.category, title=metadata.title,
            doc_date=metadata.date, audience_kind=audience.kind.value, audience_id=audience.target_id,
            audience_key=audience.key, size=spooled.size, sha256=spooled.sha256, crc32=spooled.crc32,
            content_type=content_type, filename=filename, published_at=clock.now(), published_by_staff=staff_id)
        if row is None:  # a concurrent upload of the same content won
            row = await conn.fetchrow(repo.SAME_CONTENT, audience.key, metadata.category, spooled.sha256)
            return upload_answer(row), False
        await conn.execute(repo.ADD_COUNT, audience.key, row["category"], str(row["year"]), 1)
        # The audience as it is now, kept for the proof of availability (append-only).
        recipients = await _audience_accounts(conn, tenant_id, audience, metadata.audience.account_ref)
        await conn.execute(repo.INSERT_AUDIENCE, row["id"], [i for i, _ in recipients], [r for _, r in recipients])
        # A convocation or a fund call is a notification in law: to an account without the matching
        # consent it must go by post, and the notifier must not email it (docs/legal-proofs.md).
        paper = await paper_accounts(conn, category=row["category"], account_ids=[i for i, _ in recipients],
                                     moment=row["published_at"])
        await write_event(conn, type=PUBLISHED_EVENT, tenant_id=tenant_id, correlation_id=request_id, payload={
            "document_id": str(row["id"]), "tenant_id": str(tenant_id), "title": row["title"],
            "category": row["category"], "category_label": category.label, "date": row["doc_date"].isoformat(),
            "audience_account_ids": [str(i) for i, _ in recipients],
            "paper_account_ids": sorted(str(a) for a in paper),
        })
    log.info("document.published", document_id=str(row["id"]), tenant_id=str(tenant_id),
             category=row["category"], size=row["size"])
    return upload_answer(row), True


async def withdraw_document(pool: asyncpg.Pool, clock: Clock, *, tenant_id: uuid.UUID,
                            document_id: uuid.UUID, staff_id: uuid.UUID | None = None) -> None:
    """Soft-delete: hidden from every listing and download at once. Withdrawing twice is fine.
    ``staff_id``: the console user who withdrew it (None: the agency's software)."""
    async with pool.acquire() as conn, conn.transaction():
        row = await conn.fetchrow(repo.WITHDRAW, document_id, tenant_id, clock.now(), staff_id)
        if row is None:
            if await conn.fetchrow(repo.DOCUMENT_IN_TENANT, document_id, tenant_id) is None:
                raise DocumentNotFound()
            return
        await conn.execute(repo.ADD_COUNT, row["audience_key"], row["category"], str(row["year"]), -1)
    log.info("document.withdrawn", document_id=str(document_id), tenant_id=str(tenant_id))
