"""Login, sessions, forgotten password, reset and change: everything after activation."""

from __future__ import annotations

import uuid
from datetime import timedelta

from common.logging import get_logger
from services.identity import mfa
from services.identity import repository as sql
from services.identity.core import (
    Attempt,
    Caller,
    Deps,
    audit,
    event,
    hit_window,
    ip_window_key,
    link_url,
    lock_ip_window,
    person_gate,
    refund_attempt,
    refund_ip_attempt,
    reserve_attempt,
    reserve_ip_attempt,
)
from services.identity.domain import (
    PERSON_NAMING_CREDENTIAL_STATES,
    InvalidEmail,
    credential_state,
    email_key,
    new_secret,
    normalise_email,
    normalise_login,
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


async def login(deps: Deps, caller: Caller, *, email: str, password: str) -> dict:
    """Open a session. Unknown email, wrong password, unverified or locked: one answer, same cost."""
    now = deps.clock.now()
    try:
        key = email_key(normalise_email(email))
    except InvalidEmail:
        key = None
    person = await deps.pool.fetchrow(sql.LOGIN_LOOKUP, key)
    if person is not None and person["id"] is None:
        person = None
    attempt = await _reserve_login(deps, caller, person, now)
    password = normalise_password(password)
    try:
        matches, rehash = await deps.verify(person["password_hash"] if person else None, password)
    except Busy:
        await _refund_login(deps, caller, attempt)  # never tried: nothing to count
        deps.logins.labels("busy").inc()
        raise
    usable = (person is not None and attempt.allowed and person["email_verified_at"] is not None
              and person["status"] == "active")
    if not (matches and usable):
        await _login_failed(deps, caller, person, attempt, matches=matches)
        deps.logins.labels("invalid").inc()
        raise InvalidCredentials()
    if rehash:
        await deps.pool.execute(sql.REHASH_PERSON, person["id"], await deps.hash(password))
    if person["has_factor"]:  # the password was right: the second factor opens the session
        await _refund_login(deps, caller, attempt)
        return await mfa.login_challenge(deps, caller, person)
    if person["tenant_ids"] and await mfa.factor_required(deps, person["id"], person["tenant_ids"]):
        # An agency of the person requires a factor they have not got: enrol first, then the session.
        await _refund_login(deps, caller, attempt)
        return await mfa.login_challenge(deps, caller, person, purpose="enrol")
    await refund_ip_attempt(deps.pool, caller)  # the session's statement clears the person's count
    return await open_session(deps, caller, person)


async def _reserve_login(deps: Deps, caller: Caller, person, now) -> Attempt:
    """The attempt counted for the IP and the person before the hash (429 when the IP is over its
    limit). An unknown email gets the same transaction, so it costs the same."""
    async with deps.pool.acquire() as conn, conn.transaction():
        await reserve_ip_attempt(conn, deps, caller, now)
        if person is None:
            return Attempt(False)
        return await reserve_attempt(conn, deps, person["id"], now)


async def _refund_login(deps: Deps, caller: Caller, attempt: Attempt) -> None:
    async with deps.pool.acquire() as conn, conn.transaction():
        await refund_ip_attempt(conn, caller)
        await refund_attempt(conn, attempt)


async def _login_failed(deps: Deps, caller: Caller, person, attempt: Attempt, *, matches: bool) -> None:
    """Audit a refused login (already counted by the reservation); a right password refused for
    another reason (unverified, disabled) gives the person's count back, as it is no guess."""
    if person is None:
        return
    reason = ("locked" if not attempt.allowed else "wrong_password" if not matches
              else "unverified" if person["email_verified_at"] is None else "disabled")
    async with deps.pool.acquire() as conn, conn.transaction():
        if reason in ("unverified", "disabled"):
            await refund_attempt(conn, attempt)
        if reason == "wrong_password" and attempt.locks:
            await audit(conn, deps, "person_locked", tenant_id=caller.tenant_id, person_id=person["id"],
                        ip=caller.ip)
        await audit(conn, deps, "login_failed", tenant_id=caller.tenant_id, person_id=person["id"],
                    ip=caller.ip, reason=reason)


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
    """The live criteria for a form: the caller's tenant's minimum length, or for a logged-in
    person (pid claim) the strictest of their agencies' and the tenant's, as a change applies it."""
    person_id = _uuid_or_none(caller.person_id)
    min_length = (await _min_length(deps, caller, person_id) if person_id is not None
                  else await deps.tenants.min_length(caller.tenant_id))
    return check_password(password, min_length=min_length,
                          max_length=deps.settings.password_max_length, email=email, confirmation=confirmation)


async def _min_length(deps: Deps, caller: Caller, person_id) -> int:
    """The strictest minimum length among the person's agencies and the page's.

    A session (and a reset link asked for at any agency's page) works at every agency's URL: the
    page's agency alone would let any agency's URL lower the rule of the person's own agencies.
    """
    tenant_ids = {str(r["tenant_id"]) for r in await deps.pool.fetch(sql.PERSON_TENANTS, person_id)}
    tenant_ids.add(caller.tenant_id)
    return max([await deps.tenants.min_length(tenant_id) for tenant_id in tenant_ids])


async def _checked_new_password(deps: Deps, caller: Caller, *, person_id, password: str, confirmation: str,
                                email: str) -> str:
    result = check_password(password, min_length=await _min_length(deps, caller, person_id),
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
    # A second step (login or enrolment) was opened by whoever knew the old password: left alive,
    # it would still open a session after the change (an enrolment even with their own app).
    await conn.execute(sql.END_PERSON_CHALLENGES, person["id"], now)
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
    async with deps.pool.acquire() as conn, conn.transaction():
        attempt = await reserve_attempt(conn, deps, person_id, now)
    if attempt.person is None:
        raise InvalidCredentials()
    if not attempt.allowed:
        raise TooManyRequests(attempt.retry_after)
    person = attempt.person
    try:
        new_hash = await _checked_new_password(deps, caller, person_id=person_id, password=new_password,
                                               confirmation=confirmation, email=person["email"])
        matches, _ = await deps.verify(person["password_hash"], normalise_password(old_password))
    except (PasswordPolicy, ConfirmationMismatch, Busy):
        await refund_attempt(deps.pool, attempt)  # the old password was not tried
        raise
    async with deps.pool.acquire() as conn, conn.transaction():
        if not matches:
            if attempt.locks:
                await audit(conn, deps, "person_locked", tenant_id=caller.tenant_id, person_id=person_id,
                            ip=caller.ip)
            await audit(conn, deps, "password_change_failed", tenant_id=caller.tenant_id, person_id=person_id,
                        ip=caller.ip)
        else:
            # The new password clears the count, the reservation's included.
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
    async with deps.pool.acquire() as conn, conn.transaction():
        # The IP window and the person's row stay locked until this code is counted: simultaneous
        # codes queue, and each sees the failures of the ones before it (limits read earlier and
        # counted later let a burst through).
        await lock_ip_window(conn, deps, caller, now)
        person = await conn.fetchrow(sql.PERSON_BY_ID_FOR_UPDATE, person_id)
        gate = person_gate(deps, person, now)
        if not gate.allowed:
            raise TooManyRequests(gate.retry_after)
        ok = await mfa.check_code(conn, deps, caller, person, code)
        if not ok:
            await mfa.count_code_failure(conn, deps, caller, person_id, where="reset")
            ip_key = ip_window_key(caller)
            if ip_key:
                await hit_window(conn, ip_key, now=now, limit=deps.settings.ip_failure_limit,
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
    new_hash = await _checked_new_password(deps, caller, person_id=peek["person_id"], password=password,
                                           confirmation=confirmation, email=peek["email"])
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
