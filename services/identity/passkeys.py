"""Passkeys (WebAuthn) of persons (issue 15), verified by py_webauthn: registration from the
profile, the second factor after the password, and the passwordless login.

The relying party is the public site: ``IDENTITY_WEBAUTHN_RP_ID`` or PUBLIC_BASE_URL's host; the
only origin accepted is PUBLIC_BASE_URL's. Challenges live server-side (single use, 5 minutes,
bound to the client IP). Passkeys always require user verification at a passwordless login (the
device's PIN or biometrics: the second factor is there), and a signature counter going backwards
refuses the passkey (a cloned authenticator).
"""

from __future__ import annotations

import json
import uuid
from datetime import timedelta
from urllib.parse import urlsplit

import webauthn
from webauthn.helpers import options_to_json
from webauthn.helpers.exceptions import WebAuthnException
from webauthn.helpers.structs import (
    AuthenticatorSelectionCriteria,
    AuthenticatorTransport,
    PublicKeyCredentialDescriptor,
    ResidentKeyRequirement,
    UserVerificationRequirement,
)

from common.logging import get_logger
from services.identity import repository as sql
from services.identity.core import Caller, Deps, audit, hit_window, lock_ip_window, person_gate
from services.identity.domain import new_secret
from services.identity.errors import (
    InvalidCredentials,
    InvalidMfaCode,
    MfaChallengeInvalid,
    MfaNotEnrolled,
    MfaRequiredByAgency,
    TooManyRequests,
)

__all__ = ["login_options", "passwordless_login", "passwordless_options", "register", "registration_options",
           "remove", "verify_assertion"]

log = get_logger(__name__)
_TTL = timedelta(minutes=5)
_TRANSPORTS = {t.value for t in AuthenticatorTransport}


def _rp(deps: Deps) -> tuple[str, str]:
    """(rp_id, origin) of the public site."""
    parts = urlsplit(deps.settings.public_base_url)
    return deps.settings.webauthn_rp_id or (parts.hostname or ""), f"{parts.scheme}://{parts.netloc}".lower()


def _descriptor(row) -> PublicKeyCredentialDescriptor:
    transports = [AuthenticatorTransport(t) for t in row["transports"] if t in _TRANSPORTS]
    return PublicKeyCredentialDescriptor(id=bytes(row["id"]), transports=transports or None)


async def _ceremony(deps: Deps, caller: Caller, *, purpose: str, person_id, challenge: bytes) -> str:
    now = deps.clock.now()
    ceremony_id = new_secret(32)
    await deps.pool.execute(sql.INSERT_CEREMONY, deps.hash_token(ceremony_id), purpose, person_id, challenge,
                            caller.ip, now, now + _TTL)
    return ceremony_id


async def _consume(conn, deps: Deps, caller: Caller, ceremony_id: str, purpose: str):
    row = await conn.fetchrow(sql.CONSUME_CEREMONY, deps.hash_token(ceremony_id or ""), purpose, deps.clock.now())
    if row is None or row["ip"] != caller.ip:
        raise MfaChallengeInvalid()
    return row


# ---- registration (a logged-in person, claim pid) -------------------------------------------

async def registration_options(deps: Deps, caller: Caller) -> dict:
    """The options for ``navigator.credentials.create`` and the ceremony to answer with."""
    from services.identity.mfa import _person_id

    person_id = _person_id(caller)
    person = await deps.pool.fetchrow(sql.PERSON_BY_ID, person_id)
    if person is None:
        raise InvalidCredentials()
    existing = await deps.pool.fetch(sql.PASSKEYS_OF_PERSON, person_id)
    rp_id, _ = _rp(deps)
    options = webauthn.generate_registration_options(
        rp_id=rp_id, rp_name=deps.settings.webauthn_rp_name, user_name=person["email"],
        user_id=person_id.bytes, user_display_name=person["email"],
        authenticator_selection=AuthenticatorSelectionCriteria(
            resident_key=ResidentKeyRequirement.PREFERRED, user_verification=UserVerificationRequirement.PREFERRED),
        exclude_credentials=[_descriptor(r) for r in existing])
    ceremony_id = await _ceremony(deps, caller, purpose="register", person_id=person_id, challenge=options.challenge)
    return {"ceremony_id": ceremony_id, "options": json.loads(options_to_json(options))}


