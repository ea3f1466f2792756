"""Activation and merge: provisional credentials -> email -> password (or merge) -> verified."""

from __future__ import annotations

import math
import uuid
from datetime import UTC, datetime, timedelta

import asyncpg

from services.identity import repository as sql
from services.identity.core import (
    Caller,
    Deps,
    audit,
    event,
    hit_window,
    link_url,
    refund_attempt,
    refund_ip_attempt,
    reserve_attempt,
    reserve_ip_attempt,
)
from services.identity.domain import (
    USABLE_CREDENTIAL_STATES,
    CredentialStatus,
    FlowStep,
    InvalidEmail,
    StepRefused,
    Window,
    credential_failure,
    credential_state,
    email_key,
    new_secret,
    normalise_email,
    normalise_login,
    require_step,
    resend_available_at,
    step_after_email,
    step_after_start,
)
from services.identity.errors import (
    Busy,
    ConfirmationMismatch,
    CredentialLocked,
    EmailPending,
    FlowNotFound,
    Forbidden,
    InvalidCredentials,
    InvalidToken,
    PasswordPolicy,
    TermsNotAccepted,
    TooManyRequests,
    WrongStep,
)
from services.identity.errors import InvalidEmail as InvalidEmailError
from services.identity.policy import check_password, normalise_password


def flow_json(flow_id: str, row, *, step: str | None = None, email: str | None = None,
              resend_at: datetime | None = None) -> dict:
    """The ``Flow`` body of docs/internal-api.md."""
    step = step or row["step"]
    return {
        "flow_id": flow_id,
        "intent": row["intent"],
        "step": step,
        "email": email if email is not None else row["email"],
        "suggested_email": row["suggested_email"],
        "tenant_id": str(row["tenant_id"]),
        "resend_available_at": _iso_utc(resend_at),
        "outcome": _outcome(row, step),
    }


def _outcome(row, step: str) -> str | None:
    """How a flow at step ``done`` ended, for the page that says so: ``merged`` or ``verified``.

    The intent does not tell: an activation meeting a known address ends in a merge, a merge given a new
    address in a verification. The credential does; a ``row`` still at the merge step is the merge's own
    answer (read before it).
    """
    if step != FlowStep.DONE:
        return None
    merged = row["step"] == FlowStep.MERGE or row["credential_status"] == CredentialStatus.MERGED
    return "merged" if merged else "verified"


def _iso_utc(at: datetime | None) -> str | None:
    return at.astimezone(UTC).isoformat() if at is not None else None


async def _resend_at(conn, deps: Deps, credential_id) -> datetime | None:
    """When the verification email of this credential may be sent again (None: now)."""
    now = deps.clock.now()
    row = await conn.fetchrow(sql.WINDOW_BY_KEY, f"resend:{credential_id}")
    if row is None:
        return None
    s = deps.settings
    return resend_available_at(Window(row["count"], row["started_at"]), last_at=row["last_at"], now=now,
                               cooldown_seconds=s.resend_cooldown_seconds, limit=s.resend_per_hour,
                               period_seconds=3600)


