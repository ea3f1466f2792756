"""The second factor of persons (issue 15): enrolment of an authenticator app, recovery codes,
the step after the password at login, and the code a password reset asks for.

A person without a factor never meets any of it: login answers a session as before.
"""

from __future__ import annotations

import uuid
from datetime import timedelta

from common.logging import get_logger
from services.identity import repository as sql
from services.identity.core import (
    Caller,
    Deps,
    audit,
    event,
    hit_window,
    lock_ip_window,
    person_gate,
    refund_attempt,
    reserve_attempt,
)
from services.identity.domain import login_failure, new_secret
from services.identity.errors import (
    Busy,
    InvalidCredentials,
    InvalidMfaCode,
    MfaAlreadyEnrolled,
    MfaChallengeInvalid,
    MfaNotEnrolled,
    MfaRequiredByAgency,
    TooManyRequests,
)
from services.identity.factors import (
    CodeKind,
    classify_code,
    generate_recovery_codes,
    new_totp_secret,
    normalise_recovery_code,
    otpauth_uri,
    requirement_applies,
    verify_totp,
)
from services.identity.policy import normalise_password

log = get_logger(__name__)

__all__ = [
    "check_code",
    "confirm_totp",
    "login_challenge",
    "login_second_factor",
    "mfa_status",
    "regenerate_recovery_codes",
    "remove_totp",
    "start_totp",
]


def _person_id(caller: Caller) -> uuid.UUID:
    from services.identity.auth import _require_person  # one definition of "the pid claim is required"

    return _require_person(caller)


async def mfa_status(deps: Deps, caller: Caller) -> dict:
    """The person's factors, for the profile (never a secret)."""
    from services.identity.passkeys import list_of

    person_id = _person_id(caller)
    async with deps.pool.acquire() as conn:
        totp = await conn.fetchrow(sql.TOTP_OF_PERSON, person_id)
        left = await conn.fetchval(sql.RECOVERY_CODES_LEFT, person_id)
        passkeys = await list_of(conn, person_id)
    confirmed = totp is not None and totp["confirmed_at"] is not None
    enabled = confirmed or bool(passkeys)
    return {"totp": {"enabled": confirmed,
                     "since": totp["confirmed_at"].isoformat() if confirmed else None},
            "passkeys": passkeys,
            "recovery_codes_left": int(left) if enabled else 0,
            "enabled": enabled}


# ---- enrolment ------------------------------------------------------------------------------

async def start_totp(deps: Deps, caller: Caller) -> dict:
    """A new secret, kept sealed and unconfirmed until a first right code proves the app has it."""
    return await _start(deps, _person_id(caller))


async def _start(deps: Deps, person_id) -> dict:
    now = deps.clock.now()
    person = await deps.pool.fetchrow(sql.PERSON_BY_ID, person_id)
    if person is None:
        raise InvalidCredentials()
    secret = new_totp_secret()
    sealed = deps.secret_box.seal(secret, person_id=str(person_id))
    if await deps.pool.fetchval(sql.START_TOTP, person_id, sealed, now) is None:
        raise MfaAlreadyEnrolled()
    return {"secret": secret,
            "otpauth_uri": otpauth_uri(secret, account=person["email"], issuer=deps.settings.mfa_issuer)}


async def confirm_totp(deps: Deps, caller: Caller, *, code: str) -> dict:
    """The first right code turns the app on and gives the ten recovery codes (shown once)."""
    person_id = _person_id(caller)
    async with deps.pool.acquire() as conn, conn.transaction():
        codes, retry = await _confirm(conn, deps, caller, person_id, code)
    if codes is None:
        if retry is not None:
            raise TooManyRequests(retry)
        raise InvalidMfaCode()
    return {"recovery_codes": codes}