async def register(deps: Deps, caller: Caller, *, ceremony_id: str, credential: dict, name: str) -> dict:
    """Store a new passkey; the first factor of a person also brings the ten recovery codes."""
    from services.identity.mfa import _changed, _new_recovery_codes, _person_id

    person_id = _person_id(caller)
    rp_id, origin = _rp(deps)
    now = deps.clock.now()
    async with deps.pool.acquire() as conn, conn.transaction():
        ceremony = await _consume(conn, deps, caller, ceremony_id, "register")
        if ceremony["person_id"] != person_id:
            raise MfaChallengeInvalid()
        try:
            verified = webauthn.verify_registration_response(
                credential=credential, expected_challenge=bytes(ceremony["challenge"]), expected_rp_id=rp_id,
                expected_origin=origin)
        # Any malformed part (JSON, CBOR, key, signature) is a refusal, never a 500.
        except (WebAuthnException, ValueError, KeyError, TypeError, AttributeError, IndexError) as exc:
            log.info("passkey.registration_refused", reason=type(exc).__name__)
            raise InvalidMfaCode() from None
        had_factor = await conn.fetchval(sql.PERSON_HAS_FACTOR, person_id)
        response = credential.get("response")
        listed = response.get("transports") if isinstance(response, dict) else None
        transports = [t for t in listed if isinstance(t, str) and t in _TRANSPORTS] if isinstance(listed, list) else []
        stored = await conn.fetchval(sql.INSERT_PASSKEY, verified.credential_id, person_id,
                                     verified.credential_public_key, verified.sign_count, transports,
                                     (name or "").strip()[:60] or "Clé d'accès", now)
        if stored is None:  # the same authenticator twice (exclude_credentials should have stopped it)
            raise InvalidMfaCode()
        codes = None if had_factor else await _new_recovery_codes(conn, deps, person_id, now)
        person = await conn.fetchrow(sql.PERSON_BY_ID, person_id)
        await _changed(conn, deps, caller, person, kind="added", factor="passkey")
    return {"recovery_codes": codes}


async def remove(deps: Deps, caller: Caller, *, passkey_id: str, password: str) -> None:
    """Remove one passkey (password required); the recovery codes go with the last factor."""
    from services.identity.mfa import _changed, _with_password, factor_required

    person = await _with_password(deps, caller, password)
    try:
        raw_id = webauthn.base64url_to_bytes(passkey_id)
    except (ValueError, TypeError):
        raise MfaNotEnrolled() from None
    async with deps.pool.acquire() as conn, conn.transaction():
        removed = await conn.fetchval(sql.DELETE_PASSKEY, raw_id, person["id"])
        if removed is None:
            raise MfaNotEnrolled()
        if not await conn.fetchval(sql.PERSON_HAS_FACTOR, person["id"]):
            if await factor_required(deps, person["id"]):
                raise MfaRequiredByAgency()  # rolls the removal back
            await conn.execute(sql.DELETE_RECOVERY_CODES, person["id"])
        await _changed(conn, deps, caller, person, kind="removed", factor="passkey")


async def list_of(conn, person_id) -> list[dict]:
    return [{"id": webauthn.helpers.bytes_to_base64url(bytes(r["id"])), "name": r["name"],
             "created_at": r["created_at"].isoformat(),
             "last_used_at": r["last_used_at"].isoformat() if r["last_used_at"] else None}
            for r in await conn.fetch(sql.PASSKEYS_OF_PERSON, person_id)]


# ---- the second factor after the password -----------------------------------------------------

async def login_options(deps: Deps, caller: Caller, *, mfa_token: str) -> dict:
    """The options for ``navigator.credentials.get`` in the step after the password."""
    from services.identity.mfa import load_challenge

    rp_id, _ = _rp(deps)
    async with deps.pool.acquire() as conn, conn.transaction():
        challenge = await load_challenge(conn, deps, caller, mfa_token, purpose="login")
        keys = await conn.fetch(sql.PASSKEYS_OF_PERSON, challenge["person_id"])
        if not keys:
            raise MfaNotEnrolled()
        options = webauthn.generate_authentication_options(
            rp_id=rp_id, allow_credentials=[_descriptor(k) for k in keys],
            user_verification=UserVerificationRequirement.PREFERRED)
        await conn.execute(sql.SET_CHALLENGE_WEBAUTHN, challenge["hash"], options.challenge)
    return {"options": json.loads(options_to_json(options))}


