"""Agency operations: issuance (bulk, keyed hashes), re-issue with reset (unlink), account closed,
states, recipients, audit."""

from __future__ import annotations

import asyncio
import collections
import uuid
from datetime import datetime

import asyncpg

from common.events import Envelope
from common.testing import wait_until
from services.identity import core
from services.identity import repository as sql
from services.identity.agency import handle_account_closed
from services.identity.routes import DEPS
from tests.integration.identity.conftest import STRONG_PASSWORD, Tenant, unique_email


async def _accounts_of(identity, email):
    session = await (await identity.login(email)).json()
    info = await (await identity.post("/v1/sessions/introspect", {"session_id": session["session_id"]})).json()
    return [a["account_id"] for a in info["accounts"]]


async def _issue_many(identity, accounts, *, reset=False, tenant=None):
    tenant = tenant or identity.tenant
    response = await identity.post("/internal/provisional-credentials",
                                   {"tenant_id": tenant.id, "reset": reset,
                                    "accounts": [{"account_id": a, "role": "locataire"} for a in accounts]},
                                   tenant=tenant)
    assert response.status == 201
    return await response.json()


async def test_a_large_issuance_does_not_keep_another_agencys_person_from_logging_in(identity):
    # Issuing hashed one argon2id per account through the login's hashing pool: for the whole batch
    # every login answered 429 (busy), and the logins queued behind it.
    email = unique_email()
    await identity.activate(await identity.issue(), email)
    accounts = [str(uuid.uuid4()) for _ in range(500)]
    issuance = asyncio.ensure_future(_issue_many(identity, accounts, tenant=Tenant()))
    statuses = collections.Counter()
    while not issuance.done():  # at least one login, every one while the issuance runs
        statuses[(await identity.login(email, ip="192.0.2.44")).status] += 1
    assert len((await issuance)["credentials"]) == 500
    assert set(statuses) == {200}, statuses


async def test_provisional_passwords_are_stored_as_a_keyed_hash(identity):
    cred = await identity.issue()
    [row] = await identity.sql("SELECT password_hash FROM credentials WHERE login = $1", cred["login"])
    assert row["password_hash"].startswith("$hmac-sha256$") and not row["password_hash"].startswith("$argon2")
    assert cred["password"] not in row["password_hash"]
    wrong = await identity.post("/v1/activation/start", {"login": cred["login"], "password": cred["password"] + "x"})
    assert wrong.status == 401
    await identity.activate(cred, unique_email())


async def test_a_letter_hashed_with_argon2id_before_still_activates(identity):
    cred = await identity.issue()
    argon2 = await identity.client.app[DEPS].hasher.hash(cred["password"])
    await identity.sql("UPDATE credentials SET password_hash = $2 WHERE login = $1", cred["login"], argon2)
    wrong = await identity.post("/v1/activation/start", {"login": cred["login"], "password": cred["password"] + "x"})
    assert wrong.status == 401
    await identity.activate(cred, unique_email())


async def test_an_unknown_provisional_identifier_costs_a_dummy_keyed_check(identity, monkeypatch):
    # The same work as a known identifier of the keyed format (anti-enumeration by timing).
    checked = []
    original = core.provisional_password_matches

    def spy(key, stored, password):
        checked.append(stored)
        return original(key, stored, password)

    monkeypatch.setattr(core, "provisional_password_matches", spy)
    known = await identity.issue()
    for login in ("ZZZZ2345", known["login"]):
        response = await identity.post("/v1/activation/start", {"login": login, "password": "Mauvais-1"})
        assert response.status == 401
    assert checked[0] is None and checked[1].startswith("$hmac-sha256$")


async def test_linked_account_refused_unless_reset_which_unlinks(identity):
    email = unique_email()
    first = await identity.issue()
    await identity.activate(first, email)
    second = await identity.issue()
    flow = await identity.start(second, intent="merge")
    await identity.post(f"/v1/activation/{flow['flow_id']}/email", {"email": email})
    await identity.post(f"/v1/activation/{flow['flow_id']}/merge", {"password": STRONG_PASSWORD})

    body = await _issue_many(identity, [first["account_id"]])
    assert body == {"credentials": [], "refused": [{"account_id": first["account_id"], "error": "already_linked"}]}

    body = await _issue_many(identity, [first["account_id"]], reset=True)
    assert [c["account_id"] for c in body["credentials"]] == [first["account_id"]]
    assert await _accounts_of(identity, email) == [second["account_id"]]  # keeps the others

    await _issue_many(identity, [second["account_id"]], reset=True)
    assert await _accounts_of(identity, email) == []  # can still log in, sees no account
    kinds = await identity.sql("SELECT kind FROM audit WHERE kind = 'account_unlinked'")
    assert len(kinds) == 2


async def test_reissue_during_a_pending_activation_kills_it(identity):
    email = unique_email()
    cred = await identity.issue()
    await identity.activate_pending(cred, email)
    token = await identity.last_token("identity.email_verification_requested", "verification_url")
    await identity.issue(account_id=cred["account_id"])
    assert (await identity.post("/v1/email/verify", {"token": token})).status == 400
    assert await identity.sql("SELECT 1 FROM persons WHERE email = $1", email) == []


async def _waiting_on_a_lock(identity) -> bool:
    rows = await identity.sql("SELECT 1 FROM pg_stat_activity WHERE datname = current_database()"
                              " AND wait_event_type = 'Lock'")
    return bool(rows)