async def start(deps: Deps, caller: Caller, *, login: str, password: str, intent: str) -> dict:
    """Check provisional credentials and open a flow (or resume a pending activation)."""
    if not (caller.tenant_id and caller.client_code and caller.societe_code):
        raise Forbidden("The tid, tcc and tsc claims are required")
    now = deps.clock.now()
    login = normalise_login(login)
    password = normalise_password(password)
    cred = await deps.pool.fetchrow(sql.CREDENTIAL_BY_LOGIN, login) if login else None
    if cred is not None and str(cred["tenant_id"]) != caller.tenant_id:
        cred = None  # credentials of another tenant do not exist at this tenant's URL
    if cred is None:
        await _count_unknown_login(deps, caller, login)
        await deps.verify_provisional(None, password)  # the same cost as a known login
        raise InvalidCredentials()
    before = await _reserve_credential_attempt(deps, cred["id"], now)
    try:
        matches = await deps.verify_provisional(before["password_hash"], password)
    except Busy:
        await _refund_credential_attempt(deps.pool, deps, before, now)
        raise
    async with deps.pool.acquire() as conn, conn.transaction():
        cred = await conn.fetchrow(sql.CREDENTIAL_BY_ID_FOR_UPDATE, cred["id"])
        state = credential_state(cred["status"], cred["expires_at"], now)
        if not matches:
            await audit(conn, deps, "provisional_login_failed", tenant_id=cred["tenant_id"],
                        account_id=cred["account_id"], ip=caller.ip)
            if _locks(deps, before, now):
                await audit(conn, deps, "provisional_credential_locked", tenant_id=cred["tenant_id"],
                            account_id=cred["account_id"], ip=caller.ip)
        elif state in USABLE_CREDENTIAL_STATES:
            await conn.execute(sql.CREDENTIAL_RESET_FAILURES, cred["id"])
            step = step_after_start(state)
            email = None
            if step == FlowStep.PENDING_VERIFICATION and cred["person_id"]:
                person = await conn.fetchrow(sql.PERSON_BY_ID, cred["person_id"])
                email = person["email"] if person else None
            flow_id = new_secret(24)
            await conn.execute(sql.INSERT_FLOW, deps.hash_token(flow_id), cred["id"], intent, step, email,
                               cred["person_id"], caller.client_code, caller.societe_code, now)
            await audit(conn, deps, "activation_started", tenant_id=cred["tenant_id"],
                        account_id=cred["account_id"], person_id=cred["person_id"], ip=caller.ip, intent=intent)
            resend_at = await _resend_at(conn, deps, cred["id"]) if step == FlowStep.PENDING_VERIFICATION else None
            return {"flow_id": flow_id, "intent": intent, "step": str(step), "email": email,
                    "suggested_email": cred["suggested_email"], "tenant_id": str(cred["tenant_id"]),
                    "resend_available_at": _iso_utc(resend_at), "outcome": None}
        else:  # the right password of a letter no longer usable: no guess to count
            await _refund_credential_attempt(conn, deps, before, now)
    raise InvalidCredentials()


async def _reserve_credential_attempt(deps: Deps, credential_id, now):
    """Count the attempt on the credential before its hash (the row locked, its lock read then):
    simultaneous attempts queue and a burst gets no more tries than the lock allows. Returns the
    row as it was; :class:`CredentialLocked` when locked."""
    async with deps.pool.acquire() as conn, conn.transaction():
        cred = await conn.fetchrow(sql.CREDENTIAL_BY_ID_FOR_UPDATE, credential_id)
        if cred["locked_until"] is not None and now < cred["locked_until"]:
            raise CredentialLocked(int((cred["locked_until"] - now).total_seconds()) + 1)
        failures, locked_until = _credential_failure(deps, cred, now)
        await conn.execute(sql.CREDENTIAL_FAILED, cred["id"], failures, locked_until)
    return cred


def _credential_failure(deps: Deps, cred, now):
    return credential_failure(cred["failed_attempts"], now, max_failures=deps.settings.credential_max_failures,
                              lock_seconds=deps.settings.credential_lock_seconds)


def _locks(deps: Deps, before, now) -> bool:
    """Whether the failure counted on ``before`` locked the credential."""
    return _credential_failure(deps, before, now)[1] is not None


async def _refund_credential_attempt(executor, deps: Deps, before, now) -> None:
    """Give back the reserved failure, unless another attempt was counted since."""
    failures, locked_until = _credential_failure(deps, before, now)
    await executor.execute(sql.CREDENTIAL_ATTEMPT_REFUND, before["id"], before["failed_attempts"],
                           before["locked_until"], failures, locked_until)


async def _count_unknown_login(deps: Deps, caller: Caller, login: str) -> None:
    """Lock an unknown login exactly as a known one would be locked.

    Otherwise the 429 of a locked credential tells a prober which logins exist: after the same
    number of failures an unknown login answers the same 429 for the same time. Counted before
    the hash, as a known credential is, so that both refuse a burst alike.
    """
    if not login:
        return
    async with deps.pool.acquire() as conn, conn.transaction():
        retry_after = await hit_window(
            conn, f"unknown-login:{caller.tenant_id}:{login}", now=deps.clock.now(),
            limit=deps.settings.credential_max_failures, period_seconds=deps.settings.credential_lock_seconds)
    if retry_after is not None:
        raise CredentialLocked(retry_after)


