"""The agency's staff: invitation, first password, login, sessions (the agency console).

A staff member works for one tenant with a role (``admin``: staff, keys, branding, help contact;
``gestionnaire``: the rest). The operator invites a tenant's first administrator through the
public API; administrators invite their colleagues. Hashing, the password policy, throttling and
lockout are the persons'; sessions and the cookie are separate, so that a person's session never
opens the console and a console session never shows a person's lots.
"""

from __future__ import annotations

import uuid
from datetime import timedelta

from services.identity import repository as sql
from services.identity.core import (
    Attempt,
    Caller,
    Deps,
    audit,
    event,
    hit_window,
    refund_attempt,
    refund_ip_attempt,
    reserve_attempt,
    reserve_ip_attempt,
)
from services.identity.domain import InvalidEmail, email_key, new_secret, normalise_email
from services.identity.errors import (
    Busy,
    ConfirmationMismatch,
    Forbidden,
    InvalidCredentials,
    InvalidSession,
    InvalidToken,
    PasswordPolicy,
    StaffEmailTaken,
    StaffNotFound,
    TooManyRequests,
)
from services.identity.errors import InvalidEmail as InvalidEmailError
from services.identity.policy import check_password, normalise_password

__all__ = [
    "STAFF_ROLES",
    "accept_invitation",
    "check_invitation",
    "introspect",
    "invite",
    "inviting_tenant",
    "list_staff",
    "login",
    "logout",
    "revoke_invitation",
    "set_status",
]

STAFF_ROLES = ("admin", "gestionnaire")
STAFF_INVITED = "identity.staff_invited"


def inviting_tenant(caller: Caller, body_tenant_id: uuid.UUID | None) -> uuid.UUID:
    """The tenant a staff invitation is for, and whether this caller may invite there.

    The operator names the tenant (its first administrator); an agency (its API key, or an
    administrator in the console) invites into its own tenant only; a gestionnaire does not invite.
    """
    if caller.actor == "operator":
        if body_tenant_id is None:
            raise Forbidden("The operator names the tenant (tenant_id)")
        return body_tenant_id
    if caller.actor != "agency" or not caller.tenant_id:
        raise Forbidden("Agency API key or operator token required")
    if body_tenant_id is not None and str(body_tenant_id) != caller.tenant_id:
        raise Forbidden("An agency invites into its own tenant only")
    if caller.staff_id and caller.staff_role != "admin":
        raise Forbidden("Only an administrator invites colleagues")
    return uuid.UUID(caller.tenant_id)


def _staff_json(row) -> dict:
    return {"id": str(row["id"]), "email": row["email"], "display_name": row["display_name"], "role": row["role"],
            "status": row["status"],
            "activated_at": row["activated_at"].isoformat() if row["activated_at"] else None,
            "last_login_at": row["last_login_at"].isoformat() if row["last_login_at"] else None}


async def invite(deps: Deps, caller: Caller, *, tenant_id: uuid.UUID, email: str, display_name: str,
                 role: str) -> dict:
    """Create (or invite again) a staff member and send the invitation link; 409 if already active."""
    try:
        email = normalise_email(email)
    except InvalidEmail:
        raise InvalidEmailError() from None
    now = deps.clock.now()
    token = new_secret(32)
    expires_at = now + timedelta(seconds=deps.settings.staff_invitation_ttl_seconds)
    async with deps.pool.acquire() as conn, conn.transaction():
        staff_id = await conn.fetchval(sql.INSERT_STAFF, uuid.uuid4(), tenant_id, email, email_key(email),
                                       display_name, role, _uuid_or_none(caller.staff_id), now)
        if staff_id is None:
            existing = await conn.fetchrow(sql.STAFF_BY_EMAIL, tenant_id, email_key(email))
            if existing["status"] != "invited":
                raise StaffEmailTaken()
            staff_id = existing["id"]  # not accepted yet: a new link, the old one dies
            await conn.execute(sql.REINVITE_STAFF, staff_id, display_name, role, _uuid_or_none(caller.staff_id))
        await _count_invitation(conn, deps, tenant_id=tenant_id, staff_id=staff_id, now=now)
        await conn.execute(sql.SUPERSEDE_STAFF_INVITATIONS, staff_id, now)
        await conn.execute(sql.INSERT_STAFF_INVITATION, deps.hash_token(token), staff_id, now, expires_at)
        inviter = await conn.fetchrow(sql.STAFF_BY_ID, _uuid_or_none(caller.staff_id)) if caller.staff_id else None
        await event(conn, deps, STAFF_INVITED, {
            "staff_id": staff_id, "tenant_id": tenant_id, "email": email, "display_name": display_name,
            "role": role, "invited_by": inviter["display_name"] if inviter else None,
            "invitation_token": token, "expires_at": expires_at,
        }, tenant_id=tenant_id, caller=caller)
        await audit(conn, deps, "staff_invited", tenant_id=tenant_id, ip=caller.ip, staff_id=caller.staff_id,
                    invited=str(staff_id), role=role, by=caller.actor)
        row = await conn.fetchrow(sql.STAFF_BY_ID, staff_id)
    return {**_staff_json(row), "invitation_expires_at": expires_at.isoformat()}


