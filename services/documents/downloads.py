"""Serving a signed link: one file (ranges, validators) or a ZIP of a selection, always streamed."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, time

import asyncpg
from aiohttp import web
from stream_zip import NO_COMPRESSION_64, async_stream_zip

from services.documents.categories import CATEGORIES
from services.documents.domain import Audience, AudienceKind, DocumentAccess, grants
from services.documents.errors import DocumentNotFound
from services.documents.files import Unsatisfiable, content_disposition, etag_matches, parse_range, safe_filename
from services.documents.filetypes import EXTENSIONS
from services.documents.proofs import record_access
from services.documents.reading import iter_archive_documents, person_accounts
from services.documents.schemas import ArchiveIn
from services.documents.storage import BlobStore
from services.documents.tokens import FileGrant

__all__ = ["serve_archive", "serve_file"]

PRIVATE_HEADERS = {"Cache-Control": "private, no-store", "X-Content-Type-Options": "nosniff"}


def _etag(row: asyncpg.Record) -> str:
    # Blobs never change (content-addressed), so the content hash is a strong validator.
    return f'"{row["sha256"]}"'


async def serve_file(request: web.Request, row: asyncpg.Record, store: BlobStore) -> web.StreamResponse:
    """The document's bytes with RFC 9110 ranges (one range; 206/416) and validators."""
    size, etag = row["size"], _etag(row)
    headers = {**PRIVATE_HEADERS, "ETag": etag, "Accept-Ranges": "bytes",
               "Content-Disposition": content_disposition(row["filename"] or row["title"]),
               "Last-Modified": _http_date(row["published_at"])}
    if etag_matches(request.headers.get("If-None-Match"), etag, weak=True):
        return web.Response(status=304, headers=headers)
    byte_range = None
    if_range = request.headers.get("If-Range")
    if if_range is None or etag_matches(if_range, etag, weak=False):
        try:
            byte_range = parse_range(request.headers.get("Range"), size)
        except Unsatisfiable:
            return web.Response(status=416, headers={**headers, "Content-Range": f"bytes */{size}"})
    response = web.StreamResponse(status=206 if byte_range else 200, headers=headers)
    response.content_type = row["content_type"]
    start, end = (byte_range.start, byte_range.end) if byte_range else (0, size - 1)
    if byte_range:
        response.headers["Content-Range"] = f"bytes {start}-{end}/{size}"
    response.content_length = end - start + 1
    await response.prepare(request)
    if request.method != "HEAD" and size:
        local = store.local_path(row["sha256"])
        if local is not None and request.transport is not None:
            await _sendfile(request, local, start, end - start + 1)
        else:
            async for chunk in store.read(row["sha256"], start, end):
                await response.write(chunk)
    await response.write_eof()
    return response


async def _sendfile(request: web.Request, path, offset: int, count: int) -> None:
    """Zero-copy from the blob file to the socket, as web.FileResponse does (prepare() has sent the
    headers; asyncio falls back to reads and writes where the transport cannot sendfile)."""
    handle = await asyncio.to_thread(open, path, "rb")
    try:
        await asyncio.get_running_loop().sendfile(request.transport, handle, offset, count)
    finally:
        handle.close()


def _http_date(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%a, %d %b %Y %H:%M:%S GMT")


class _MemberNamer:
    """Archive member names ``<category label> - <date> - <title>.<ext>``, sanitized and unique."""

    def __init__(self) -> None:
        self.seen: set[str] = set()

    def name(self, row: asyncpg.Record) -> str:
        category = CATEGORIES.get(row["category"])
        label = category.label if category else row["category"]
        extension = EXTENSIONS.get(row["content_type"], "bin")
        stem = safe_filename(f"{label} - {row['doc_date'].isoformat()} - {row['title']}", max_length=140)
        candidate, counter = f"{stem}.{extension}", 2
        while candidate.lower() in self.seen:
            candidate, counter = f"{stem} ({counter}).{extension}", counter + 1
        self.seen.add(candidate.lower())
        return candidate


async def _members(pool: asyncpg.Pool, store: BlobStore, grant: FileGrant, selection: ArchiveIn, now):
    namer = _MemberNamer()
    async with pool.acquire() as conn:
        accounts = await person_accounts(conn, grant.accounts)
    async for row in iter_archive_documents(pool, claimed=grant.accounts, selection=selection):
        modified = datetime.combine(row["doc_date"], time(12, 0))
        # Size and CRC-32 were computed at upload: entries are stored (PDFs are compressed
        # already) and streamed without buffering.
        method = NO_COMPRESSION_64(row["size"], row["crc32"])
        yield namer.name(row), modified, 0o600, method, store.read(row["sha256"])
        # Asked for the next member: this one's bytes have all been streamed (proof of availability).
        access = DocumentAccess(tenant_id=row["tenant_id"],
                                audience=Audience(AudienceKind(row["audience_kind"]), row["audience_id"]))
        account_id = next((a.account_id for a in accounts if grants(a, access)), None)
        await record_access(pool, row=row, person_id=grant.person_id, account_id=account_id, kind="archive",
                            success=True, at=now())


async def _prepend(first, rest: AsyncIterator):
    yield first
    async for item in rest:
        yield item


def archive_filename(selection: ArchiveIn) -> str:
    parts = ["documents"]
    if selection.category:
        parts.append(selection.category)
    if selection.year:
        parts.append(str(selection.year))
    return "-".join(parts) + ".zip"


async def serve_archive(request: web.Request, pool: asyncpg.Pool, store: BlobStore, grant: FileGrant,
                        selection: ArchiveIn, *, now) -> web.StreamResponse:
    """A ZIP of every visible document of the selection, produced while it is sent (404 if none).

    Each member is logged as an ``archive`` access once its bytes are streamed (``now``: the clock)."""
    members = _members(pool, store, grant, selection, now)
    first = await anext(members, None)
    if first is None:
        raise DocumentNotFound("No document matches this selection")
    response = web.StreamResponse(status=200, headers={
        **PRIVATE_HEADERS, "Content-Disposition": content_disposition(archive_filename(selection))})
    response.content_type = "application/zip"
    await response.prepare(request)
    if request.method == "HEAD":
        await members.aclose()
        return response
    chunks: AsyncIterator[bytes] = async_stream_zip(_prepend(first, members))
    async for chunk in chunks:
        await response.write(chunk)
    await response.write_eof()
    return response