async def _flow(conn: asyncpg.Connection, deps: Deps, flow_id: str):
    """The live flow, locked; its credential must still be usable."""
    now = deps.clock.now()
    row = await conn.fetchrow(sql.FLOW_FOR_UPDATE, deps.hash_token(flow_id),
                              now - timedelta(seconds=deps.settings.flow_idle_seconds))
    if row is None:
        raise FlowNotFound()
    if row["step"] != FlowStep.DONE:
        state = credential_state(row["credential_status"], row["credential_expires_at"], now)
        if state not in USABLE_CREDENTIAL_STATES:
            raise FlowNotFound()
    if _reset_from_elsewhere(row):
        raise FlowNotFound()
    return row


def _reset_from_elsewhere(row) -> bool:
    """A pending flow whose activation another flow of the same letter reset ("Réinitialiser" on another
    device): its pending person is gone (or the credential now waits for another one), so it has no
    email left to resend and nothing left to wait for; it ends like an expired flow."""
    if row["step"] != FlowStep.PENDING_VERIFICATION:
        return False
    return row["person_id"] is None or row["person_id"] != row["credential_person_id"]


def _require(row, action: str) -> None:
    try:
        require_step(row["step"], action)
    except StepRefused as exc:
        raise WrongStep(step=str(exc.current)) from None


async def _touch(conn, deps: Deps, flow_id: str, row, *, step=None, email=None, person_id=None):
    """Save the flow's step (others kept unless given) and refresh its idle expiry."""
    step = step or row["step"]
    email = email if email is not None else row["email"]
    person_id = person_id if person_id is not None else row["person_id"]
    await conn.execute(sql.UPDATE_FLOW, deps.hash_token(flow_id), step, email, person_id, deps.clock.now())
    resend_at = await _resend_at(conn, deps, row["credential_id"]) if step == FlowStep.PENDING_VERIFICATION else None
    return flow_json(flow_id, row, step=step, email=email, resend_at=resend_at)


async def get_flow(deps: Deps, flow_id: str) -> dict:
    """The flow, refreshing its idle expiry."""
    async with deps.pool.acquire() as conn, conn.transaction():
        row = await _flow(conn, deps, flow_id)
        return await _touch(conn, deps, flow_id, row)


async def choose_email(deps: Deps, caller: Caller, flow_id: str, raw_email: str) -> dict:
    """A new email leads to the password step; one of a verified person to the merge step."""
    try:
        email = normalise_email(raw_email)
    except InvalidEmail:
        raise InvalidEmailError() from None
    async with deps.pool.acquire() as conn, conn.transaction():
        row = await _flow(conn, deps, flow_id)
        _require(row, "email")
        # Whether an address leads to the merge step tells that it is registered: a holder of one
        # provisional letter may try only a few addresses per hour (restart, then type another).
        retry_after = await hit_window(conn, f"email-choice:{row['credential_id']}", now=deps.clock.now(),
                                       limit=deps.settings.email_choices_per_hour, period_seconds=3600)
        if retry_after is not None:
            raise TooManyRequests(retry_after)
        person = await conn.fetchrow(sql.VERIFIED_PERSON_BY_EMAIL, email_key(email))
        if step_after_email(email_belongs_to_person=person is not None) == FlowStep.MERGE:
            return await _to_merge_step(conn, deps, flow_id, row, person)
        await _refuse_if_pending_elsewhere(conn, deps, email=email)
        await conn.execute(sql.UPDATE_FLOW, deps.hash_token(flow_id), FlowStep.PASSWORD, email, None,
                           deps.clock.now())
        return flow_json(flow_id, row, step=str(FlowStep.PASSWORD), email=email)


async def _to_merge_step(conn, deps: Deps, flow_id: str, row, person) -> dict:
    """The merge step with ``person``, the verified owner of the flow's address."""
    email = person["email"]  # shown as typed at the first activation ("associé à l'adresse mail")
    await conn.execute(sql.UPDATE_FLOW, deps.hash_token(flow_id), FlowStep.MERGE, email, person["id"],
                       deps.clock.now())
    return flow_json(flow_id, row, step=str(FlowStep.MERGE), email=email)


