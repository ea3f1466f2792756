"""Login, sessions, forgotten password, reset and change: everything after activation."""

from __future__ import annotations

import uuid
from datetime import timedelta

from common.logging import get_logger
from services.identity import mfa
from services.identity import repository as sql
from services.identity.core import Caller, Deps, audit, event, hit_window, link_url, person_gate
from services.identity.domain import (
    PERSON_NAMING_CREDENTIAL_STATES,
    InvalidEmail,
    Window,
    credential_state,
    email_key,
    login_failure,
    new_secret,
    normalise_email,
    normalise_login,
    window_hit,
)
from services.identity.errors import (
    Busy,
    ConfirmationMismatch,
    Forbidden,
    InvalidCredentials,
    InvalidMfaCode,
    InvalidSession,
    InvalidToken,
    PasswordPolicy,
    TooManyRequests,
)
from services.identity.policy import PolicyResult, check_password, normalise_password

log = get_logger(__name__)


def _ip_key(caller: Caller) -> str | None:
    # Without an ip claim there is no client to limit (a shared "unknown" bucket would let one
    # misbehaving caller lock everybody out).
    return f"login-ip:{caller.ip}" if caller.ip else None


async def login(deps: Deps, caller: Caller, *, email: str, password: str) -> dict:
    """Open a session. Unknown email, wrong password, unverified or locked: one answer, same cost."""
    s = deps.settings
    now = deps.clock.now()
    try:
        key = email_key(normalise_email(email))
    except InvalidEmail:
        key = None
    # One round trip: the person (if any) and this IP's failure window.
    row = await deps.pool.fetchrow(sql.LOGIN_LOOKUP, key, _ip_key(caller))
    _refuse_limited_ip(deps, row["ip_count"], row["ip_started_at"], now)
    person = row if row["id"] is not None else None
    gate = None
    if person is not None:
        gate = person_gate(deps, person, now)
    password = normalise_password(password)
    try:
        matches, rehash = await deps.verify(person["password_hash"] if person else None, password)
    except Busy:
        deps.logins.labels("busy").inc()
        raise
    usable = (person is not None and gate.allowed and person["email_verified_at"] is not None
              and person["status"] == "active")
    failed = not (matches and usable)
    if failed:  # the success path needs no connection held nor an (empty) BEGIN/COMMIT
        async with deps.pool.acquire() as conn, conn.transaction():
            if _ip_key(caller):
                await hit_window(conn, _ip_key(caller), now=now, limit=s.ip_failure_limit,
                                 period_seconds=s.ip_failure_window_seconds)
            if person is not None:
                reason = ("locked" if not gate.allowed else "wrong_password" if not matches
                          else "unverified" if person["email_verified_at"] is None else "disabled")
                if reason == "wrong_password":
                    await _count_failure(conn, deps, caller, person)
                await audit(conn, deps, "login_failed", tenant_id=caller.tenant_id, person_id=person["id"],
                            ip=caller.ip, reason=reason)
        deps.logins.labels("invalid").inc()
        raise InvalidCredentials()
    if rehash:
        await deps.pool.execute(sql.REHASH_PERSON, person["id"], await deps.hash(password))
    if person["has_factor"]:  # the password was right: the second factor opens the session
        return await mfa.login_challenge(deps, caller, person)
    if person["tenant_ids"] and await mfa.factor_required(deps, person["id"], person["tenant_ids"]):
        # An agency of the person requires a factor they have not got: enrol first, then the session.
        return await mfa.login_challenge(deps, caller, person, purpose="enrol")
    return await open_session(deps, caller, person)


def _refuse_limited_ip(deps: Deps, count: int | None, started_at, now) -> None:
    if count:
        _, retry_after = window_hit(Window(count, started_at), now=now, limit=deps.settings.ip_failure_limit,
                                    period_seconds=deps.settings.ip_failure_window_seconds)
        if retry_after is not None:
            deps.logins.labels("ip_limited").inc()
            raise TooManyRequests(retry_after)


async def ip_limit(deps: Deps, caller: Caller, now) -> None:
    """429 when this IP is over its failure window (the second factor shares the login's window)."""
    if _ip_key(caller):
        row = await deps.pool.fetchrow(sql.WINDOW_BY_KEY, _ip_key(caller))
        if row is not None:
            _refuse_limited_ip(deps, row["count"], row["started_at"], now)