async def _count_invitation(conn, deps: Deps, *, tenant_id: uuid.UUID, staff_id: uuid.UUID, now) -> None:
    """Count one invitation email; 429 past the agency's hourly limit or within an address's cooldown.

    Each invitation is an email from the platform's sender to any address, naming whom the inviter
    chose: unbounded, a console or an agency key could send mail in bulk, or flood one inbox by
    inviting it again and again. Called in the invitation's transaction, so a refused one counts nothing.
    """
    s = deps.settings
    retry_after = await hit_window(conn, f"staff-invite-tenant:{tenant_id}", now=now,
                                   limit=s.staff_invitations_per_hour, period_seconds=3600)
    if retry_after is not None:
        raise TooManyRequests(retry_after, f"This agency has sent {s.staff_invitations_per_hour} invitations "
                              "in the last hour; retry later", limit="agency")
    retry_after = await hit_window(conn, f"staff-invite:{staff_id}", now=now, limit=1,
                                   period_seconds=s.staff_invitation_cooldown_seconds)
    if retry_after is not None:
        raise TooManyRequests(retry_after, "An invitation was sent to this address moments ago; retry later",
                              limit="address")


async def list_staff(deps: Deps, *, tenant_id: uuid.UUID) -> dict:
    return {"staff": [_staff_json(r) for r in await deps.pool.fetch(sql.STAFF_OF_TENANT, tenant_id)]}


async def check_invitation(deps: Deps, caller: Caller, token: str) -> dict:
    """Who an invitation link is for (the page shows it before the password is chosen)."""
    row = await deps.pool.fetchrow(sql.PEEK_STAFF_INVITATION, deps.hash_token(token), deps.clock.now())
    if row is None or str(row["tenant_id"]) != caller.tenant_id:
        raise InvalidToken()  # a link opened at another agency's URL is not valid there
    return {"email": row["email"], "display_name": row["display_name"], "role": row["role"]}


async def accept_invitation(deps: Deps, caller: Caller, *, token: str, password: str, confirmation: str) -> dict:
    """The first password of an invited staff member; the link dies with it."""
    invited = await check_invitation(deps, caller, token)
    result = check_password(password, min_length=await deps.tenants.min_length(caller.tenant_id),
                            max_length=deps.settings.password_max_length, email=invited["email"])
    if not result.ok:
        body = result.to_json()
        raise PasswordPolicy(criteria=body["criteria"], problems=body["problems"])
    if normalise_password(confirmation) != normalise_password(password):
        raise ConfirmationMismatch()
    password_hash = await deps.hash(normalise_password(password))
    now = deps.clock.now()
    async with deps.pool.acquire() as conn, conn.transaction():
        staff_id = await conn.fetchval(sql.CONSUME_STAFF_INVITATION, deps.hash_token(token), now)
        row = await conn.fetchrow(sql.ACTIVATE_STAFF, staff_id, password_hash, now) if staff_id else None
        if row is None:
            raise InvalidToken()
        await audit(conn, deps, "staff_activated", tenant_id=row["tenant_id"], ip=caller.ip, staff_id=row["id"])
    return {"email": row["email"]}


STAFF_IP_WINDOW = "staff-login-ip"  # the console's own failure window per IP (not the persons')


async def login(deps: Deps, caller: Caller, *, email: str, password: str) -> dict:
    """A console session at the agency of the page. Unknown, wrong, invited, disabled, locked: one answer."""
    if not caller.tenant_id:
        raise Forbidden("The tid claim is required")
    now = deps.clock.now()
    try:
        key = email_key(normalise_email(email))
    except InvalidEmail:
        key = None
    staff = await deps.pool.fetchrow(sql.STAFF_LOGIN_LOOKUP, uuid.UUID(caller.tenant_id), key)
    attempt = await _reserve_login(deps, caller, staff, now)
    try:
        matches, _ = await deps.verify(staff["password_hash"] if staff else None, normalise_password(password))
    except Busy:
        await _refund_login(deps, caller, attempt)  # never tried: nothing to count
        raise
    usable = staff is not None and attempt.allowed and staff["status"] == "active"
    if not (matches and usable):
        await _login_failed(deps, caller, staff, attempt, matches=matches)
        raise InvalidCredentials()
    await refund_ip_attempt(deps.pool, caller, prefix=STAFF_IP_WINDOW)  # the session clears the member's count
    session_id = new_secret(32)
    await deps.pool.execute(sql.STAFF_LOGIN_SUCCEEDED, deps.hash_token(session_id), staff["id"],
                            staff["tenant_id"], now, caller.ip)
    async with deps.pool.acquire() as conn:
        await audit(conn, deps, "staff_login_succeeded", tenant_id=staff["tenant_id"], ip=caller.ip,
                    staff_id=staff["id"])
    return {"session_id": session_id, "staff_id": str(staff["id"])}