async def _confirm(conn, deps: Deps, caller: Caller, person_id, code: str) -> tuple[list[str] | None, int | None]:
    """Inside the caller's transaction: (recovery codes, None) on success; (None, retry_after or None)
    for a wrong code, counted in the person's enrolment window (committed by the caller)."""
    now = deps.clock.now()
    row = await conn.fetchrow(sql.TOTP_OF_PERSON_FOR_UPDATE, person_id)
    if row is None:
        raise MfaNotEnrolled()
    if row["confirmed_at"] is not None:
        raise MfaAlreadyEnrolled()
    secret = deps.secret_box.open(row["secret_sealed"], person_id=str(person_id))
    step = verify_totp(secret, code, now=now, last_step=None) if secret else None
    if step is None:
        retry = await hit_window(conn, f"mfa-enrol:{person_id}", now=now,
                                 limit=deps.settings.mfa_enrol_failures_per_window, period_seconds=15 * 60)
        return None, retry
    await conn.execute(sql.CONFIRM_TOTP, person_id, now, step)
    codes = await _new_recovery_codes(conn, deps, person_id, now)
    person = await conn.fetchrow(sql.PERSON_BY_ID, person_id)
    await _changed(conn, deps, caller, person, kind="added", factor="totp")
    return codes, None


async def _new_recovery_codes(conn, deps: Deps, person_id, now) -> list[str]:
    codes = generate_recovery_codes()
    await conn.execute(sql.DELETE_RECOVERY_CODES, person_id)
    await conn.execute(sql.INSERT_RECOVERY_CODES, [deps.hash_token(normalise_recovery_code(c)) for c in codes],
                       person_id, now)
    return codes


async def _with_password(deps: Deps, caller: Caller, password: str):
    """The person, once their password is checked (the profile's gate and lock apply)."""
    person_id = _person_id(caller)
    async with deps.pool.acquire() as conn, conn.transaction():
        attempt = await reserve_attempt(conn, deps, person_id, deps.clock.now())
    if attempt.person is None:
        raise InvalidCredentials()
    if not attempt.allowed:
        raise TooManyRequests(attempt.retry_after)
    try:
        matches, _ = await deps.verify(attempt.person["password_hash"], normalise_password(password))
    except Busy:
        await refund_attempt(deps.pool, attempt)
        raise
    if matches:
        await refund_attempt(deps.pool, attempt)
        return attempt.person
    async with deps.pool.acquire() as conn, conn.transaction():
        if attempt.locks:
            await audit(conn, deps, "person_locked", tenant_id=caller.tenant_id, person_id=person_id, ip=caller.ip)
        await audit(conn, deps, "mfa_password_failed", tenant_id=caller.tenant_id, person_id=person_id,
                    ip=caller.ip)
    raise InvalidCredentials()


async def remove_totp(deps: Deps, caller: Caller, *, password: str) -> None:
    """Remove the app (password required); its recovery codes go with it. A notice is emailed."""
    person = await _with_password(deps, caller, password)
    async with deps.pool.acquire() as conn, conn.transaction():
        removed = await conn.fetchrow(sql.DELETE_TOTP, person["id"])
        if removed is None:
            raise MfaNotEnrolled()
        if not await conn.fetchval(sql.PERSON_HAS_FACTOR, person["id"]):  # the last factor (passkeys stay)
            if removed["confirmed_at"] is not None and await factor_required(deps, person["id"]):
                raise MfaRequiredByAgency()  # rolls the removal back
            await conn.execute(sql.DELETE_RECOVERY_CODES, person["id"])
        if removed["confirmed_at"] is not None:
            await _changed(conn, deps, caller, person, kind="removed", factor="totp")


async def regenerate_recovery_codes(deps: Deps, caller: Caller, *, password: str) -> dict:
    """Ten new codes (password required); the old ones stop working."""
    person = await _with_password(deps, caller, password)
    now = deps.clock.now()
    async with deps.pool.acquire() as conn, conn.transaction():
        if not await conn.fetchval(sql.PERSON_HAS_FACTOR, person["id"]):
            raise MfaNotEnrolled()
        codes = await _new_recovery_codes(conn, deps, person["id"], now)
        await audit(conn, deps, "mfa_recovery_codes_renewed", tenant_id=caller.tenant_id, person_id=person["id"],
                    ip=caller.ip)
    return {"recovery_codes": codes}


async def _changed(conn, deps: Deps, caller: Caller, person, *, kind: str, factor: str) -> None:
    """The security notice (outbox -> notifier email) and the audit line of a change of factor."""
    await event(conn, deps, "identity.mfa_changed", {
        "person_id": person["id"], "email": person["email"], "tenant_id": caller.tenant_id,
        "kind": kind, "factor": factor, "changed_at": deps.clock.now(),
    }, tenant_id=caller.tenant_id, caller=caller)
    await audit(conn, deps, f"mfa_{kind}", tenant_id=caller.tenant_id, person_id=person["id"], ip=caller.ip,
                factor=factor)


