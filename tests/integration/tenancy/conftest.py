"""Fixtures of the tenancy integration tests: a migrated database, the app called as the gateway
would (internal tokens with ``act``/``tid``), and identity's internal endpoints.

Identity's real ``/internal/provisional-credentials`` does not exist yet, so a small real
aiohttp server stands in for it (STYLE.md): it issues, revokes and links the way
docs/internal-api.md says identity does, and records every call with its verified token.
"""

from __future__ import annotations

import json
import secrets
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest
from aiohttp import web

from common.db import migrate
from common.internal_auth import issue_token, verify_token
from common.settings import DEV_INTERNAL_AUTH_SECRET, load_settings
from services.tenancy.app import TRACKS, create_app
from services.tenancy.settings import TenancySettings

SECRET = DEV_INTERNAL_AUTH_SECRET


@dataclass
class IdentityStandIn:
    """identity's state as tenancy can observe it: live credentials, linked accounts, calls."""

    issued: dict[str, dict] = field(default_factory=dict)  # account_id -> live credentials
    revoked: list[dict] = field(default_factory=list)
    linked: set[str] = field(default_factory=set)
    pending: set[str] = field(default_factory=set)
    expired: set[str] = field(default_factory=set)
    calls: list[tuple[str, dict, dict]] = field(default_factory=list)  # (path, claims, body)
    url: str = ""

    async def _claims(self, request: web.Request) -> dict:
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        assert scheme == "Internal"
        return verify_token(SECRET, token, audience="identity")

    async def provisional_credentials(self, request: web.Request) -> web.Response:
        claims, body = await self._claims(request), await request.json()
        self.calls.append((request.path, claims, body))
        credentials, refused = [], []
        expires = (datetime.now(UTC) + timedelta(days=body["ttl_days"])).isoformat()
        for account in body["accounts"]:
            account_id = account["account_id"]
            if account_id in self.linked and not body["reset"]:
                refused.append({"account_id": account_id, "error": "already_linked"})
                continue
            self.linked.discard(account_id)
            if account_id in self.issued:
                self.revoked.append(self.issued.pop(account_id))
            self.expired.discard(account_id)
            item = {"account_id": account_id, "login": secrets.token_hex(4).upper(),
                    "password": secrets.token_urlsafe(9), "expires_at": expires}
            self.issued[account_id] = item
            credentials.append(item)
        return web.json_response({"credentials": credentials, "refused": refused}, status=201)

    async def account_states(self, request: web.Request) -> web.Response:
        claims, body = await self._claims(request), await request.json()
        self.calls.append((request.path, claims, body))
        states = [{"account_id": a, "state": "credentials_issued"} for a in self.issued]
        states += [{"account_id": a, "state": "activated"} for a in self.linked]
        states += [{"account_id": a, "state": "pending_verification"} for a in self.pending]
        states += [{"account_id": a, "state": "expired"} for a in self.expired]
        return web.json_response({"states": states})

    def link(self, account_id: str) -> None:
        """The person finished activation: credentials used up, account linked."""
        self.issued.pop(account_id, None)
        self.linked.add(account_id)


@pytest.fixture
async def identity(aiohttp_server) -> IdentityStandIn:
    stand_in = IdentityStandIn()
    app = web.Application()
    app.router.add_post("/internal/provisional-credentials", stand_in.provisional_credentials)
    app.router.add_post("/internal/account-states", stand_in.account_states)
    server = await aiohttp_server(app)
    stand_in.url = str(server.make_url(""))
    return stand_in


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
    def internal(issuer: str = "gateway") -> dict[str, str]:
        return {"Authorization": f"Internal {issue_token(SECRET, issuer=issuer, audience='tenancy')}"}

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
            rows = await conn.fetch("SELECT type, tenant_id, correlation_id, payload FROM outbox ORDER BY created_at")
        finally:
            await conn.close()
        return [{"type": r["type"], "tenant_id": str(r["tenant_id"]), "correlation_id": r["correlation_id"],
                 "payload": json.loads(r["payload"])} for r in rows if type_ is None or r["type"] == type_]


@pytest.fixture
async def tenancy(fresh_database, exchange_name, aiohttp_client, identity) -> Tenancy:
    await migrate(fresh_database, TRACKS)
    settings = load_settings(TenancySettings, database_url=fresh_database, events_exchange=exchange_name,
                             identity_url=identity.url, public_base_url="https://extranet.example.fr",
                             max_import_bytes=2 * 1024 * 1024)
    client = await aiohttp_client(create_app(settings, relay=False))
    return Tenancy(client=client, dsn=fresh_database, settings=settings)


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
