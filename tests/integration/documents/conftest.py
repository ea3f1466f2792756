"""Fixtures of the documents integration tests: a migrated database, the app called the way the
gateway calls it (internal tokens with ``act``/``tid`` for agencies, ``pid``/``acc`` for persons),
and the directory projection fed through the real event handler.
"""

from __future__ import annotations

import io
import json
import uuid
import zipfile
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import aiohttp
import pytest

from common.clock import FrozenClock
from common.db import POOL, migrate
from common.events import Envelope
from common.internal_auth import issue_token
from common.settings import DEV_INTERNAL_AUTH_SECRET, load_settings
from services.documents import consumers
from services.documents.app import TRACKS, create_app
from services.documents.settings import DocumentsSettings

SECRET = DEV_INTERNAL_AUTH_SECRET


def pdf_bytes(size: int = 2000, seed: str = "") -> bytes:
    """A file that starts like a PDF, unique per seed."""
    body = (f"%PDF-1.7\n% {seed or uuid.uuid4().hex}\n").encode()
    return (body + b"x" * max(0, size - len(body) - 6) + b"\n%%EOF")[:max(size, len(body))]


def docx_bytes() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("word/document.xml", "<w:document/>")
    return buffer.getvalue()


@dataclass
class Harness:
    client: object
    app: object
    clock: FrozenClock
    settings: DocumentsSettings
    events_at: datetime = field(default_factory=lambda: datetime(2026, 1, 1, tzinfo=UTC))

    @property
    def pool(self):
        return self.app[POOL]

    def agency(self, tenant_id) -> dict:
        token = issue_token(SECRET, issuer="gateway", audience="documents", act="agency", tid=str(tenant_id))
        return {"Authorization": f"Internal {token}"}

    def person(self, accounts: list[dict], person_id: str | None = None) -> dict:
        token = issue_token(SECRET, issuer="gateway", audience="documents", pid=person_id or str(uuid.uuid4()),
                            acc=[{"tenant_id": str(a["tenant_id"]), "account_id": str(a["account_id"]),
                                  "role": a.get("role", "coproprietaire")} for a in accounts])
        return {"Authorization": f"Internal {token}"}

    async def event(self, type_: str, payload: dict, *, occurred_at: datetime | None = None) -> None:
        if occurred_at is None:
            self.events_at += timedelta(seconds=1)
            occurred_at = self.events_at
        envelope = Envelope(id=uuid.uuid4(), type=type_, version=1, occurred_at=occurred_at,
                            tenant_id=payload.get("tenant_id"), payload=json.loads(json.dumps(payload, default=str)))
        async with self.pool.acquire() as conn, conn.transaction():
            await consumers.handle(conn, envelope)

    async def account(self, *, tenant_id, role="coproprietaire", residences=(), council=False, ref=None,
                      account_id=None, status="active", occurred_at=None) -> dict:
        """Project an account (as tenancy.account_upserted would); ``residences`` are (id, ref) pairs."""
        account_id = account_id or uuid.uuid4()
        payload = {"account_id": str(account_id), "tenant_id": str(tenant_id), "ref": ref or f"C{account_id.hex[:6]}",
                   "role": role, "display_name": "M. Test", "council": council, "status": status,
                   "residences": [{"id": str(rid), "ref": rref, "name": f"Résidence {rref}"}
                                  for rid, rref in residences],
                   "lots": []}
        await self.event(consumers.ACCOUNT_UPSERTED, payload, occurred_at=occurred_at)
        return {"tenant_id": tenant_id, "account_id": account_id, "role": role, "ref": payload["ref"]}

    async def close(self, account: dict, occurred_at=None) -> None:
        await self.event(consumers.ACCOUNT_CLOSED, {"account_id": str(account["account_id"]),
                                                    "tenant_id": str(account["tenant_id"]),
                                                    "ref": account["ref"]}, occurred_at=occurred_at)

    def form(self, metadata: dict | str | None, content: bytes | None, filename: str = "document.pdf"):
        data = aiohttp.FormData()
        if metadata is not None:
            data.add_field("metadata", metadata if isinstance(metadata, str) else json.dumps(metadata),
                           content_type="application/json")
        if content is not None:
            data.add_field("file", content, filename=filename, content_type="application/octet-stream")
        return data

    async def upload(self, tenant_id, metadata, content: bytes | None = None, filename: str = "document.pdf"):
        content = pdf_bytes() if content is None else content
        return await self.client.post("/api/v1/documents", data=self.form(metadata, content, filename),
                                      headers=self.agency(tenant_id))

    async def publish(self, tenant_id, metadata, content: bytes | None = None, filename: str = "document.pdf") -> dict:
        response = await self.upload(tenant_id, metadata, content, filename)
        assert response.status == 201, await response.text()
        return await response.json()

    async def listing(self, accounts: list[dict], **query) -> dict:
        response = await self.client.get("/v1/documents", params={k: str(v) for k, v in query.items()},
                                         headers=self.person(accounts))
        assert response.status == 200, await response.text()
        return await response.json()

    async def link(self, accounts: list[dict], document_id) -> str | None:
        response = await self.client.post(f"/v1/documents/{document_id}/link", headers=self.person(accounts))
        if response.status == 404:
            return None
        assert response.status == 200, await response.text()
        return (await response.json())["url"]


def make_settings(database_url: str, tmp_path, exchange: str, **overrides) -> DocumentsSettings:
    values = {"database_url": database_url, "storage_dir": tmp_path / "blobs", "events_exchange": exchange,
              "consumer_enabled": False, "environment": "test", **overrides}
    return load_settings(DocumentsSettings, **values)


@pytest.fixture
async def harness(fresh_database, tmp_path, aiohttp_client, exchange_name):
    await migrate(fresh_database, TRACKS)
    settings = make_settings(fresh_database, tmp_path, exchange_name, max_upload_bytes=256 * 1024)
    clock = FrozenClock(datetime.now(UTC).replace(microsecond=0))
    # No relay: these tests read the outbox-free behaviour; test_events.py runs it with the broker.
    app = create_app(settings, clock=clock, relay=False)
    client = await aiohttp_client(app)
    return Harness(client=client, app=app, clock=clock, settings=settings)


@pytest.fixture
async def relayed_harness(fresh_database, tmp_path, aiohttp_client, exchange_name):
    """The app with its outbox relay, publishing to this test's exchange."""
    await migrate(fresh_database, TRACKS)
    settings = make_settings(fresh_database, tmp_path, exchange_name)
    clock = FrozenClock(datetime.now(UTC).replace(microsecond=0))
    app = create_app(settings, clock=clock)
    return Harness(client=await aiohttp_client(app), app=app, clock=clock, settings=settings)