async def open_session(deps: Deps, caller: Caller, person) -> dict:
    """A new session for ``person`` (``id``, ``person_id`` or both; ``last_login_at``)."""
    now = deps.clock.now()
    person_id = person["person_id"] if "person_id" in person.keys() else person["id"]
    session_id = new_secret(32)
    # One statement (atomic by itself): the login path is hash-bound, every round trip saved counts.
    await deps.pool.execute(sql.LOGIN_SUCCEEDED, deps.hash_token(session_id), new_secret(12), person_id, now,
                            _uuid_or_none(caller.tenant_id), caller.ip, person["last_login_at"])
    log.info("identity.audit", kind="login_succeeded", tenant_id=caller.tenant_id, person_id=str(person_id))
    deps.logins.labels("success").inc()
    return {"session_id": session_id, "person_id": str(person_id)}


async def _count_failure(conn, deps: Deps, caller: Caller, person) -> None:
    s = deps.settings
    now = deps.clock.now()
    current = await conn.fetchrow(sql.PERSON_BY_ID_FOR_UPDATE, person["id"])
    failures, locked_until = login_failure(failures=current["failed_logins"], locked_until=current["locked_until"],
                                           now=now, lock_after=s.login_lock_after_failures,
                                           lock_seconds=s.login_lock_seconds)
    await conn.execute(sql.PERSON_LOGIN_FAILED, person["id"], failures, locked_until, now)
    if locked_until is not None and locked_until != current["locked_until"]:
        await audit(conn, deps, "person_locked", tenant_id=caller.tenant_id, person_id=person["id"], ip=caller.ip)


def _uuid_or_none(value):
    try:
        return uuid.UUID(str(value)) if value else None
    except ValueError:
        return None


async def introspect(deps: Deps, session_id: str) -> dict:
    """The session's person, email and linked accounts; refreshes the idle expiry (at most once a
    ``session_touch_seconds``: every page view asks, and a read waits for no WAL flush)."""
    s = deps.settings
    now = deps.clock.now()
    row = await deps.pool.fetchrow(sql.INTROSPECT_SESSION, deps.hash_token(session_id), now,
                                   now - timedelta(seconds=s.session_idle_seconds),
                                   now - timedelta(seconds=s.session_absolute_seconds),
                                   now - timedelta(seconds=s.session_touch_seconds))
    if row is None:
        raise InvalidSession()
    links = zip(row["tenant_ids"] or (), row["account_ids"] or (), row["roles"] or (), row["linked_ats"] or (),
                strict=True)
    return {
        "person_id": str(row["person_id"]),
        "email": row["email"],
        "session_ref": row["ref"],
        "accounts": [{"tenant_id": str(tenant_id), "account_id": str(account_id), "role": role,
                      "linked_at": linked_at.isoformat()} for tenant_id, account_id, role, linked_at in links],
        "previous_login_at": row["previous_login_at"].isoformat() if row["previous_login_at"] else None,
    }


async def logout(deps: Deps, session_id: str) -> None:
    """End one session (idempotent)."""
    await deps.pool.execute(sql.END_SESSION, deps.hash_token(session_id), deps.clock.now())


def _require_person(caller: Caller) -> uuid.UUID:
    person_id = _uuid_or_none(caller.person_id)
    if person_id is None:
        raise Forbidden("The pid claim is required")
    return person_id


async def list_sessions(deps: Deps, caller: Caller) -> dict:
    """The person's live sessions, the current one flagged."""
    s = deps.settings
    now = deps.clock.now()
    rows = await deps.pool.fetch(sql.LIST_SESSIONS, _require_person(caller),
                                 now - timedelta(seconds=s.session_idle_seconds),
                                 now - timedelta(seconds=s.session_absolute_seconds))
    return {"sessions": [{"ref": r["ref"], "created_at": r["created_at"].isoformat(),
                          "last_seen_at": r["last_seen_at"].isoformat(), "ip": r["ip"],
                          "current": r["ref"] == caller.session_ref} for r in rows]}


async def end_other_sessions(deps: Deps, caller: Caller) -> dict:
    """End every session of the person except the current one."""
    result = await deps.pool.execute(sql.END_PERSON_SESSIONS, _require_person(caller), deps.clock.now(),
                                     caller.session_ref)
    return {"ended": int(result.split()[-1])}


