"""Operations for tenancy and the notifier: credentials, unlink, account states, recipients, audit."""

from __future__ import annotations

import uuid
from datetime import timedelta

import asyncpg

from common.events import Envelope
from services.identity import repository as sql
from services.identity.activation import drop_pending_link
from services.identity.core import Caller, Deps, audit, event
from services.identity.domain import (
    CredentialStatus,
    credential_state,
    generate_login,
    generate_provisional_password,
)
from services.identity.errors import AccountNotFound, AccountNotLinked

_LOGIN_ATTEMPTS = 10


async def issue_credentials(deps: Deps, caller: Caller, *, tenant_id: uuid.UUID, ttl_days: int | None,
                            reset: bool, accounts: list[dict]) -> dict:
    """Issue one credential per account; re-issue revokes the earlier ones, ``reset`` unlinks first.

    Accounts linked to a person are refused (``already_linked``) unless ``reset``; so is one whose
    pending link became active while the batch ran (its email verified meanwhile).
    """
    now = deps.clock.now()
    expires_at = now + timedelta(days=ttl_days or deps.settings.credential_ttl_days)
    issued, refused = [], []
    async with deps.pool.acquire() as conn, conn.transaction():
        for account in accounts:
            account_id = account["account_id"]
            if await conn.fetchval(sql.ACCOUNT_KNOWN_IN_OTHER_TENANT, account_id, tenant_id):
                # Account ids are tenancy's, unique across tenants: one seen elsewhere is not this tenant's.
                refused.append({"account_id": str(account_id), "error": "other_tenant"})
                continue
            if not await unlink(conn, deps, caller, account_id=account_id, reason="reset", keep_active=not reset):
                refused.append({"account_id": str(account_id), "error": "already_linked"})
                continue
            await _revoke(conn, deps, caller, tenant_id=tenant_id, account_id=account_id, reason="reissue")
            # A keyed hash (microseconds), not argon2id: no hashing thread is taken from logins.
            password = generate_provisional_password()
            login = await _insert_credential(conn, tenant_id=tenant_id, account=account,
                                             password_hash=deps.hash_provisional(password),
                                             now=now, expires_at=expires_at)
            await audit(conn, deps, "credentials_issued", tenant_id=tenant_id, account_id=account_id, ip=caller.ip,
                        staff_id=caller.staff_id)
            issued.append({"account_id": str(account_id), "login": login, "password": password,
                           "expires_at": expires_at.isoformat()})
    return {"credentials": issued, "refused": refused}


async def _insert_credential(conn, *, tenant_id, account: dict, password_hash: str, now, expires_at) -> str:
    for _ in range(_LOGIN_ATTEMPTS):
        login = generate_login()
        try:
            async with conn.transaction():
                await conn.execute(sql.INSERT_CREDENTIAL, uuid.uuid4(), tenant_id, account["account_id"],
                                   account["role"], account.get("display_name") or "",
                                   account.get("suggested_email"), login, password_hash, now, expires_at)
            return login
        except asyncpg.UniqueViolationError as exc:
            if exc.constraint_name != "credentials_login_key":
                raise
    raise RuntimeError("could not draw a unique provisional identifier")


async def _revoke(conn, deps: Deps, caller: Caller, *, tenant_id, account_id, reason: str) -> None:
    revoked = await conn.fetch(sql.REVOKE_LIVE_CREDENTIALS, account_id, deps.clock.now())
    for row in revoked:
        await conn.execute(sql.DELETE_FLOWS_OF_CREDENTIAL, row["id"])
        if row["status"] == CredentialStatus.ACTIVATING and row["person_id"]:
            await drop_pending_link(conn, deps, account_id=account_id, person_id=row["person_id"])
        await audit(conn, deps, "credentials_revoked", tenant_id=tenant_id, account_id=account_id, ip=caller.ip,
                    reason=reason)


async def unlink(conn, deps: Deps, caller: Caller, *, account_id, reason: str, keep_active: bool = False,
                 **detail) -> bool:
    """Detach an account from its person; the person keeps its other accounts and can still log in.

    With ``keep_active`` only a pending link goes: False, and nothing done, when the account is linked
    actively, even if its email was verified after this read (the delete re-checks the status).
    """
    link = await conn.fetchrow(sql.LINK_BY_ACCOUNT, account_id)
    if link is not None and link["status"] == "pending" and not await drop_pending_link(
            conn, deps, account_id=account_id, person_id=link["person_id"]):
        # No longer pending: verified since the read above (active now), or dropped by a restart.
        link = await conn.fetchrow(sql.LINK_BY_ACCOUNT, account_id)
    if link is None:
        return True
    if link["status"] == "active":
        if keep_active:
            return False
        await conn.execute(sql.DELETE_LINK, account_id)
    await audit(conn, deps, "account_unlinked", tenant_id=link["tenant_id"], person_id=link["person_id"],
                account_id=account_id, ip=caller.ip, staff_id=caller.staff_id, reason=reason, **detail)
    return True


