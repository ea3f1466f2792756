"""Fixtures of the tenancy integration tests: a migrated database, the app called as the gateway
would (internal tokens with ``act``/``tid``), and the real identity app (its own database, a
frozen clock, cheap argon2) on a test server for the internal calls tenancy makes.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass

import asyncpg
import pytest

from common.clock import FrozenClock
from common.db import migrate
from common.directory_events import ACCOUNT_UPSERTED, ACCOUNTS_UPSERTED, accounts_of_batch
from common.internal_auth import issue_token
from common.settings import DEV_INTERNAL_AUTH_SECRET, load_settings
from common.testing import create_test_database, drop_test_database, free_port
from services.identity.__main__ import TRACKS as IDENTITY_TRACKS
from services.identity.app import create_app as create_identity_app
from services.identity.settings import IdentitySettings
from services.tenancy.app import TRACKS, create_app
from services.tenancy.settings import TenancySettings

SECRET = DEV_INTERNAL_AUTH_SECRET
STRONG_PASSWORD = "Vue-sur-mer-42"


@dataclass
class Identity:
    """The real identity service, driven the way a person's browser (through the gateway) would."""

    client: object
    clock: FrozenClock
    dsn: str
    url: str

    @staticmethod
    def _headers(tenant: dict) -> dict[str, str]:
        token = issue_token(SECRET, issuer="gateway", audience="identity", tid=tenant["id"],
                            tcc=tenant["client_code"], tsc=tenant["societe_code"], ip="203.0.113.7")
        return {"Authorization": f"Internal {token}"}

    async def post(self, tenant: dict, path: str, body: dict):
        return await self.client.post(path, json=body, headers=self._headers(tenant))

    async def can_start(self, tenant: dict, credential: dict) -> bool:
        """Whether the provisional credentials still open an activation."""
        response = await self.post(tenant, "/v1/activation/start", {
            "login": credential["login"], "password": credential["password"], "intent": "activate"})
        return response.status == 200

    async def activate(self, tenant: dict, credential: dict, email: str, *, verify: bool = True) -> None:
        """Activation up to the email sent (``verify=False``: pending) or done (the link followed)."""
        response = await self.post(tenant, "/v1/activation/start", {
            "login": credential["login"], "password": credential["password"], "intent": "activate"})
        assert response.status == 200, await response.text()
        flow = (await response.json())["flow_id"]
        response = await self.post(tenant, f"/v1/activation/{flow}/email", {"email": email})
        assert response.status == 200, await response.text()
        response = await self.post(tenant, f"/v1/activation/{flow}/password", {
            "password": STRONG_PASSWORD, "confirmation": STRONG_PASSWORD, "accept_terms": True})
        assert response.status == 200, await response.text()
        if verify:
            conn = await asyncpg.connect(self.dsn)
            try:
                url = await conn.fetchval("SELECT payload->>'verification_url' FROM outbox WHERE type ="
                                          " 'identity.email_verification_requested' ORDER BY created_at DESC LIMIT 1")
            finally:
                await conn.close()
            response = await self.post(tenant, "/v1/email/verify", {"token": url.split("token=")[1]})
            assert response.status == 200, await response.text()


@pytest.fixture
async def identity(database_url, exchange_name, aiohttp_client):
    dsn = await create_test_database(database_url)
    await migrate(dsn, IDENTITY_TRACKS)
    clock = FrozenClock()
    settings = load_settings(IdentitySettings, database_url=dsn, events_exchange=exchange_name, tenancy_url=None,
                             argon2_memory_kib=1024, argon2_time_cost=1, public_base_url="https://extranet.example.fr")
    client = await aiohttp_client(create_identity_app(settings, clock=clock, with_broker=False))
    yield Identity(client=client, clock=clock, dsn=dsn, url=str(client.make_url("")).rstrip("/"))
    await client.close()
    await drop_test_database(dsn)