async def policy(deps: Deps, caller: Caller, *, password: str, confirmation: str | None, email: str | None
                 ) -> PolicyResult:
    """The live criteria for a form (min length of the caller's tenant)."""
    return check_password(password, min_length=await deps.tenants.min_length(caller.tenant_id),
                          max_length=deps.settings.password_max_length, email=email, confirmation=confirmation)


async def _checked_new_password(deps: Deps, caller: Caller, *, password: str, confirmation: str, email: str) -> str:
    result = check_password(password, min_length=await deps.tenants.min_length(caller.tenant_id),
                            max_length=deps.settings.password_max_length, email=email)
    if not result.ok:
        body = result.to_json()
        raise PasswordPolicy(criteria=body["criteria"], problems=body["problems"])
    if normalise_password(confirmation) != normalise_password(password):
        raise ConfirmationMismatch()
    return await deps.hash(normalise_password(password))


async def _password_changed(conn, deps: Deps, caller: Caller, person, *, reason: str, keep_ref: str | None) -> None:
    now = deps.clock.now()
    await conn.execute(sql.SUPERSEDE_TOKENS, person["id"], "reset_password", now)
    await conn.execute(sql.END_PERSON_SESSIONS, person["id"], now, keep_ref)
    await event(conn, deps, "identity.password_changed", {
        "person_id": person["id"], "email": person["email"], "tenant_id": caller.tenant_id,
        "reason": reason, "changed_at": now,
    }, tenant_id=caller.tenant_id, caller=caller)
    await audit(conn, deps, f"password_{reason}", tenant_id=caller.tenant_id, person_id=person["id"], ip=caller.ip)


async def change_password(deps: Deps, caller: Caller, *, old_password: str, new_password: str,
                          confirmation: str) -> None:
    """Change with the old password; the current session stays, the others end."""
    person_id = _require_person(caller)
    now = deps.clock.now()
    person = await deps.pool.fetchrow(sql.PERSON_BY_ID, person_id)
    if person is None:
        raise InvalidCredentials()
    gate = person_gate(deps, person, now)
    if not gate.allowed:
        raise TooManyRequests(gate.retry_after)
    new_hash = await _checked_new_password(deps, caller, password=new_password, confirmation=confirmation,
                                           email=person["email"])
    matches, _ = await deps.verify(person["password_hash"], normalise_password(old_password))
    async with deps.pool.acquire() as conn, conn.transaction():
        if not matches:
            await _count_failure(conn, deps, caller, person)
            await audit(conn, deps, "password_change_failed", tenant_id=caller.tenant_id, person_id=person_id,
                        ip=caller.ip)
        else:
            await conn.execute(sql.SET_PERSON_PASSWORD, person_id, new_hash, now)
            await _password_changed(conn, deps, caller, person, reason="change", keep_ref=caller.session_ref)
            return
    raise InvalidCredentials()


async def forgot_password(deps: Deps, caller: Caller, identifier: str) -> None:
    """Send a reset link to the verified email of the person meant; silent in every other case."""
    s = deps.settings
    now = deps.clock.now()
    identifier = identifier.strip()
    async with deps.pool.acquire() as conn, conn.transaction():
        if caller.ip and await hit_window(conn, f"forgot-ip:{caller.ip}", now=now, limit=s.forgot_per_ip_per_hour,
                                          period_seconds=3600) is not None:
            log.info("forgot.ip_limited")
            return
        if not (caller.tenant_id and caller.client_code and caller.societe_code):
            log.warning("forgot.missing_tenant_claims")
            return
        person = await _person_for_identifier(conn, identifier, tenant_id=caller.tenant_id, now=now)
        if person is None:
            return
        if await hit_window(conn, f"forgot-person:{person['id']}", now=now, limit=s.forgot_per_target_per_hour,
                            period_seconds=3600) is not None:
            log.info("forgot.target_limited")
            return
        token = new_secret(32)
        expires_at = now + timedelta(seconds=s.reset_token_ttl_seconds)
        await conn.execute(sql.SUPERSEDE_TOKENS, person["id"], "reset_password", now)
        await conn.execute(sql.INSERT_TOKEN, deps.hash_token(token), "reset_password", person["id"], person["email"],
                           _uuid_or_none(caller.tenant_id), now, expires_at)
        url = link_url(s.public_base_url, "/password/reset", client=caller.client_code,
                       societe=caller.societe_code, token=token)
        await event(conn, deps, "identity.password_reset_requested", {
            "person_id": person["id"], "email": person["email"], "tenant_id": caller.tenant_id,
            "reset_url": url, "expires_at": expires_at,
        }, tenant_id=caller.tenant_id, caller=caller)
        await audit(conn, deps, "password_reset_requested", tenant_id=caller.tenant_id, person_id=person["id"],
                    ip=caller.ip)