async def unlink_for_agency(deps: Deps, caller: Caller, *, tenant_id: uuid.UUID, account_id: uuid.UUID,
                            reason: str, note: str) -> dict:
    """The agency detaches an account from its person (a sold lot, a wrong merge): the person loses that
    account at once, is told by email (the reason, never the agency's note), and the letters of the
    account still in circulation die with it."""
    async with deps.pool.acquire() as conn, conn.transaction():
        link = await conn.fetchrow(sql.LINK_BY_ACCOUNT, account_id)
        if link is None or link["tenant_id"] != tenant_id:
            raise AccountNotLinked()
        person = await conn.fetchrow(sql.PERSON_BY_ID, link["person_id"])
        await unlink(conn, deps, caller, account_id=account_id, reason=reason, note=note)
        await _revoke(conn, deps, caller, tenant_id=tenant_id, account_id=account_id, reason="unlinked")
        if person is not None and person["email_verified_at"] is not None and link["status"] == "active":
            await event(conn, deps, "identity.account_unlinked", {
                "person_id": person["id"], "email": person["email"], "tenant_id": tenant_id,
                "account_id": account_id, "role": link["role"], "reason": reason,
            }, tenant_id=tenant_id, caller=caller)
    return {"account_id": str(account_id), "person_notified": person is not None and link["status"] == "active"
            and person["email_verified_at"] is not None}


async def close_account(deps: Deps, caller: Caller, *, tenant_id: uuid.UUID, account_id: uuid.UUID) -> None:
    """The agency closed the account: its person loses it and its letters die, now (tenancy calls this
    once the close is committed; ``tenancy.account_closed`` does the same again later, idempotently,
    which covers a call that failed). An account of another tenant: :class:`AccountNotFound`."""
    async with deps.pool.acquire() as conn, conn.transaction():
        if await conn.fetchval(sql.ACCOUNT_KNOWN_IN_OTHER_TENANT, account_id, tenant_id):
            raise AccountNotFound()
        await _close(conn, deps, caller, tenant_id=tenant_id, account_id=account_id)


async def handle_account_closed(conn: asyncpg.Connection, envelope: Envelope, *, deps: Deps) -> None:
    """``tenancy.account_closed``: unlink the account and revoke its credentials (idempotent)."""
    account_id = uuid.UUID(str(envelope.payload["account_id"]))
    tenant_id = uuid.UUID(str(envelope.payload["tenant_id"]))
    caller = Caller(tenant_id=str(tenant_id), request_id=envelope.correlation_id)
    await _close(conn, deps, caller, tenant_id=tenant_id, account_id=account_id)


async def _close(conn: asyncpg.Connection, deps: Deps, caller: Caller, *, tenant_id: uuid.UUID,
                 account_id: uuid.UUID) -> None:
    await unlink(conn, deps, caller, account_id=account_id, reason="account_closed")
    await _revoke(conn, deps, caller, tenant_id=tenant_id, account_id=account_id, reason="account_closed")


async def account_states(deps: Deps, *, tenant_id: uuid.UUID, account_ids: list[uuid.UUID] | None = None) -> dict:
    """Per account of the tenant (or of ``account_ids``): activated, pending_verification,
    credentials_issued or expired; an activated account also says ``via`` (activation or merge) and
    ``activated_at`` (when its link became active)."""
    now = deps.clock.now()
    states: dict[str, dict] = {}
    async with deps.pool.acquire() as conn:
        for row in await conn.fetch(sql.CREDENTIAL_STATES, tenant_id, account_ids):
            state = credential_state(row["status"], row["expires_at"], now)
            if state in (CredentialStatus.ISSUED,):
                states[str(row["account_id"])] = {"state": "credentials_issued"}
            elif state == CredentialStatus.EXPIRED:
                states[str(row["account_id"])] = {"state": "expired"}
        for row in await conn.fetch(sql.LINKED_ACCOUNTS_OF_TENANT, tenant_id, account_ids):
            # An active link's linked_at is when it became active (verification or merge): the activation time.
            states[str(row["account_id"])] = ({"state": "activated", "via": row["via"],
                                               "activated_at": row["linked_at"].isoformat()}
                                              if row["status"] == "active" else {"state": "pending_verification"})
    return {"states": [{"account_id": a, **s} for a, s in sorted(states.items())]}


async def recipients(deps: Deps, *, tenant_id: uuid.UUID, account_ids: list[uuid.UUID]) -> dict:
    """Persons with a verified email linked to any of ``account_ids`` of ``tenant_id`` (others are left out)."""
    rows = await deps.pool.fetch(sql.RECIPIENTS, account_ids, tenant_id)
    return {"recipients": [{"person_id": str(r["person_id"]), "email": r["email"],
                            "account_ids": [str(a) for a in r["account_ids"]]} for r in rows]}


async def audit_log(deps: Deps, *, tenant_id: uuid.UUID, person_id: uuid.UUID | None, before: int | None,
                    limit: int) -> dict:
    """The tenant's security events, newest first, keyset-paginated by ``before``."""
    rows = await deps.pool.fetch(sql.AUDIT_OF_TENANT, tenant_id, before, person_id, limit)
    items = [{"id": r["id"], "at": r["at"].isoformat(), "tenant_id": str(r["tenant_id"]),
              "person_id": str(r["person_id"]) if r["person_id"] else None,
              "account_id": str(r["account_id"]) if r["account_id"] else None,
              "kind": r["kind"], "ip": r["ip"], "detail": r["detail"]} for r in rows]
    return {"items": items, "next_before": items[-1]["id"] if len(items) == limit else None}