@dataclass
class Tenancy:
    """The tenancy app under test, called with the internal tokens the gateway would send."""

    client: object
    dsn: str
    settings: TenancySettings

    @staticmethod
    def operator() -> dict[str, str]:
        token = issue_token(SECRET, issuer="gateway", audience="tenancy", act="operator")
        return {"Authorization": f"Internal {token}"}

    @staticmethod
    def agency(tenant_id: str) -> dict[str, str]:
        token = issue_token(SECRET, issuer="gateway", audience="tenancy", act="agency", tid=tenant_id)
        return {"Authorization": f"Internal {token}"}

    @staticmethod
    def internal(issuer: str = "gateway", **claims) -> dict[str, str]:
        return {"Authorization": f"Internal {issue_token(SECRET, issuer=issuer, audience='tenancy', **claims)}"}

    async def onboard(self, **overrides) -> dict:
        body = {"client_code": "C" + uuid.uuid4().hex[:8].upper(), "societe_code": "01",
                "name": "Syndic du Parc", "kind": "syndic", **overrides}
        response = await self.client.post("/api/v1/tenants", json=body, headers=self.operator())
        assert response.status == 201, await response.text()
        return await response.json()

    async def put_directory(self, tenant_id: str, document: dict, *, expect: int = 200) -> dict:
        response = await self.client.put("/api/v1/directory", json=document, headers=self.agency(tenant_id))
        assert response.status == expect, await response.text()
        return await response.json()

    async def outbox(self, type_: str | None = None) -> list[dict]:
        conn = await asyncpg.connect(self.dsn)
        try:
            rows = await conn.fetch("SELECT type, tenant_id, correlation_id, payload FROM outbox"
                                    " ORDER BY created_at, payload->'accounts'->0->>1")
        finally:
            await conn.close()
        return [{"type": r["type"], "tenant_id": str(r["tenant_id"]), "correlation_id": r["correlation_id"],
                 "payload": json.loads(r["payload"])} for r in rows if type_ is None or r["type"] == type_]

    async def account_events(self) -> list[dict]:
        """Every account carried by the ``tenancy.accounts_upserted`` batches, in outbox order, each
        as ``{type, tenant_id, correlation_id, batch, payload}`` with the single-account payload shape
        (common.directory_events). Tenancy no longer writes the single-account type: checked here."""
        events = await self.outbox()
        assert not [e for e in events if e["type"] == ACCOUNT_UPSERTED]
        batches = [e for e in events if e["type"] == ACCOUNTS_UPSERTED]
        return [{"type": e["type"], "tenant_id": e["tenant_id"], "correlation_id": e["correlation_id"], "batch": i,
                 "payload": account} for i, e in enumerate(batches) for account in accounts_of_batch(e["payload"])]


async def make_tenancy(dsn: str, exchange_name: str, aiohttp_client, identity_url: str, *,
                       clock: FrozenClock | None = None, **settings_overrides) -> Tenancy:
    await migrate(dsn, TRACKS)
    settings = load_settings(TenancySettings, database_url=dsn, events_exchange=exchange_name,
                             identity_url=identity_url, public_base_url="https://extranet.example.fr",
                             max_import_bytes=2 * 1024 * 1024, **settings_overrides)
    client = await aiohttp_client(create_app(settings, clock=clock, relay=False))
    return Tenancy(client=client, dsn=dsn, settings=settings)


@pytest.fixture
async def tenancy(fresh_database, exchange_name, aiohttp_client) -> Tenancy:
    """Tenancy alone: identity's URL answers nothing (tests that need identity override this fixture)."""
    return await make_tenancy(fresh_database, exchange_name, aiohttp_client, f"http://127.0.0.1:{free_port()}")


def sample_directory(prefix: str = "") -> dict:
    """Two residences, three lots, three accounts (one council member)."""
    return {
        "residences": [{"ref": f"{prefix}R1", "name": "Résidence Les Tilleuls", "address": "3 rue des Lilas, Paris"},
                       {"ref": f"{prefix}R2", "name": "Le Clos", "address": ""}],
        "lots": [{"ref": f"{prefix}L1", "residence_ref": f"{prefix}R1", "number": "12", "kind": "appartement"},
                 {"ref": f"{prefix}L2", "residence_ref": f"{prefix}R1", "number": "13", "kind": "cave"},
                 {"ref": f"{prefix}L3", "residence_ref": f"{prefix}R2", "number": "1", "kind": "appartement"}],
        "accounts": [
            {"ref": f"{prefix}C1", "role": "coproprietaire", "display_name": "M. Jean Dupont",
             "email": "jean.dupont@example.org", "lot_refs": [f"{prefix}L1", f"{prefix}L2"], "council": True},
            {"ref": f"{prefix}C2", "role": "locataire", "display_name": "Mme Claire Martin",
             "lot_refs": [f"{prefix}L1"]},
            {"ref": f"{prefix}C3", "role": "bailleur", "display_name": "SCI Horizon", "email": "",
             "lot_refs": [f"{prefix}L3"], "council": False},
        ],
    }