async def verify_assertion(conn, deps: Deps, *, person_id, challenge: bytes | None, assertion: dict,
                           require_user_verification: bool = False) -> bool:
    """Whether ``assertion`` is a valid signature of ``challenge`` by one of the person's passkeys
    (its counter moves forward); inside the caller's transaction."""
    if not challenge or not isinstance(assertion, dict):
        return False
    rp_id, origin = _rp(deps)
    try:
        raw_id = webauthn.base64url_to_bytes(str(assertion.get("rawId") or assertion.get("id") or ""))
    except (ValueError, TypeError):
        return False
    key = await conn.fetchrow(sql.PASSKEY_BY_ID, raw_id)
    if key is None or key["person_id"] != person_id:
        return False
    try:
        verified = webauthn.verify_authentication_response(
            credential=assertion, expected_challenge=bytes(challenge), expected_rp_id=rp_id, expected_origin=origin,
            credential_public_key=bytes(key["public_key"]), credential_current_sign_count=key["sign_count"],
            require_user_verification=require_user_verification)
    except (WebAuthnException, ValueError, KeyError, TypeError, AttributeError, IndexError) as exc:
        log.info("passkey.assertion_refused", reason=type(exc).__name__)
        return False
    return await conn.fetchval(sql.PASSKEY_USED, raw_id, verified.new_sign_count, deps.clock.now()) is not None


# ---- passwordless -----------------------------------------------------------------------------

async def passwordless_options(deps: Deps, caller: Caller) -> dict:
    """Options for a discoverable passkey (the browser proposes the person's own)."""
    rp_id, _ = _rp(deps)
    options = webauthn.generate_authentication_options(rp_id=rp_id,
                                                       user_verification=UserVerificationRequirement.REQUIRED)
    ceremony_id = await _ceremony(deps, caller, purpose="login", person_id=None, challenge=options.challenge)
    return {"ceremony_id": ceremony_id, "options": json.loads(options_to_json(options))}


async def passwordless_login(deps: Deps, caller: Caller, *, ceremony_id: str, assertion: dict) -> dict:
    """A session from a passkey alone (user verification required: the device's PIN or biometrics)."""
    from services.identity.auth import open_session

    s = deps.settings
    now = deps.clock.now()
    person = None
    async with deps.pool.acquire() as conn, conn.transaction():
        await lock_ip_window(conn, deps, caller, now)  # held until this failure is counted
        ceremony = await _consume(conn, deps, caller, ceremony_id, "login")
        response = assertion.get("response") if isinstance(assertion, dict) else None
        handle = response.get("userHandle") if isinstance(response, dict) else None
        try:
            person_id = uuid.UUID(bytes=webauthn.base64url_to_bytes(handle)) if isinstance(handle, str) else None
        except ValueError:
            person_id = None
        candidate = await conn.fetchrow(sql.PERSON_BY_ID, person_id) if person_id else None
        usable = (candidate is not None and candidate["status"] == "active"
                  and candidate["email_verified_at"] is not None)
        if usable and not person_gate(deps, candidate, now).allowed:
            raise TooManyRequests(person_gate(deps, candidate, now).retry_after)
        if usable and await verify_assertion(conn, deps, person_id=person_id, challenge=ceremony["challenge"],
                                             assertion=assertion, require_user_verification=True):
            person = candidate
        else:
            if caller.ip:
                await hit_window(conn, f"login-ip:{caller.ip}", now=now, limit=s.ip_failure_limit,
                                 period_seconds=s.ip_failure_window_seconds)
            await audit(conn, deps, "passkey_login_failed", tenant_id=caller.tenant_id,
                        person_id=person_id if candidate else None, ip=caller.ip)
    if person is None:
        deps.logins.labels("invalid").inc()
        raise InvalidCredentials()
    return await open_session(deps, caller, person)
