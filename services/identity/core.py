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
    login_failure,
    login_gate,
    provisional_password_matches,
    window_hit,
)
from services.identity.errors import Busy, TooManyRequests
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


@dataclass(frozen=True)
class Attempt:
    """A password attempt on a person, decided before its hash (see :func:`reserve_attempt`).

    ``allowed``: the gate let it be tried, and it is already counted as a failure; ``locks``: that
    failure locked the person; ``person``: the row as the reservation read it (locked, current).
    """

    allowed: bool
    retry_after: int = 0
    locks: bool = False
    person: Any = None
    before: tuple = ()
    after: tuple = ()
    queries: sql.AttemptQueries = sql.PERSON_ATTEMPTS  # the table gated: persons, or staff


async def reserve_attempt(conn: asyncpg.Connection, deps: Deps, person_id, now: datetime, *,
                          queries: sql.AttemptQueries = sql.PERSON_ATTEMPTS) -> Attempt:
    """Inside the caller's transaction, before a password is hashed: the person's row locked, the
    gate read from it and, when open, the attempt counted as a failure at once.

    Checking a stale gate and counting after the ~50 ms hash let simultaneous attempts all pass:
    queued on the row, each attempt now sees the ones before it, so a burst gets no more tries than
    the growing delay and the lock allow. A right password gives its count back (:func:`refund_attempt`).
    ``queries``: a staff member's row (``sql.STAFF_ATTEMPTS``) is gated the same way.
    """
    person = await conn.fetchrow(queries.row_for_update, person_id)
    if person is None:  # gone meanwhile: nothing to try
        return Attempt(False)
    gate = person_gate(deps, person, now)
    if not gate.allowed:
        return Attempt(False, gate.retry_after, person=person)
    failures, locked_until = login_failure(failures=person["failed_logins"], locked_until=person["locked_until"],
                                           now=now, lock_after=deps.settings.login_lock_after_failures,
                                           lock_seconds=deps.settings.login_lock_seconds)
    await conn.execute(queries.failed, person_id, failures, locked_until, now)
    return Attempt(True, locks=locked_until is not None and locked_until != person["locked_until"], person=person,
                   before=(person["failed_logins"], person["last_failed_at"], person["locked_until"]),
                   after=(failures, now, locked_until), queries=queries)


async def refund_attempt(executor, attempt: Attempt | None) -> None:
    """Give back the failure counted by ``attempt`` (a right password, or a hash that never ran).

    Only if no other attempt was counted since: under a simultaneous burst the right password then
    stays one failure, which errs on the safe side.
    """
    if attempt is not None and attempt.allowed:
        await executor.execute(attempt.queries.refund, attempt.person["id"], *attempt.before, *attempt.after)


def ip_window_key(caller: Caller, prefix: str = "login-ip") -> str | None:
    """The failure window of the caller's IP, shared by every way of proving who one is (a person);
    the console's staff login has its own (``prefix="staff-login-ip"``)."""
    # Without an ip claim there is no client to limit (a shared "unknown" bucket would let one
    # misbehaving caller lock everybody out).
    return f"{prefix}:{caller.ip}" if caller.ip else None


async def reserve_ip_attempt(conn: asyncpg.Connection, deps: Deps, caller: Caller, now: datetime, *,
                             prefix: str = "login-ip") -> None:
    """Count one attempt in the caller's IP window before its hash; :class:`TooManyRequests` once full.

    Counted first, so that simultaneous attempts cannot all read the same count: the window holds
    at most the limit, the attempts still being hashed included. A right one gives it back
    (:func:`refund_ip_attempt`): the limit counts failures.
    """
    key = ip_window_key(caller, prefix)
    if key is None:
        return
    retry_after = await hit_window(conn, key, now=now, limit=deps.settings.ip_failure_limit,
                                   period_seconds=deps.settings.ip_failure_window_seconds)
    if retry_after is not None:
        deps.logins.labels("ip_limited").inc()
        raise TooManyRequests(retry_after)


async def refund_ip_attempt(executor, caller: Caller, *, prefix: str = "login-ip") -> None:
    """Give back the hit of :func:`reserve_ip_attempt` (the attempt was right, or never ran)."""
    key = ip_window_key(caller, prefix)
    if key is not None:
        await executor.execute(sql.WINDOW_REFUND, key)


async def lock_ip_window(conn: asyncpg.Connection, deps: Deps, caller: Caller, now: datetime) -> None:
    """:class:`TooManyRequests` if the caller's IP window is full; otherwise the window stays locked
    until the caller's transaction ends, so that a failure counted in it (``hit_window``) by the same
    transaction cannot be overtaken by a simultaneous check. For cheap checks (codes), done with
    the transaction open; password checks use :func:`reserve_ip_attempt` instead."""
    key = ip_window_key(caller)
    if key is None:
        return
    await conn.execute(sql.ENSURE_WINDOW, key, now)
    row = await conn.fetchrow(sql.WINDOW_FOR_UPDATE, key)
    current = Window(row["count"], row["started_at"]) if row["count"] else None
    _, retry_after = window_hit(current, now=now, limit=deps.settings.ip_failure_limit,
                                period_seconds=deps.settings.ip_failure_window_seconds)
    if retry_after is not None:
        deps.logins.labels("ip_limited").inc()
        raise TooManyRequests(retry_after)


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