async def test_a_reissue_racing_with_the_verification_keeps_the_link_it_activated(identity):
    # The email is verified (its identity.account_linked event in the outbox) after the re-issue read
    # the link as pending and before it deleted it: the delete must spare the now active link, and
    # the account be refused as already linked. The verification's statements, in verify_email's
    # order, are left uncommitted on a second connection until the re-issue waits for them.
    email = unique_email()
    cred = await identity.issue()
    await identity.activate_pending(cred, email)
    token = await identity.last_token("identity.email_verification_requested", "verification_url")
    deps, now = identity.client.app[DEPS], identity.clock.now()
    verifying = await asyncpg.connect(identity.dsn)
    try:
        transaction = verifying.transaction()
        await transaction.start()
        found = await verifying.fetchrow(sql.CONSUME_TOKEN, deps.hash_token(token), "verify_email", now)
        await verifying.execute(sql.VERIFY_PERSON_EMAIL, found["person_id"], now)
        assert len(await verifying.fetch(sql.ACTIVATE_PERSON_LINKS, found["person_id"], now)) == 1
        await verifying.execute(sql.ACTIVATE_PERSON_CREDENTIALS, found["person_id"], now)
        reissue = asyncio.ensure_future(_issue_many(identity, [cred["account_id"]]))
        await wait_until(lambda: _waiting_on_a_lock(identity), message="the re-issue waits for the verification")
        await transaction.commit()
        body = await reissue
    finally:
        await verifying.close()
    assert body == {"credentials": [], "refused": [{"account_id": cred["account_id"], "error": "already_linked"}]}
    assert await _accounts_of(identity, email) == [cred["account_id"]]


async def test_account_closed_unlinks_and_revokes(identity):
    email = unique_email()
    linked = await identity.issue()
    await identity.activate(linked, email)
    waiting = await identity.issue()
    deps = identity.client.app[DEPS]

    async def closed(account_id):
        envelope = Envelope(id=uuid.uuid4(), type="tenancy.account_closed", version=1,
                            occurred_at=identity.clock.now(), tenant_id=identity.tenant.id,
                            payload={"account_id": account_id, "tenant_id": identity.tenant.id, "ref": "C001"})
        async with deps.pool.acquire() as conn, conn.transaction():
            await handle_account_closed(conn, envelope, deps=deps)

    await closed(linked["account_id"])
    await closed(waiting["account_id"])
    await closed(waiting["account_id"])  # idempotent
    assert await _accounts_of(identity, email) == []
    response = await identity.post("/v1/activation/start", {"login": waiting["login"],
                                                            "password": waiting["password"]})
    assert response.status == 401
    states = await (await identity.post("/internal/account-states", {"tenant_id": identity.tenant.id})).json()
    assert states == {"states": []}


async def test_account_states(identity):
    issued, expiring, pending, active = [await identity.issue(ttl_days=d) for d in (60, 1, 60, 60)]
    await identity.activate_pending(pending, unique_email())
    activated_at = identity.clock.now()
    await identity.activate(active, unique_email())
    identity.clock.advance(days=1)
    await identity.issue(tenant=Tenant())  # another tenant's account is not listed
    response = await identity.post("/internal/account-states", {"tenant_id": identity.tenant.id})
    entries = {s["account_id"]: s for s in (await response.json())["states"]}
    states = {a: s["state"] for a, s in entries.items()}
    assert states == {issued["account_id"]: "credentials_issued", expiring["account_id"]: "expired",
                      pending["account_id"]: "pending_verification", active["account_id"]: "activated"}
    # Only an activated account says when: the moment its link became active (the email verified).
    assert datetime.fromisoformat(entries[active["account_id"]]["activated_at"]) == activated_at
    assert [a for a, s in entries.items() if "activated_at" in s] == [active["account_id"]]


async def test_recipients_are_verified_persons_of_the_accounts(identity):
    email = unique_email()
    a, b = await identity.issue(), await identity.issue()
    await identity.activate(a, email)
    flow = await identity.start(b, intent="merge")
    await identity.post(f"/v1/activation/{flow['flow_id']}/email", {"email": email})
    await identity.post(f"/v1/activation/{flow['flow_id']}/merge", {"password": STRONG_PASSWORD})
    pending = await identity.issue()
    await identity.activate_pending(pending, unique_email())
    unknown = str(uuid.uuid4())
    response = await identity.post("/internal/recipients",
                                   {"account_ids": [a["account_id"], b["account_id"], pending["account_id"], unknown]})
    [recipient] = (await response.json())["recipients"]
    assert recipient["email"] == email
    assert sorted(recipient["account_ids"]) == sorted([a["account_id"], b["account_id"]])


async def test_audit_by_tenant_with_operator_or_own_agency(identity):
    email = unique_email()
    await identity.activate(await identity.issue(), email)
    await identity.login(email, "Mauvais-1")
    await identity.login(email)
    url = f"/internal/audit?tenant_id={identity.tenant.id}"
    response = await identity.get(url, act="operator")
    kinds = [item["kind"] for item in (await response.json())["items"]]
    assert kinds == ["login_succeeded", "login_failed", "email_verified", "activation_pending",
                     "activation_started", "credentials_issued"]
    assert (await identity.get(url, act="agency")).status == 200
    assert (await identity.get(url, act="agency", tenant=Tenant())).status == 403
    assert (await identity.get(url)).status == 403
    page = await (await identity.get(url + "&limit=2", act="operator")).json()
    assert len(page["items"]) == 2
    rest = await (await identity.get(url + f"&before={page['next_before']}", act="operator")).json()
    assert [i["kind"] for i in rest["items"]][:1] == ["email_verified"]
