"""The identity app on a fresh real database, called with real internal tokens."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

import asyncpg
import pytest

from common.clock import FrozenClock
from common.db import migrate
from common.internal_auth import issue_token
from services.identity.__main__ import TRACKS
from services.identity.app import create_app
from services.identity.settings import IdentitySettings

# Cheap argon2 so the suite stays fast; production defaults stay OWASP (see settings).
CHEAP_ARGON2 = {"argon2_memory_kib": 1024, "argon2_time_cost": 1}
STRONG_PASSWORD = "Vue-sur-mer-42"


@dataclass
class Tenant:
    id: str = field(default_factory=lambda: str(uuid.uuid4()))
    client: str = field(default_factory=lambda: "C" + uuid.uuid4().hex[:6].upper())
    societe: str = field(default_factory=lambda: "S" + uuid.uuid4().hex[:4].upper())


@dataclass
class Identity:
    client: object
    clock: FrozenClock
    settings: IdentitySettings
    dsn: str
    tenant: Tenant

    def headers(self, tenant: Tenant | None = None, *, ip: str = "203.0.113.7", **claims) -> dict:
        tenant = tenant or self.tenant
        token = issue_token(self.settings.internal_auth_secret.get_secret_value(), issuer="gateway",
                            audience="identity", tid=tenant.id, tcc=tenant.client, tsc=tenant.societe, ip=ip,
                            **claims)
        return {"Authorization": f"Internal {token}"}

    async def post(self, path: str, body: dict | None = None, *, tenant: Tenant | None = None, **claims):
        return await self.client.post(path, json=body or {}, headers=self.headers(tenant, **claims))

    async def get(self, path: str, *, tenant: Tenant | None = None, **claims):
        return await self.client.get(path, headers=self.headers(tenant, **claims))

    async def issue(self, *, tenant: Tenant | None = None, role: str = "coproprietaire",
                    suggested_email: str | None = None, account_id: str | None = None, ttl_days: int | None = None,
                    reset: bool = False) -> dict:
        """Issue credentials for one account; return ``{account_id, login, password, expires_at}``."""
        tenant = tenant or self.tenant
        account_id = account_id or str(uuid.uuid4())
        body = {"tenant_id": tenant.id, "reset": reset,
                "accounts": [{"account_id": account_id, "role": role, "display_name": "M. Martin",
                              "suggested_email": suggested_email}]}
        if ttl_days:
            body["ttl_days"] = ttl_days
        response = await self.client.post("/internal/provisional-credentials", json=body,
                                          headers=self.headers(tenant))
        assert response.status == 201, await response.text()
        data = await response.json()
        assert data["refused"] == []
        return data["credentials"][0]

    async def start(self, cred: dict, *, intent: str = "activate", tenant: Tenant | None = None) -> dict:
        response = await self.post("/v1/activation/start", {"login": cred["login"], "password": cred["password"],
                                                            "intent": intent}, tenant=tenant)
        assert response.status == 200, await response.text()
        return await response.json()

    async def activate_pending(self, cred: dict, email: str, *, password: str = STRONG_PASSWORD,
                               tenant: Tenant | None = None) -> dict:
        flow = await self.start(cred, tenant=tenant)
        response = await self.post(f"/v1/activation/{flow['flow_id']}/email", {"email": email}, tenant=tenant)
        assert response.status == 200, await response.text()
        response = await self.post(f"/v1/activation/{flow['flow_id']}/password",
                                   {"password": password, "confirmation": password, "accept_terms": True},
                                   tenant=tenant)
        assert response.status == 200, await response.text()
        return await response.json()

    async def events(self, type_: str) -> list[dict]:
        conn = await asyncpg.connect(self.dsn)
        try:
            rows = await conn.fetch("SELECT payload::text AS p, tenant_id, correlation_id FROM outbox"
                                    " WHERE type = $1 ORDER BY created_at, id", type_)
        finally:
            await conn.close()
        import json

        return [json.loads(r["p"]) for r in rows]

    async def last_token(self, type_: str, key: str) -> str:
        events = await self.events(type_)
        assert events, f"no {type_} event"
        url = events[-1][key]
        return url.split("token=")[1]

    async def activate(self, cred: dict, email: str, *, password: str = STRONG_PASSWORD,
                       tenant: Tenant | None = None) -> None:
        """Full activation: pending, then the verification link followed."""
        await self.activate_pending(cred, email, password=password, tenant=tenant)
        token = await self.last_token("identity.email_verification_requested", "verification_url")
        response = await self.post("/v1/email/verify", {"token": token}, tenant=tenant)
        assert response.status == 200, await response.text()

    async def login(self, email: str, password: str = STRONG_PASSWORD, **kw):
        return await self.post("/v1/login", {"email": email, "password": password}, **kw)

    async def sql(self, query: str, *args):
        conn = await asyncpg.connect(self.dsn)
        try:
            return await conn.fetch(query, *args)
        finally:
            await conn.close()


@pytest.fixture
def identity_settings_overrides() -> dict:
    return {}


@pytest.fixture
async def identity(fresh_database, aiohttp_client, identity_settings_overrides) -> Identity:
    await migrate(fresh_database, TRACKS)
    settings = IdentitySettings(database_url=fresh_database, tenancy_url=None, environment="test",
                                public_base_url="https://www.moncompte.test",
                                **{**CHEAP_ARGON2, **identity_settings_overrides})
    clock = FrozenClock()
    client = await aiohttp_client(create_app(settings, clock=clock, with_broker=False))
    return Identity(client, clock, settings, fresh_database, Tenant())


def unique_email(prefix: str = "proprio") -> str:
    return f"{prefix}.{uuid.uuid4().hex[:8]}@exemple.fr"