async def _reserve_login(deps: Deps, caller: Caller, staff, now) -> Attempt:
    """The attempt counted for the IP and the member before the hash, as a person's login is (see
    core.reserve_attempt): 429 when the IP is over its limit. An unknown email gets the same
    transaction, so it costs the same."""
    async with deps.pool.acquire() as conn, conn.transaction():
        await reserve_ip_attempt(conn, deps, caller, now, prefix=STAFF_IP_WINDOW)
        if staff is None:
            return Attempt(False)
        return await reserve_attempt(conn, deps, staff["id"], now, queries=sql.STAFF_ATTEMPTS)


async def _refund_login(deps: Deps, caller: Caller, attempt: Attempt) -> None:
    async with deps.pool.acquire() as conn, conn.transaction():
        await refund_ip_attempt(conn, caller, prefix=STAFF_IP_WINDOW)
        await refund_attempt(conn, attempt)


async def _login_failed(deps: Deps, caller: Caller, staff, attempt: Attempt, *, matches: bool) -> None:
    """Audit a refused login (already counted by the reservation); the right password of a disabled
    member gives the member's count back, as it is no guess (the IP's hit stays, as before)."""
    if staff is None:
        return
    reason = "locked" if not attempt.allowed else "wrong_password" if not matches else "disabled"
    async with deps.pool.acquire() as conn, conn.transaction():
        if reason == "disabled":
            await refund_attempt(conn, attempt)
        await audit(conn, deps, "staff_login_failed", tenant_id=caller.tenant_id, ip=caller.ip,
                    staff_id=staff["id"], reason=reason)


async def introspect(deps: Deps, caller: Caller, session_id: str) -> dict:
    """The staff member of a live console session at this tenant; refreshes its idle expiry."""
    s = deps.settings
    now = deps.clock.now()
    row = await deps.pool.fetchrow(sql.TOUCH_STAFF_SESSION, deps.hash_token(session_id), now,
                                   now - timedelta(seconds=s.session_idle_seconds),
                                   now - timedelta(seconds=s.session_absolute_seconds))
    if row is None or str(row["tenant_id"]) != caller.tenant_id:
        raise InvalidSession()  # a console session opens its own agency only
    return {"staff_id": str(row["id"]), "tenant_id": str(row["tenant_id"]), "email": row["email"],
            "display_name": row["display_name"], "role": row["role"]}


async def logout(deps: Deps, caller: Caller, session_id: str) -> None:
    async with deps.pool.acquire() as conn, conn.transaction():
        row = await conn.fetchrow(sql.END_STAFF_SESSION, deps.hash_token(session_id), deps.clock.now())
        if row is not None:
            await audit(conn, deps, "staff_logout", tenant_id=row["tenant_id"], ip=caller.ip,
                        staff_id=row["staff_id"])


async def set_status(deps: Deps, caller: Caller, *, tenant_id: uuid.UUID, staff_id: uuid.UUID, active: bool) -> dict:
    """Disable a member (their console sessions end at once) or enable them again; never oneself."""
    if caller.staff_id and caller.staff_id == str(staff_id):
        raise Forbidden("A staff member does not disable themselves")
    async with deps.pool.acquire() as conn, conn.transaction():
        row = await conn.fetchrow(sql.SET_STAFF_STATUS, staff_id, tenant_id, "active" if active else "disabled")
        if row is None:
            raise StaffNotFound()
        if not active:
            await conn.execute(sql.END_STAFF_SESSIONS, staff_id, deps.clock.now())
        await audit(conn, deps, "staff_enabled" if active else "staff_disabled", tenant_id=tenant_id, ip=caller.ip,
                    staff_id=caller.staff_id, member=str(staff_id))
        member = await conn.fetchrow(sql.STAFF_BY_ID, staff_id)
    return _staff_json(member)


async def revoke_invitation(deps: Deps, caller: Caller, *, tenant_id: uuid.UUID, staff_id: uuid.UUID) -> dict:
    """Withdraw an invitation not yet accepted (a wrong address, a wrong role): its link dies at once."""
    async with deps.pool.acquire() as conn, conn.transaction():
        row = await conn.fetchrow(sql.REVOKE_STAFF_INVITATION, staff_id, tenant_id)
        if row is None:
            raise StaffNotFound()
        await audit(conn, deps, "staff_invitation_revoked", tenant_id=tenant_id, ip=caller.ip,
                    staff_id=caller.staff_id, member=str(staff_id), email=row["email"], role=row["role"])
    return {"id": str(row["id"]), "email": row["email"], "role": row["role"], "status": "revoked"}


def _uuid_or_none(value) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(value)) if value else None
    except ValueError:
        return None
