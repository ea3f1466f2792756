"""What every identity use case shares: its dependencies, the caller, audit, events, windows."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

import asyncpg
from prometheus_client import Counter

from common.clock import Clock
from common.events import write_event
from common.internal_auth import InternalClaims
from common.logging import get_logger
from services.identity import repository as sql
from services.identity.domain import (
    LoginGate,
    Window,
    hash_provisional_password,
    hash_secret,
    is_keyed_provisional_hash,
    login_gate,
    provisional_password_matches,
    window_hit,
)
from services.identity.errors import Busy
from services.identity.factors import SecretBox
from services.identity.hashing import Hasher, HasherBusy
from services.identity.settings import IdentitySettings
from services.identity.tenants import TenantPolicy

log = get_logger(__name__)


@dataclass
class Deps:
    """Everything a use case needs, built once per app."""

    pool: asyncpg.Pool
    hasher: Hasher
    clock: Clock
    settings: IdentitySettings
    tenants: TenantPolicy
    token_key: bytes = field(repr=False, default=b"")
    # Seals the authenticator secrets (IDENTITY_MFA_KEY).
    secret_box: SecretBox | None = field(repr=False, default=None)
    # Login outcomes (success, invalid, ip_limited, busy); on the app's registry when served.
    logins: Counter = field(default_factory=lambda: Counter("identity_logins", "Logins by outcome", ["outcome"],
                                                            registry=None))

    def hash_token(self, raw: str) -> bytes:
        return hash_secret(self.token_key, raw)

    async def verify(self, stored: str | None, password: str) -> tuple[bool, bool]:
        try:
            return await self.hasher.verify(stored, password)
        except HasherBusy:
            raise Busy(1) from None

    async def hash(self, password: str) -> str:
        try:
            return await self.hasher.hash(password)
        except HasherBusy:
            raise Busy(1) from None

    def hash_provisional(self, password: str) -> str:
        """A keyed hash, microseconds: a bulk issuance never queues work ahead of logins."""
        return hash_provisional_password(self.token_key, password)

    async def verify_provisional(self, stored: str | None, password: str) -> bool:
        """A provisional password against its stored hash, by the hash's format: the keyed one at once
        (an unknown identifier, ``stored=None``, against a dummy of that format); argon2id, of letters
        issued before the keyed format, through the hasher (bounded like a login)."""
        if stored is None or is_keyed_provisional_hash(stored):
            return provisional_password_matches(self.token_key, stored, password)
        matches, _ = await self.verify(stored, password)
        return matches


@dataclass(frozen=True)
class Caller:
    """Who calls, from the internal token's claims."""

    tenant_id: str | None = None
    client_code: str | None = None
    societe_code: str | None = None
    ip: str | None = None
    request_id: str | None = None
    person_id: str | None = None
    session_ref: str | None = None
    actor: str | None = None
    staff_id: str | None = None  # a console user acting for the agency (``sid``), with their ``srole``
    staff_role: str | None = None

    @classmethod
    def from_claims(cls, claims: InternalClaims) -> Caller:
        return cls(tenant_id=claims.get("tid"), client_code=claims.get("tcc"), societe_code=claims.get("tsc"),
                   ip=claims.get("ip"), request_id=claims.get("rid"), person_id=claims.get("pid"),
                   session_ref=claims.get("sref"), actor=claims.get("act"), staff_id=claims.get("sid"),
                   staff_role=claims.get("srole"))


def person_gate(deps: Deps, person, now: datetime) -> LoginGate:
    """Whether a person's password may be tried now (login, merge and password change share it)."""
    return login_gate(failures=person["failed_logins"], last_failed_at=person["last_failed_at"],
                      locked_until=person["locked_until"], now=now,
                      delay_after=deps.settings.login_delay_after_failures,
                      max_delay=deps.settings.login_max_delay_seconds)


def link_url(base: str, path: str, *, client: str, societe: str, token: str) -> str:
    """An email link carrying the tenant's codes (never built from request headers)."""
    return f"{base.rstrip('/')}{path}?{urlencode({'client': client, 'societe': societe, 'token': token})}"


async def audit(conn: asyncpg.Connection, deps: Deps, kind: str, *, tenant_id=None, person_id=None,
                account_id=None, ip: str | None = None, staff_id=None, **detail: Any) -> None:
    """Record one security event (never a secret in ``detail``); ``staff_id``: the console user who acted."""
    await conn.execute(sql.INSERT_AUDIT, deps.clock.now(), _uuid(tenant_id), _uuid(person_id), _uuid(account_id),
                       kind, ip, detail, _uuid(staff_id))
    log.info("identity.audit", kind=kind, tenant_id=str(tenant_id) if tenant_id else None,
             person_id=str(person_id) if person_id else None)


async def event(conn: asyncpg.Connection, deps: Deps, type_: str, payload: dict, *, tenant_id,
                caller: Caller | None = None) -> None:
    """Write an event to the outbox inside the caller's transaction."""
    await write_event(conn, type=type_, payload=_jsonable(payload), tenant_id=tenant_id,
                      correlation_id=caller.request_id if caller else None, occurred_at=deps.clock.now())


async def hit_window(conn: asyncpg.Connection, key: str, *, now: datetime, limit: int, period_seconds: int
                     ) -> int | None:
    """Count one hit on the window ``key``; return ``retry_after`` when over the limit."""
    await conn.execute(sql.ENSURE_WINDOW, key, now)
    row = await conn.fetchrow(sql.WINDOW_FOR_UPDATE, key)
    current = Window(row["count"], row["started_at"]) if row["count"] else None
    new, retry_after = window_hit(current, now=now, limit=limit, period_seconds=period_seconds)
    if retry_after is None:
        await conn.execute(sql.SAVE_WINDOW, key, new.count, new.started_at, now)
    return retry_after


def _uuid(value) -> uuid.UUID | None:
    if value is None or isinstance(value, uuid.UUID):
        return value
    try:
        return uuid.UUID(str(value))
    except ValueError:
        return None


def _jsonable(payload: dict) -> dict:
    out = {}
    for key, value in payload.items():
        if isinstance(value, uuid.UUID):
            value = str(value)
        elif isinstance(value, datetime):
            value = value.isoformat()
        out[key] = value
    return out