async def choose_password(deps: Deps, caller: Caller, flow_id: str, *, password: str, confirmation: str,
                          accept_terms: bool) -> dict:
    """Create the person pending verification, link the account, request the verification email (or, for
    an address verified since the email step, go to the merge step)."""
    async with deps.pool.acquire() as conn:
        row = await _flow(conn, deps, flow_id)
    _require(row, "password")
    result = check_password(password, min_length=await deps.tenants.min_length(str(row["tenant_id"])),
                            max_length=deps.settings.password_max_length, email=row["email"],
                            identifier=row["login"])
    if not result.ok:
        body = result.to_json()
        raise PasswordPolicy(criteria=body["criteria"], problems=body["problems"])
    if normalise_password(confirmation) != normalise_password(password):
        raise ConfirmationMismatch()
    if not accept_terms:
        raise TermsNotAccepted()
    password_hash = await deps.hash(normalise_password(password))
    async with deps.pool.acquire() as conn:
        try:
            async with conn.transaction():
                row = await _flow(conn, deps, flow_id)
                _require(row, "password")
                await conn.execute(sql.LOCK_EMAIL_KEY, email_key(row["email"]))
                owner = await conn.fetchrow(sql.VERIFIED_PERSON_BY_EMAIL, email_key(row["email"]))
                if owner is not None:
                    # Verified since the email step (this person's other letter, in another tab): a second
                    # pending person could never be verified, so the merge step, as at the email step.
                    return await _to_merge_step(conn, deps, flow_id, row, owner)
                await _refuse_if_pending_elsewhere(conn, deps, email=row["email"])
                return await _create_pending_person(conn, deps, caller, flow_id, row, password_hash)
        except EmailPending:
            # Another activation took the address since the email step: back to that step.
            await _touch(conn, deps, flow_id, row, step=FlowStep.EMAIL)
            raise


async def _refuse_if_pending_elsewhere(conn, deps: Deps, *, email: str) -> None:
    """:class:`EmailPending` while another person's activation holds ``email`` (a flow at the email or
    password step never has a pending person of its own: restarting drops it)."""
    pending_until = await conn.fetchval(sql.PENDING_UNTIL_FOR_EMAIL, email_key(email), deps.clock.now(),
                                        float(deps.settings.verification_token_ttl_seconds))
    if pending_until is not None:
        raise EmailPending(email=email, pending_until=pending_until.isoformat())


async def _create_pending_person(conn, deps: Deps, caller: Caller, flow_id: str, row, password_hash: str) -> dict:
    """The person pending verification, the account's pending link and the verification email."""
    now = deps.clock.now()
    person_id = uuid.uuid4()
    await conn.execute(sql.INSERT_PERSON, person_id, row["email"], email_key(row["email"]), password_hash,
                       deps.settings.terms_version, now)
    try:
        async with conn.transaction():
            await conn.execute(sql.INSERT_LINK, person_id, row["tenant_id"], row["account_id"], row["role"],
                               "pending", "activation", row["credential_id"], now)
    except asyncpg.UniqueViolationError:
        raise FlowNotFound() from None  # the account got linked meanwhile: this flow is over
    await conn.execute(sql.SET_CREDENTIAL_STATUS, row["credential_id"], CredentialStatus.ACTIVATING,
                       person_id, now)
    await send_verification(conn, deps, caller, row=row, person_id=person_id, email=row["email"])
    # The first email starts the resend cooldown and counts in the hourly limit (never refused).
    await hit_window(conn, f"resend:{row['credential_id']}", now=now, limit=deps.settings.resend_per_hour,
                     period_seconds=3600)
    await audit(conn, deps, "activation_pending", tenant_id=row["tenant_id"], person_id=person_id,
                account_id=row["account_id"], ip=caller.ip)
    return await _touch(conn, deps, flow_id, row, step=FlowStep.PENDING_VERIFICATION, person_id=person_id)


async def send_verification(conn, deps: Deps, caller: Caller, *, row, person_id, email: str) -> None:
    """A new verification token (older ones superseded) and its email event."""
    now = deps.clock.now()
    token = new_secret(32)
    expires_at = now + timedelta(seconds=deps.settings.verification_token_ttl_seconds)
    await conn.execute(sql.SUPERSEDE_TOKENS, person_id, "verify_email", now)
    await conn.execute(sql.INSERT_TOKEN, deps.hash_token(token), "verify_email", person_id, email,
                       row["tenant_id"], now, expires_at)
    url = link_url(deps.settings.public_base_url, "/activation/verify", client=row["client_code"],
                   societe=row["societe_code"], token=token)
    await event(conn, deps, "identity.email_verification_requested", {
        "person_id": person_id, "email": email, "display_name": row["display_name"],
        "tenant_id": row["tenant_id"], "verification_url": url, "expires_at": expires_at,
        "account_id": row["account_id"], "role": row["role"],
    }, tenant_id=row["tenant_id"], caller=caller)


