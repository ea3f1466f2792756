"""Fixtures of the notifier's integration tests: a migrated database, the SMTP sink, and small
real aiohttp servers standing in for tenancy and identity, built from docs/internal-api.md."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import aiohttp
import pytest
from aiohttp import web

from common.clock import FrozenClock
from common.db import create_pool, migrate
from common.events import Envelope
from common.internal_auth import verify_token
from services.notifier.__main__ import TRACKS
from services.notifier.clients import IdentityClient, TenancyClient
from services.notifier.service import Notifier
from services.notifier.settings import NotifierSettings
from services.notifier.smtp import SmtpSender

SECRET = "test-internal-secret-0123456789abcdef"
PUBLIC_BASE_URL = "http://extranet.test:8080"


def tenant_body(tenant_id: uuid.UUID, **overrides) -> dict:
    body = {
        "id": str(tenant_id), "client_code": "CLI" + tenant_id.hex[:4], "societe_code": "SOC" + tenant_id.hex[4:8],
        "name": "Agence Dupont Immobilier", "kind": "syndic", "status": "active",
        "support": {"email": "aide@dupont-immo.fr", "phone": "01 23 45 67 89", "hours": "Du lundi au vendredi, 9h-18h"},
        "branding": {"primary_color": "#0B6E4F"},
        "settings": {"password_min_length": None, "credential_ttl_days": 30},
    }
    body.update(overrides)
    return body


@dataclass
class Upstreams:
    """What the stand-ins answer, and what they were asked."""

    tenants: dict[str, dict] = field(default_factory=dict)
    # account id -> persons [{"person_id","email"}] linked to it with a verified email
    links: dict[str, list[dict]] = field(default_factory=dict)
    # tenant id -> {account id -> the directory's Account}, as tenancy's /internal/accounts/lookup answers
    accounts: dict[str, dict[str, dict]] = field(default_factory=dict)
    tenant_calls: int = 0
    recipient_calls: list[list[str]] = field(default_factory=list)
    down: bool = False
    tenancy_url: str = ""
    identity_url: str = ""

    def add_tenant(self, **overrides) -> dict:
        body = tenant_body(uuid.uuid4(), **overrides)
        self.tenants[body["id"]] = body
        return body

    def link(self, account_id: uuid.UUID, email: str, person_id: uuid.UUID | None = None) -> uuid.UUID:
        person_id = person_id or uuid.uuid4()
        self.links.setdefault(str(account_id), []).append({"person_id": str(person_id), "email": email})
        return person_id


def _authorised(request: web.Request, audience: str) -> None:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme != "Internal":
        raise web.HTTPUnauthorized()
    claims = verify_token(SECRET, token, audience=audience)
    assert claims.issuer == "notifier"


@pytest.fixture
async def upstreams(aiohttp_server) -> Upstreams:
    state = Upstreams()

    async def get_tenant(request: web.Request) -> web.Response:
        if state.down:
            return web.json_response({"error": "internal_error"}, status=503)
        _authorised(request, "tenancy")
        state.tenant_calls += 1
        body = state.tenants.get(request.match_info["id"])
        if body is None:
            return web.json_response({"error": "not_found", "detail": "Not found"}, status=404)
        return web.json_response(body)

    async def lookup_accounts(request: web.Request) -> web.Response:
        if state.down:
            return web.json_response({"error": "internal_error"}, status=503)
        _authorised(request, "tenancy")
        token = request.headers["Authorization"].partition(" ")[2]
        tenant_accounts = state.accounts.get(verify_token(SECRET, token, audience="tenancy").tenant_id or "", {})
        asked = (await request.json())["account_ids"]
        return web.json_response({"accounts": [tenant_accounts[a] for a in asked if a in tenant_accounts]})

    async def recipients(request: web.Request) -> web.Response:
        if state.down:
            return web.json_response({"error": "internal_error"}, status=503)
        _authorised(request, "identity")
        asked = (await request.json())["account_ids"]
        state.recipient_calls.append(asked)
        persons: dict[str, dict] = {}
        for account_id in asked:
            for person in state.links.get(account_id, []):
                entry = persons.setdefault(person["person_id"], {**person, "account_ids": []})
                entry["account_ids"].append(account_id)
        return web.json_response({"recipients": list(persons.values())})

    tenancy = web.Application()
    tenancy.router.add_get("/internal/tenants/{id}", get_tenant)
    tenancy.router.add_post("/internal/accounts/lookup", lookup_accounts)
    identity = web.Application()
    identity.router.add_post("/internal/recipients", recipients)
    state.tenancy_url = str((await aiohttp_server(tenancy)).make_url("")).rstrip("/")
    state.identity_url = str((await aiohttp_server(identity)).make_url("")).rstrip("/")
    return state


@pytest.fixture
async def notifier_dsn(fresh_database) -> str:
    await migrate(fresh_database, TRACKS)
    return fresh_database


@pytest.fixture
def make_settings(notifier_dsn, upstreams, smtp_sink, amqp_url, exchange_name):
    def make(**overrides) -> NotifierSettings:
        values = dict(
            database_url=notifier_dsn, tenancy_url=upstreams.tenancy_url, identity_url=upstreams.identity_url,
            smtp_host="127.0.0.1", smtp_port=smtp_sink.port, smtp_tls="none", smtp_timeout_seconds=5.0,
            public_base_url=PUBLIC_BASE_URL, internal_auth_secret=SECRET, amqp_url=amqp_url,
            events_exchange=exchange_name, digest_window_seconds=60.0, digest_poll_seconds=0.05,
            retry_delays=(0.3, 0.3, 0.3, 0.3, 0.3), digest_retry_delays=(30.0, 60.0), smtp_pool_size=4,
            db_pool_size=10, port=0,
        )
        values.update(overrides)
        return NotifierSettings(**values)

    return make


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(datetime(2026, 1, 15, 9, 0, tzinfo=UTC))


@pytest.fixture
async def notifier(make_settings, clock):
    """The notifier's use cases wired to the real database, the sink and the stand-ins (no broker)."""
    settings = make_settings()
    pool = await create_pool(settings.database_url)
    session = aiohttp.ClientSession()
    sender = SmtpSender.from_settings(settings)
    service = Notifier(
        pool=pool,
        tenancy=TenancyClient(session, base_url=settings.tenancy_url, secret=SECRET, ttl=300, clock=clock),
        identity=IdentityClient(session, base_url=settings.identity_url, secret=SECRET, timeout=5),
        sender=sender, settings=settings, clock=clock,
    )
    yield service
    await sender.close()
    await session.close()
    await pool.close()


