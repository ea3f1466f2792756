"""Streaming an upload to a spool file: hashed (SHA-256, CRC-32) and size-checked on the way.

The file never sits in memory: it is read in chunks from the multipart stream and written to a
temporary file in the spool directory, which the blob store then publishes (a rename for the
filesystem store). The head of the file is kept to sniff its type.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import tempfile
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path

from aiohttp import BodyPartReader

from services.documents import filetypes
from services.documents.errors import PayloadTooLarge

__all__ = ["SpooledFile", "sniff_spooled", "spool_part"]

READ_CHUNK = 256 * 1024
WRITE_BATCH = 1024 * 1024


@dataclass
class SpooledFile:
    path: Path
    filename: str
    size: int = 0
    head: bytes = b""
    crc32: int = 0
    _sha: object = field(default_factory=hashlib.sha256, repr=False)

    @property
    def sha256(self) -> str:
        return self._sha.hexdigest()

    def discard(self) -> None:
        self.path.unlink(missing_ok=True)


def _absorb(handle, spooled: SpooledFile, data: bytes) -> None:
    # Runs in a worker thread: hashlib and zlib release the GIL on large buffers.
    spooled._sha.update(data)
    spooled.crc32 = zlib.crc32(data, spooled.crc32)
    handle.write(data)


async def spool_part(part: BodyPartReader, spool_dir: Path, *, max_bytes: int) -> SpooledFile:
    """Stream ``part`` to a new file in ``spool_dir`` (which exists); :class:`PayloadTooLarge` past ``max_bytes``."""
    fd, name = await asyncio.to_thread(tempfile.mkstemp, prefix="upload-", suffix=".part", dir=spool_dir)
    spooled = SpooledFile(path=Path(name), filename=part.filename or "")
    handle = os.fdopen(fd, "wb")
    try:
        batch = bytearray()
        while chunk := await part.read_chunk(READ_CHUNK):
            spooled.size += len(chunk)
            if spooled.size > max_bytes:
                raise PayloadTooLarge(limit_bytes=max_bytes)
            if len(spooled.head) < filetypes.HEAD_BYTES:
                spooled.head += chunk[: filetypes.HEAD_BYTES - len(spooled.head)]
            batch += chunk
            if len(batch) >= WRITE_BATCH:
                await asyncio.to_thread(_absorb, handle, spooled, bytes(batch))
                batch.clear()
        if batch:
            await asyncio.to_thread(_absorb, handle, spooled, bytes(batch))
        await asyncio.to_thread(handle.close)
    except BaseException:
        handle.close()
        spooled.discard()
        raise
    return spooled


def _zip_facts(path: Path) -> tuple[list[str], bytes]:
    try:
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
            mimetype = b""
            if "mimetype" in names and archive.getinfo("mimetype").file_size < 200:
                mimetype = archive.read("mimetype")
            return names, mimetype
    except (zipfile.BadZipFile, OSError, ValueError, NotImplementedError):
        return [], b""


async def sniff_spooled(spooled: SpooledFile) -> str | None:
    """The accepted content type of the spooled file, or None."""
    if filetypes.is_zip(spooled.head):
        names, mimetype = await asyncio.to_thread(_zip_facts, spooled.path)
        return filetypes.sniff(spooled.head, filename=spooled.filename, zip_names=names, odf_mimetype=mimetype)
    return filetypes.sniff(spooled.head, filename=spooled.filename)