# ---- codes ----------------------------------------------------------------------------------

async def check_code(conn, deps: Deps, caller: Caller, person, code: str) -> bool:
    """Whether ``code`` (authenticator or recovery) is right for ``person``; a right one is spent.

    Inside the caller's transaction: the TOTP step moves forward, a recovery code is marked used
    (and its notice written). Nothing is counted here: a wrong code is counted by the caller.
    """
    now = deps.clock.now()
    kind = classify_code(code or "")
    if kind == CodeKind.TOTP:
        row = await conn.fetchrow(sql.TOTP_OF_PERSON, person["id"])
        if row is None or row["confirmed_at"] is None:
            return False
        secret = deps.secret_box.open(row["secret_sealed"], person_id=str(person["id"]))
        step = verify_totp(secret, code, now=now, last_step=row["last_step"]) if secret else None
        return step is not None and await conn.fetchval(sql.ACCEPT_TOTP_STEP, person["id"], step) is not None
    if kind == CodeKind.RECOVERY:
        used = await conn.fetchval(sql.USE_RECOVERY_CODE, deps.hash_token(normalise_recovery_code(code)),
                                   person["id"], now)
        if used is None:
            return False
        await _changed(conn, deps, caller, person, kind="recovery_used", factor="recovery_code")
        return True
    return False


async def count_code_failure(conn, deps: Deps, caller: Caller, person_id, *, where: str) -> None:
    """A wrong second factor counts like a wrong password: delays, then the person's lock."""
    s = deps.settings
    now = deps.clock.now()
    current = await conn.fetchrow(sql.PERSON_BY_ID_FOR_UPDATE, person_id)
    failures, locked_until = login_failure(failures=current["failed_logins"], locked_until=current["locked_until"],
                                           now=now, lock_after=s.login_lock_after_failures,
                                           lock_seconds=s.login_lock_seconds)
    await conn.execute(sql.PERSON_LOGIN_FAILED, person_id, failures, locked_until, now)
    if locked_until is not None and locked_until != current["locked_until"]:
        await audit(conn, deps, "person_locked", tenant_id=caller.tenant_id, person_id=person_id, ip=caller.ip)
    await audit(conn, deps, "mfa_failed", tenant_id=caller.tenant_id, person_id=person_id, ip=caller.ip, where=where)


# ---- login ----------------------------------------------------------------------------------

async def login_challenge(deps: Deps, caller: Caller, person, *, purpose: str = "login") -> dict:
    """After a right password: the token of the second step instead of a session."""
    now = deps.clock.now()
    token = new_secret(32)
    await deps.pool.execute(sql.INSERT_CHALLENGE, deps.hash_token(token), person["id"], purpose,
                            _uuid_or_none(caller.tenant_id), caller.ip, now,
                            now + timedelta(seconds=deps.settings.mfa_challenge_ttl_seconds))
    log.info("identity.audit", kind="login_mfa_challenged", tenant_id=caller.tenant_id,
             person_id=str(person["id"]), purpose=purpose)
    body = {"mfa_token": token}
    if purpose == "login":
        async with deps.pool.acquire() as conn:
            has_totp = await conn.fetchval(sql.TOTP_OF_PERSON, person["id"]) is not None
            has_passkey = bool(await conn.fetch(sql.PASSKEYS_OF_PERSON, person["id"]))
        methods = (["totp"] if has_totp else []) + (["passkey"] if has_passkey else []) + ["recovery_code"]
        body.update(mfa_required=True, methods=methods)
    else:
        body.update(mfa_enrolment_required=True)
    return body


async def load_challenge(conn, deps: Deps, caller: Caller, token: str, *, purpose: str):
    """The live challenge of ``token`` (locked for update), from the same IP, or MfaChallengeInvalid."""
    challenge = await conn.fetchrow(sql.CHALLENGE_FOR_UPDATE, deps.hash_token(token or ""), deps.clock.now())
    if (challenge is None or challenge["purpose"] != purpose or challenge["ip"] != caller.ip
            or challenge["status"] != "active"):
        raise MfaChallengeInvalid()
    return challenge


