"""Blob storage behind one small interface: the local filesystem, or an S3-compatible store.

Blobs are content-addressed (key = SHA-256 of the content), so storing the same file twice
costs nothing and a stored blob never changes. An upload is first spooled to a local file
(hashed and checked while streaming); :meth:`BlobStore.put_file` then publishes that file.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Protocol

from common.logging import get_logger

__all__ = ["CHUNK_SIZE", "BlobStore", "FilesystemStore", "S3Store", "blob_key"]

log = get_logger(__name__)

CHUNK_SIZE = 256 * 1024


def blob_key(sha256: str) -> str:
    """``ab/cd/abcd...``: two levels of fan-out keep directories small."""
    return f"{sha256[:2]}/{sha256[2:4]}/{sha256}"


class BlobStore(Protocol):
    async def start(self) -> None: ...

    async def close(self) -> None: ...

    async def put_file(self, path: Path, sha256: str, size: int) -> None:
        """Publish the spooled file ``path`` as the blob ``sha256`` (consumes the file)."""

    def read(self, sha256: str, start: int = 0, end: int | None = None) -> AsyncIterator[bytes]:
        """The bytes ``start``..``end`` (inclusive; None = to the end) of a blob, in chunks."""

    async def exists(self, sha256: str) -> bool: ...

    def local_path(self, sha256: str) -> Path | None:
        """A file the process can hand to ``sendfile`` (filesystem store), else None."""

    async def check(self) -> None:
        """Raise when the store cannot be used (readiness)."""


class FilesystemStore:
    """Blobs as files under ``root``; written by an atomic rename from the spool directory."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    async def start(self) -> None:
        await asyncio.to_thread(self.root.mkdir, parents=True, exist_ok=True)

    async def close(self) -> None:
        return None

    def path(self, sha256: str) -> Path:
        return self.root / blob_key(sha256)

    def local_path(self, sha256: str) -> Path:
        return self.path(sha256)

    async def check(self) -> None:
        if not await asyncio.to_thread(os.access, self.root, os.W_OK):
            raise OSError("blob directory is not writable")

    async def put_file(self, path: Path, sha256: str, size: int) -> None:
        await asyncio.to_thread(self._put, Path(path), self.path(sha256))

    @staticmethod
    def _put(source: Path, target: Path) -> None:
        if target.exists():
            source.unlink(missing_ok=True)
            return
        target.parent.mkdir(parents=True, exist_ok=True)
        with open(source, "rb") as handle:
            os.fsync(handle.fileno())
        # Same filesystem (the spool lives under the root by default): atomic, never half a blob.
        os.replace(source, target)

    async def exists(self, sha256: str) -> bool:
        return await asyncio.to_thread(self.path(sha256).exists)

    async def read(self, sha256: str, start: int = 0, end: int | None = None) -> AsyncIterator[bytes]:
        handle = await asyncio.to_thread(open, self.path(sha256), "rb")
        try:
            if start:
                handle.seek(start)
            remaining = None if end is None else end - start + 1
            while remaining is None or remaining > 0:
                size = CHUNK_SIZE if remaining is None else min(CHUNK_SIZE, remaining)
                chunk = await asyncio.to_thread(handle.read, size)
                if not chunk:
                    break
                if remaining is not None:
                    remaining -= len(chunk)
                yield chunk
        finally:
            handle.close()


class S3Store:
    """Blobs as objects in an S3-compatible bucket (aiobotocore); large files in multipart parts."""

    PART_SIZE = 8 * 1024 * 1024

    def __init__(self, *, bucket: str, endpoint_url: str | None, region: str,
                 access_key_id: str | None, secret_access_key: str | None, prefix: str = "blobs/") -> None:
        self.bucket = bucket
        self.prefix = prefix
        self._client_args = {
            "endpoint_url": endpoint_url,
            "region_name": region,
            "aws_access_key_id": access_key_id,
            "aws_secret_access_key": secret_access_key,
        }
        self._stack = contextlib.AsyncExitStack()
        self._client = None

    async def start(self) -> None:
        from aiobotocore.config import AioConfig
        from aiobotocore.session import get_session

        # Checksums only where S3 requires them: our bodies are hashed already, and the
        # "when_supported" default would make botocore re-read every body.
        config = AioConfig(request_checksum_calculation="when_required",
                           response_checksum_validation="when_required", max_pool_connections=20)
        self._client = await self._stack.enter_async_context(
            get_session().create_client("s3", config=config, **self._client_args))

    async def close(self) -> None:
        await self._stack.aclose()
        self._client = None

    def key(self, sha256: str) -> str:
        return self.prefix + blob_key(sha256)

    def local_path(self, sha256: str) -> None:
        return None

    async def check(self) -> None:
        await self._client.head_bucket(Bucket=self.bucket)

    async def exists(self, sha256: str) -> bool:
        from botocore.exceptions import ClientError

        try:
            await self._client.head_object(Bucket=self.bucket, Key=self.key(sha256))
            return True
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return False
            raise

    async def put_file(self, path: Path, sha256: str, size: int) -> None:
        path = Path(path)
        try:
            if not await self.exists(sha256):
                await self._upload(path, self.key(sha256), size)
        finally:
            path.unlink(missing_ok=True)

    async def _upload(self, path: Path, key: str, size: int) -> None:
        # Memory stays at one part whatever the file size.
        handle = await asyncio.to_thread(open, path, "rb")
        try:
            if size <= self.PART_SIZE:
                body = await asyncio.to_thread(handle.read)
                await self._client.put_object(Bucket=self.bucket, Key=key, Body=body)
                return
            upload = await self._client.create_multipart_upload(Bucket=self.bucket, Key=key)
            upload_id = upload["UploadId"]
            try:
                parts = []
                number = 1
                while chunk := await asyncio.to_thread(handle.read, self.PART_SIZE):
                    answer = await self._client.upload_part(Bucket=self.bucket, Key=key, UploadId=upload_id,
                                                            PartNumber=number, Body=chunk)
                    parts.append({"PartNumber": number, "ETag": answer["ETag"]})
                    number += 1
                await self._client.complete_multipart_upload(Bucket=self.bucket, Key=key, UploadId=upload_id,
                                                             MultipartUpload={"Parts": parts})
            except BaseException:
                await self._client.abort_multipart_upload(Bucket=self.bucket, Key=key, UploadId=upload_id)
                raise
        finally:
            handle.close()

    async def read(self, sha256: str, start: int = 0, end: int | None = None) -> AsyncIterator[bytes]:
        extra = {}
        if start or end is not None:
            extra["Range"] = f"bytes={start}-{'' if end is None else end}"
        answer = await self._client.get_object(Bucket=self.bucket, Key=self.key(sha256), **extra)
        async with answer["Body"] as body:
            while chunk := await body.read(CHUNK_SIZE):
                yield chunk


def create_store(settings) -> BlobStore:
    """The store the settings ask for."""
    if settings.storage_backend == "s3":
        secret = settings.s3_secret_access_key.get_secret_value() if settings.s3_secret_access_key else None
        return S3Store(bucket=settings.s3_bucket, endpoint_url=settings.s3_endpoint_url, region=settings.s3_region,
                       access_key_id=settings.s3_access_key_id, secret_access_key=secret)
    return FilesystemStore(settings.storage_dir)