async def resend(deps: Deps, caller: Caller, flow_id: str) -> dict:
    """Send the verification email again: 60 s cooldown, 5 per hour per credential."""
    now = deps.clock.now()
    async with deps.pool.acquire() as conn, conn.transaction():
        row = await _flow(conn, deps, flow_id)
        _require(row, "resend")
        key = f"resend:{row['credential_id']}"
        # The later of the cooldown's end and the hourly window's end: the page can say when.
        available_at = await _resend_at(conn, deps, row["credential_id"])
        if available_at is not None:
            raise TooManyRequests(max(1, math.ceil((available_at - now).total_seconds())),
                                  resend_available_at=_iso_utc(available_at))
        retry_after = await hit_window(conn, key, now=now, limit=deps.settings.resend_per_hour, period_seconds=3600)
        if retry_after is not None:
            raise TooManyRequests(retry_after)
        await send_verification(conn, deps, caller, row=row, person_id=row["person_id"], email=row["email"])
        await audit(conn, deps, "verification_resent", tenant_id=row["tenant_id"], person_id=row["person_id"],
                    account_id=row["account_id"], ip=caller.ip)
        return await _touch(conn, deps, flow_id, row)


async def restart(deps: Deps, caller: Caller, flow_id: str) -> dict:
    """Back to the email step; a pending link (and a pending person left with nothing) is killed."""
    now = deps.clock.now()
    async with deps.pool.acquire() as conn, conn.transaction():
        row = await _flow(conn, deps, flow_id)
        _require(row, "restart")
        if row["step"] == FlowStep.PENDING_VERIFICATION and row["person_id"]:
            await drop_pending_link(conn, deps, account_id=row["account_id"], person_id=row["person_id"])
            await conn.execute(sql.SET_CREDENTIAL_STATUS, row["credential_id"], CredentialStatus.ISSUED, None, now)
            await audit(conn, deps, "activation_restarted", tenant_id=row["tenant_id"], person_id=row["person_id"],
                        account_id=row["account_id"], ip=caller.ip)
        await conn.execute(sql.UPDATE_FLOW, deps.hash_token(flow_id), FlowStep.EMAIL, None, None, now)
        return {**flow_json(flow_id, row, step=str(FlowStep.EMAIL)), "email": None}


async def drop_pending_link(conn, deps: Deps, *, account_id, person_id) -> bool:
    """Remove a pending link; its verification tokens die, and the person too if left unverified and alone.

    False when the link is not (or no longer) pending for ``person_id``: a link whose email was
    verified since the caller read it stays.
    """
    # Tokens first, in verify_email's lock order: a verification that consumed its token already is
    # waited for (then its link is found active), one that has not finds its token used.
    await conn.execute(sql.SUPERSEDE_TOKENS, person_id, "verify_email", deps.clock.now())
    dropped = await conn.fetchval(sql.DELETE_PENDING_LINK, account_id, person_id) is not None
    person = await conn.fetchrow(sql.PERSON_BY_ID, person_id)
    if person is not None and person["email_verified_at"] is None:
        if await conn.fetchval(sql.COUNT_PERSON_LINKS, person_id) == 0:
            await conn.execute(sql.DELETE_PERSON, person_id)
    return dropped