async def handle(notifier: Notifier, envelope: Envelope) -> None:
    """Run the handler as the consumer does: inside one transaction."""
    async with notifier.pool.acquire() as conn, conn.transaction():
        await notifier.handle(conn, envelope)


def envelope(event_type: str, payload: dict, *, tenant_id: str | None = None,
             occurred_at: datetime | None = None, event_id: uuid.UUID | None = None) -> Envelope:
    return Envelope(id=event_id or uuid.uuid4(), type=event_type, version=1,
                    occurred_at=occurred_at or datetime(2026, 1, 15, 9, 0, tzinfo=UTC),
                    tenant_id=tenant_id or payload.get("tenant_id"), correlation_id="req-" + uuid.uuid4().hex[:8],
                    payload=payload)


def verification_payload(tenant: dict, email: str, **overrides) -> dict:
    token = uuid.uuid4().hex
    payload = {
        "person_id": str(uuid.uuid4()), "email": email, "display_name": "Jeanne Martin", "tenant_id": tenant["id"],
        "verification_url": f"{PUBLIC_BASE_URL}/activation/verify?client={tenant['client_code']}"
                            f"&societe={tenant['societe_code']}&token={token}",
        "expires_at": (datetime(2026, 1, 15, 9, 0, tzinfo=UTC) + timedelta(hours=24)).isoformat(),
    }
    payload.update(overrides)
    return payload


def reset_payload(tenant: dict, email: str, **overrides) -> dict:
    payload = {
        "person_id": str(uuid.uuid4()), "email": email, "tenant_id": tenant["id"],
        "reset_url": f"{PUBLIC_BASE_URL}/password/reset?client={tenant['client_code']}"
                     f"&societe={tenant['societe_code']}&token={uuid.uuid4().hex}",
        "expires_at": (datetime(2026, 1, 15, 9, 0, tzinfo=UTC) + timedelta(hours=1)).isoformat(),
    }
    payload.update(overrides)
    return payload


def unique_email(prefix: str = "p") -> str:
    return f"{prefix}.{uuid.uuid4().hex[:10]}@example.org"