async def _person_for_identifier(conn, identifier: str, *, tenant_id: str, now):
    """The verified person an email or a provisional identifier names, or None.

    A provisional identifier names someone only at its own tenant's page, only once it was used
    (activated or merged), and only while its account is still linked to the person who used it:
    a revoked, expired or never-used letter, or one whose account was unlinked, names nobody.
    """
    if "@" in identifier:
        try:
            return await conn.fetchrow(sql.VERIFIED_PERSON_BY_EMAIL, email_key(normalise_email(identifier)))
        except InvalidEmail:
            return None
    cred = await conn.fetchrow(sql.CREDENTIAL_BY_LOGIN, normalise_login(identifier))
    if cred is None or str(cred["tenant_id"]) != tenant_id or cred["person_id"] is None:
        return None
    if credential_state(cred["status"], cred["expires_at"], now) not in PERSON_NAMING_CREDENTIAL_STATES:
        return None
    link = await conn.fetchrow(sql.LINK_BY_ACCOUNT, cred["account_id"])
    if link is None or link["status"] != "active" or link["person_id"] != cred["person_id"]:
        return None
    person = await conn.fetchrow(sql.PERSON_BY_ID, link["person_id"])
    return person if person is not None and person["email_verified_at"] is not None else None


async def _reset_second_factor(deps: Deps, caller: Caller, person_id, code: str) -> None:
    now = deps.clock.now()
    await ip_limit(deps, caller, now)
    person = await deps.pool.fetchrow(sql.PERSON_BY_ID, person_id)
    gate = person_gate(deps, person, now)
    if not gate.allowed:
        raise TooManyRequests(gate.retry_after)
    async with deps.pool.acquire() as conn, conn.transaction():
        ok = await mfa.check_code(conn, deps, caller, person, code)
        if not ok:
            await mfa.count_code_failure(conn, deps, caller, person_id, where="reset")
            if _ip_key(caller):
                await hit_window(conn, _ip_key(caller), now=now, limit=deps.settings.ip_failure_limit,
                                 period_seconds=deps.settings.ip_failure_window_seconds)
    if not ok:
        raise InvalidMfaCode()


async def check_reset_token(deps: Deps, token: str) -> dict:
    """The email a reset token is for, without consuming it."""
    row = await deps.pool.fetchrow(sql.PEEK_TOKEN, deps.hash_token(token), "reset_password", deps.clock.now())
    if row is None:
        raise InvalidToken()
    # A reset never bypasses the second factor: the form asks for a code when the person has one.
    has_factor = await deps.pool.fetchval(sql.PERSON_HAS_FACTOR, row["person_id"])
    return {"email": row["email"], "mfa_required": bool(has_factor), "person_id": row["person_id"]}


async def reset_password(deps: Deps, caller: Caller, *, token: str, password: str, confirmation: str,
                         code: str | None = None) -> None:
    """Consume a reset token and set the password; every session ends and any lock is lifted.

    A person with a second factor also gives a code (authenticator or recovery): the emailed link
    alone never opens an account that has one. A wrong code counts like a wrong password.
    """
    peek = await check_reset_token(deps, token)
    new_hash = await _checked_new_password(deps, caller, password=password, confirmation=confirmation,
                                           email=peek["email"])
    now = deps.clock.now()
    if peek["mfa_required"]:
        await _reset_second_factor(deps, caller, peek["person_id"], code or "")
    async with deps.pool.acquire() as conn, conn.transaction():
        found = await conn.fetchrow(sql.CONSUME_TOKEN, deps.hash_token(token), "reset_password", now)
        if found is None:
            raise InvalidToken()
        person = await conn.fetchrow(sql.PERSON_BY_ID_FOR_UPDATE, found["person_id"])
        await conn.execute(sql.SET_PERSON_PASSWORD, person["id"], new_hash, now)
        tenant_caller = caller if caller.tenant_id else Caller(
            tenant_id=str(found["tenant_id"]) if found["tenant_id"] else None, ip=caller.ip,
            request_id=caller.request_id)
        await _password_changed(conn, deps, tenant_caller, person, reason="reset", keep_ref=None)