async def merge(deps: Deps, caller: Caller, flow_id: str, password: str) -> dict:
    """Link the flow's account to the existing person whose password is given (throttled like login)."""
    now = deps.clock.now()
    async with deps.pool.acquire() as conn, conn.transaction():
        row = await _flow(conn, deps, flow_id)
        _require(row, "merge")
        # Counted before the hash, for the IP as at login (a merge is one more way to try a
        # person's password) and for the person, their row locked: see core.reserve_attempt.
        await reserve_ip_attempt(conn, deps, caller, now)
        attempt = await reserve_attempt(conn, deps, row["person_id"], now)
    if attempt.person is None or not attempt.allowed:
        await _refund_merge(deps, caller, attempt)  # not tried: the IP's hit is given back
        if attempt.person is None:
            raise FlowNotFound()
        raise TooManyRequests(attempt.retry_after)
    try:
        matches, rehash = await deps.verify(attempt.person["password_hash"], normalise_password(password))
    except Busy:
        await _refund_merge(deps, caller, attempt)
        raise
    async with deps.pool.acquire() as conn, conn.transaction():
        row = await _flow(conn, deps, flow_id)
        _require(row, "merge")
        person = await conn.fetchrow(sql.PERSON_BY_ID_FOR_UPDATE, row["person_id"])
        if not matches:
            await audit(conn, deps, "merge_failed", tenant_id=row["tenant_id"], person_id=person["id"],
                        account_id=row["account_id"], ip=caller.ip)
            if attempt.locks:
                await audit(conn, deps, "person_locked", tenant_id=row["tenant_id"], person_id=person["id"],
                            ip=caller.ip)
        else:
            await refund_ip_attempt(conn, caller)  # the limit counts failures
            return await _merge_matched(conn, deps, caller, flow_id, row, person,
                                        rehash=rehash, password=password)
    raise InvalidCredentials()


async def _refund_merge(deps: Deps, caller: Caller, attempt) -> None:
    async with deps.pool.acquire() as conn, conn.transaction():
        await refund_ip_attempt(conn, caller)
        await refund_attempt(conn, attempt)


async def _merge_matched(conn, deps: Deps, caller: Caller, flow_id: str, row, person, *, rehash: bool,
                         password: str) -> dict:
    """The right password: the account joins the person (inside the caller's transaction)."""
    now = deps.clock.now()
    if rehash:
        await conn.execute(sql.REHASH_PERSON, person["id"], await deps.hash(normalise_password(password)))
    await conn.execute(sql.PERSON_LOGIN_FAILED, person["id"], 0, None, None)
    try:
        async with conn.transaction():
            await conn.execute(sql.INSERT_LINK, person["id"], row["tenant_id"], row["account_id"],
                               row["role"], "active", "merge", row["credential_id"], now)
    except asyncpg.UniqueViolationError:
        raise FlowNotFound() from None
    await conn.execute(sql.SET_CREDENTIAL_STATUS, row["credential_id"], CredentialStatus.MERGED,
                       person["id"], now)
    await event(conn, deps, "identity.account_linked", {
        "person_id": person["id"], "email": person["email"], "tenant_id": row["tenant_id"],
        "account_id": row["account_id"], "role": row["role"], "via": "merge",
    }, tenant_id=row["tenant_id"], caller=caller)
    await audit(conn, deps, "account_merged", tenant_id=row["tenant_id"], person_id=person["id"],
                account_id=row["account_id"], ip=caller.ip)
    return await _touch(conn, deps, flow_id, row, step=FlowStep.DONE, email=person["email"])


async def verify_email(deps: Deps, caller: Caller, token: str) -> dict:
    """Consume a verification token: the person is verified and its pending links become active."""
    now = deps.clock.now()
    async with deps.pool.acquire() as conn, conn.transaction():
        found = await conn.fetchrow(sql.CONSUME_TOKEN, deps.hash_token(token), "verify_email", now)
        if found is None:
            raise InvalidToken()
        person = await conn.fetchrow(sql.PERSON_BY_ID_FOR_UPDATE, found["person_id"])
        owner = await conn.fetchrow(sql.VERIFIED_PERSON_BY_EMAIL, email_key(person["email"]))
        if owner is not None and owner["id"] != person["id"]:
            # Someone verified this address first (two activations raced on one email).
            raise InvalidToken()
        await conn.execute(sql.VERIFY_PERSON_EMAIL, person["id"], now)
        links = await conn.fetch(sql.ACTIVATE_PERSON_LINKS, person["id"], now)
        await conn.execute(sql.ACTIVATE_PERSON_CREDENTIALS, person["id"], now)
        await conn.execute(sql.FLOWS_OF_PERSON_DONE, person["id"])
        for link in links:
            await event(conn, deps, "identity.account_linked", {
                "person_id": person["id"], "email": person["email"], "tenant_id": link["tenant_id"],
                "account_id": link["account_id"], "role": link["role"], "via": link["via"],
            }, tenant_id=link["tenant_id"], caller=caller)
        await audit(conn, deps, "email_verified", tenant_id=found["tenant_id"], person_id=person["id"], ip=caller.ip)
        return {"email": person["email"]}