async def login_second_factor(deps: Deps, caller: Caller, *, mfa_token: str, code: str | None = None,
                              assertion: dict | None = None) -> dict:
    """The code (or passkey assertion) after the password: a session, or a counted failure (the
    person locks like for passwords)."""
    from services.identity.auth import open_session
    from services.identity.passkeys import verify_assertion

    s = deps.settings
    now = deps.clock.now()
    async with deps.pool.acquire() as conn, conn.transaction():
        challenge = await load_challenge(conn, deps, caller, mfa_token, purpose="login")
        # The IP window and the person stay locked until this code is counted: simultaneous codes
        # (several challenges of one person) queue and each sees the failures before it.
        await lock_ip_window(conn, deps, caller, now)
        person = await conn.fetchrow(sql.PERSON_BY_ID_FOR_UPDATE, challenge["person_id"])
        gate = person_gate(deps, person, now)
        if not gate.allowed:
            raise TooManyRequests(gate.retry_after)
        if assertion is not None:
            ok = await verify_assertion(conn, deps, person_id=person["id"], challenge=challenge["webauthn_challenge"],
                                        assertion=assertion)
        else:
            ok = await check_code(conn, deps, caller, person, code or "")
        if ok:
            await conn.execute(sql.USE_CHALLENGE, challenge["hash"], now)
        else:
            await conn.execute(sql.CHALLENGE_FAILED, challenge["hash"], now, s.mfa_challenge_max_failures)
            await count_code_failure(conn, deps, caller, person["id"], where="login")
            if caller.ip:
                await hit_window(conn, f"login-ip:{caller.ip}", now=now, limit=s.ip_failure_limit,
                                 period_seconds=s.ip_failure_window_seconds)
    if not ok:
        deps.logins.labels("invalid").inc()
        raise InvalidMfaCode()
    return await open_session(deps, caller, challenge)


# ---- the agency's requirement ---------------------------------------------------------------

async def factor_required(deps: Deps, person_id, tenant_ids: list | None = None) -> bool:
    """Whether an agency the person is linked to requires them to have a second factor.

    Every agency of the person counts, not only the one whose page they log in at: once logged
    in, the person reaches the documents of all of them. Council membership comes from tenancy's
    directory (the source of the ``council`` flag), asked only for agencies requiring it of councils.
    """
    if tenant_ids is None:
        tenant_ids = [r["tenant_id"] for r in await deps.pool.fetch(sql.PERSON_TENANTS, person_id)]
    council_tenants = []
    for tenant_id in tenant_ids:
        requirement = await deps.tenants.mfa_requirement(str(tenant_id))
        if requirement_applies(requirement, is_council=False):
            return True
        if requirement_applies(requirement, is_council=True):
            council_tenants.append(str(tenant_id))
    for tenant_id in council_tenants:
        accounts = [str(r["account_id"]) for r in await deps.pool.fetch(sql.PERSON_ACCOUNTS_OF_TENANT, person_id,
                                                                          uuid.UUID(tenant_id))]
        if await deps.tenants.council_accounts(tenant_id, accounts):
            return True
    return False


async def enrol_start(deps: Deps, caller: Caller, *, mfa_token: str) -> dict:
    """At login, for a person whose agency requires a factor: a new authenticator secret."""
    async with deps.pool.acquire() as conn, conn.transaction():
        challenge = await load_challenge(conn, deps, caller, mfa_token, purpose="enrol")
    return await _start(deps, challenge["person_id"])


async def enrol_confirm(deps: Deps, caller: Caller, *, mfa_token: str, code: str) -> dict:
    """The first right code: the app is on, the session opens, the recovery codes are given once."""
    from services.identity.auth import open_session

    s = deps.settings
    now = deps.clock.now()
    async with deps.pool.acquire() as conn, conn.transaction():
        challenge = await load_challenge(conn, deps, caller, mfa_token, purpose="enrol")
        codes, retry = await _confirm(conn, deps, caller, challenge["person_id"], code)
        if codes is not None:
            await conn.execute(sql.USE_CHALLENGE, challenge["hash"], now)
        else:
            await conn.execute(sql.CHALLENGE_FAILED, challenge["hash"], now, s.mfa_challenge_max_failures)
    if codes is None:
        if retry is not None:
            raise TooManyRequests(retry)
        raise InvalidMfaCode()
    session = await open_session(deps, caller, challenge)
    return {**session, "recovery_codes": codes}


def _uuid_or_none(value):
    try:
        return uuid.UUID(str(value)) if value else None
    except ValueError:
        return None
