"""Login, throttling, sessions, forgotten password, reset and change."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

from tests.integration.identity.conftest import STRONG_PASSWORD, Tenant, unique_email

NEW_PASSWORD = "Jardin-fleuri-77"


async def _person(identity, *, tenant=None) -> tuple[str, dict]:
    email = unique_email()
    cred = await identity.issue(tenant=tenant)
    await identity.activate(cred, email, tenant=tenant)
    return email, cred


async def _session(identity, email, password=STRONG_PASSWORD, **kw) -> dict:
    response = await identity.login(email, password, **kw)
    assert response.status == 200, await response.text()
    return await response.json()


async def _alive(identity, session) -> bool:
    response = await identity.post("/v1/sessions/introspect", {"session_id": session["session_id"]})
    return response.status == 200


async def test_login_failures_are_indistinguishable(identity):
    verified, _ = await _person(identity)
    unverified = unique_email()
    await identity.activate_pending(await identity.issue(), unverified)
    locked, _ = await _person(identity)
    for _ in range(10):
        await identity.login(locked, "Mauvais-1")
        identity.clock.advance(seconds=61)
    bodies = []
    for email, password in (("inconnu@exemple.fr", STRONG_PASSWORD), (verified, "Mauvais-1"),
                            (unverified, STRONG_PASSWORD), (locked, STRONG_PASSWORD)):
        response = await identity.login(email, password)
        bodies.append((response.status, await response.json()))
    assert all(b == bodies[0] for b in bodies), bodies
    assert bodies[0] == (401, {"error": "invalid_credentials", "detail": "Invalid credentials"})
    reasons = await identity.sql("SELECT detail->>'reason' AS r FROM audit WHERE kind = 'login_failed'"
                                 " AND detail->>'reason' <> 'wrong_password' ORDER BY id")
    assert [r["r"] for r in reasons] == ["unverified", "locked"]


async def test_unknown_email_costs_a_hash_verification(identity, monkeypatch):
    calls = []
    hasher = identity.client.app[_deps_key()].hasher
    original = hasher._verify_sync

    def spy(stored, password):
        calls.append(stored)
        return original(stored, password)

    monkeypatch.setattr(hasher, "_verify_sync", spy)
    await identity.login("inconnu@exemple.fr", STRONG_PASSWORD)
    assert calls == [None]  # verified against the dummy hash, like a known email


def _deps_key():
    from services.identity.routes import DEPS

    return DEPS


async def test_growing_delay_then_lock_then_recovery_by_reset(identity):
    email, _ = await _person(identity)
    for _ in range(5):
        assert (await identity.login(email, "Mauvais-1")).status == 401
    # Inside the delay even the right password fails, with the same answer.
    assert (await identity.login(email)).status == 401
    identity.clock.advance(seconds=1)
    for delay in (1, 2, 4, 8, 16):
        identity.clock.advance(seconds=delay)
        assert (await identity.login(email, "Mauvais-1")).status == 401
    identity.clock.advance(seconds=60)
    assert (await identity.login(email)).status == 401  # locked for 15 minutes
    locks = await identity.sql("SELECT count(*) AS n FROM audit WHERE kind = 'person_locked'")
    assert locks[0]["n"] == 1
    # A reset is still possible while locked, and lifts the lock.
    assert (await identity.post("/v1/password/forgot", {"identifier": email})).status == 202
    token = await identity.last_token("identity.password_reset_requested", "reset_url")
    response = await identity.post("/v1/password/reset", {"token": token, "password": NEW_PASSWORD,
                                                          "confirmation": NEW_PASSWORD})
    assert response.status == 200
    await _session(identity, email, NEW_PASSWORD)


async def test_lock_is_never_permanent(identity):
    email, _ = await _person(identity)
    for _ in range(10):
        await identity.login(email, "Mauvais-1")
        identity.clock.advance(seconds=61)
    identity.clock.advance(minutes=13)  # 14:01 after the tenth failure
    assert (await identity.login(email)).status == 401
    identity.clock.advance(minutes=1)
    await _session(identity, email)


async def test_session_idle_and_absolute_expiry(identity):
    email, _ = await _person(identity)
    session = await _session(identity, email)
    identity.clock.advance(minutes=29)
    assert await _alive(identity, session)
    identity.clock.advance(minutes=31)
    assert not await _alive(identity, session)

    session = await _session(identity, email)
    for _ in range(24):  # active all day: the 12 h absolute limit still ends it
        identity.clock.advance(minutes=29)
        assert await _alive(identity, session)
    identity.clock.advance(minutes=29)
    assert not await _alive(identity, session)


async def test_page_views_move_the_idle_expiry_at_most_once_a_minute(identity):
    email, _ = await _person(identity)
    session = await _session(identity, email)
    hashed = identity.client.app[_deps_key()].hash_token(session["session_id"])

    async def last_seen():
        [row] = await identity.sql("SELECT last_seen_at FROM sessions WHERE id_hash = $1", hashed)
        return row["last_seen_at"]

    opened = await last_seen()
    identity.clock.advance(seconds=30)
    assert await _alive(identity, session)
    assert await last_seen() == opened  # a page view inside the minute only reads
    identity.clock.advance(seconds=31)
    assert await _alive(identity, session)
    assert await last_seen() == identity.clock.now()
    # The idle limit counts from the recorded activity: 30 min after it, the session is over even
    # though a page was seen 20 s after it was recorded.
    identity.clock.advance(seconds=20)
    assert await _alive(identity, session)
    identity.clock.advance(minutes=29, seconds=41)
    assert not await _alive(identity, session)


async def test_introspection_lists_the_active_links_in_order(identity):
    email, cred = await _person(identity)
    session = await _session(identity, email)
    # A second link, made earlier (as by a merge), comes first: the links are in the order they were made.
    earlier = str(uuid.uuid4())
    await identity.sql("INSERT INTO links (person_id, tenant_id, account_id, role, status, via, linked_at)"
                       " SELECT person_id, tenant_id, $2::uuid, 'bailleur', 'active', 'merge',"
                       " linked_at - interval '1 day' FROM links WHERE person_id = $1::uuid",
                       session["person_id"], earlier)
    info = await (await identity.post("/v1/sessions/introspect", {"session_id": session["session_id"]})).json()
    assert [(a["account_id"], a["role"]) for a in info["accounts"]] == [(earlier, "bailleur"),
                                                                         (cred["account_id"], "coproprietaire")]
    assert info["email"] == email and info["person_id"] == session["person_id"]
    await identity.sql("UPDATE links SET status = 'pending' WHERE person_id = $1::uuid", session["person_id"])
    info = await (await identity.post("/v1/sessions/introspect", {"session_id": session["session_id"]})).json()
    assert info["accounts"] == []
    await identity.sql("UPDATE persons SET status = 'disabled' WHERE id = $1::uuid", session["person_id"])
    assert not await _alive(identity, session)


async def test_previous_login_is_reported(identity):
    email, _ = await _person(identity)
    await _session(identity, email)
    first_at = identity.clock.now()
    identity.clock.advance(days=1)
    session = await _session(identity, email)
    info = await (await identity.post("/v1/sessions/introspect", {"session_id": session["session_id"]})).json()
    assert info["previous_login_at"] == first_at.isoformat()


async def test_list_and_end_other_sessions(identity):
    email, _ = await _person(identity)
    current = await _session(identity, email, ip="192.0.2.1")
    others = [await _session(identity, email, ip="192.0.2.2") for _ in range(2)]
    info = await (await identity.post("/v1/sessions/introspect", {"session_id": current["session_id"]})).json()
    claims = {"pid": current["person_id"], "sref": info["session_ref"]}
    listed = (await (await identity.get("/v1/me/sessions", **claims)).json())["sessions"]
    assert len(listed) == 3 and [s["current"] for s in listed].count(True) == 1
    assert {s["ip"] for s in listed} == {"192.0.2.1", "192.0.2.2"}
    response = await identity.post("/v1/me/sessions/end-others", **claims)
    assert await response.json() == {"ended": 2}
    assert await _alive(identity, current)
    assert not any([await _alive(identity, s) for s in others])
    assert (await identity.get("/v1/me/sessions")).status == 403  # no pid claim


async def test_password_change(identity):
    email, _ = await _person(identity)
    current = await _session(identity, email)
    other = await _session(identity, email)
    info = await (await identity.post("/v1/sessions/introspect", {"session_id": current["session_id"]})).json()
    claims = {"pid": current["person_id"], "sref": info["session_ref"]}
    await identity.post("/v1/password/forgot", {"identifier": email})
    pending_reset = await identity.last_token("identity.password_reset_requested", "reset_url")

    response = await identity.post("/v1/me/password", {"old_password": STRONG_PASSWORD, "new_password": "faible",
                                                       "confirmation": "faible"}, **claims)
    assert response.status == 422 and (await response.json())["error"] == "password_policy"
    response = await identity.post("/v1/me/password", {"old_password": "Mauvais-1", "new_password": NEW_PASSWORD,
                                                       "confirmation": NEW_PASSWORD}, **claims)
    assert response.status == 401
    failures = await identity.sql("SELECT failed_logins FROM persons WHERE id = $1::uuid", current["person_id"])
    assert failures[0]["failed_logins"] == 1  # a wrong old password counts as a failed attempt
    response = await identity.post("/v1/me/password", {"old_password": STRONG_PASSWORD, "new_password": NEW_PASSWORD,
                                                       "confirmation": NEW_PASSWORD}, **claims)
    assert response.status == 200
    assert await _alive(identity, current) and not await _alive(identity, other)
    [changed] = await identity.events("identity.password_changed")
    assert changed["reason"] == "change" and changed["email"] == email
    assert changed["tenant_id"] == identity.tenant.id
    # A password change invalidates older reset links.
    response = await identity.post("/v1/password/reset/check", {"token": pending_reset})
    assert response.status == 400
    assert (await identity.login(email)).status == 401
    await _session(identity, email, NEW_PASSWORD)


async def test_forgot_by_email_uses_the_login_url_tenant(identity):
    email, _ = await _person(identity)
    other = Tenant()
    for identifier in (email, "inconnu@exemple.fr", "ZZZZZZZZ", "n'importe quoi"):
        response = await identity.post("/v1/password/forgot", {"identifier": identifier}, tenant=other)
        assert response.status == 202 and await response.json() == {"status": "accepted"}
    [event] = await identity.events("identity.password_reset_requested")
    assert event["email"] == email and event["tenant_id"] == other.id
    assert event["expires_at"] == (identity.clock.now() + timedelta(hours=1)).isoformat()
    url = urlsplit(event["reset_url"])
    assert url.path == "/password/reset"
    assert parse_qs(url.query)["client"] == [other.client] and parse_qs(url.query)["societe"] == [other.societe]


async def test_forgot_by_provisional_identifier_reaches_the_linked_person(identity):
    email, cred = await _person(identity)
    response = await identity.post("/v1/password/forgot", {"identifier": cred["login"].lower()})
    assert response.status == 202
    [event] = await identity.events("identity.password_reset_requested")
    assert event["email"] == email
    # An identifier never activated (no person) sends nothing.
    fresh = await identity.issue()
    await identity.post("/v1/password/forgot", {"identifier": fresh["login"]})
    assert len(await identity.events("identity.password_reset_requested")) == 1


async def test_forgot_by_provisional_identifier_is_scoped_to_its_tenant_and_live_letters(identity):
    """Issue 18: a letter names its person only at its own tenant's page, and not once revoked or unused."""
    email, cred = await _person(identity)
    other = Tenant()
    assert (await identity.post("/v1/password/forgot", {"identifier": cred["login"]}, tenant=other)).status == 202
    assert await identity.events("identity.password_reset_requested") == []
    # The agency re-issues with reset (sold lot): the account is unlinked, the used letter names nobody.
    response = await identity.post("/internal/provisional-credentials", {
        "tenant_id": identity.tenant.id, "reset": True,
        "accounts": [{"account_id": cred["account_id"], "role": "coproprietaire", "display_name": "M. Martin"}]})
    assert response.status == 201
    fresh = (await response.json())["credentials"][0]
    for identifier in (cred["login"], fresh["login"]):  # the old letter, and the new one never used
        assert (await identity.post("/v1/password/forgot", {"identifier": identifier})).status == 202
    assert await identity.events("identity.password_reset_requested") == []
    # Re-issued again before use: the unused letter is revoked, and still names nobody.
    await identity.issue(account_id=fresh["account_id"])
    await identity.post("/v1/password/forgot", {"identifier": fresh["login"]})
    assert await identity.events("identity.password_reset_requested") == []
    # The person is still reached by email.
    await identity.post("/v1/password/forgot", {"identifier": email})
    assert [e["email"] for e in await identity.events("identity.password_reset_requested")] == [email]


async def test_forgot_by_identifier_of_a_merged_letter_reaches_the_person(identity):
    email, _ = await _person(identity)
    second = await identity.issue()
    flow = await identity.start(second, intent="merge")
    await identity.post(f"/v1/activation/{flow['flow_id']}/email", {"email": email})
    assert (await identity.post(f"/v1/activation/{flow['flow_id']}/merge", {"password": STRONG_PASSWORD})).status == 200
    await identity.post("/v1/password/forgot", {"identifier": second["login"]})
    assert [e["email"] for e in await identity.events("identity.password_reset_requested")] == [email]


async def test_forgot_is_rate_limited_per_target(identity):
    email, _ = await _person(identity)
    for _ in range(5):
        assert (await identity.post("/v1/password/forgot", {"identifier": email})).status == 202
    assert len(await identity.events("identity.password_reset_requested")) == 3
    identity.clock.advance(hours=1)
    await identity.post("/v1/password/forgot", {"identifier": email})
    assert len(await identity.events("identity.password_reset_requested")) == 4


async def test_reset_flow_and_its_error_paths(identity):
    email, _ = await _person(identity)
    sessions = [await _session(identity, email) for _ in range(2)]
    await identity.post("/v1/password/forgot", {"identifier": email})
    older = await identity.last_token("identity.password_reset_requested", "reset_url")
    identity.clock.advance(minutes=2)
    await identity.post("/v1/password/forgot", {"identifier": email})
    token = await identity.last_token("identity.password_reset_requested", "reset_url")
    assert (await identity.post("/v1/password/reset/check", {"token": older})).status == 400  # superseded
    response = await identity.post("/v1/password/reset/check", {"token": token})
    assert await response.json() == {"email": email, "mfa_required": False}
    response = await identity.post("/v1/password/reset", {"token": token, "password": "Azerty123!",
                                                          "confirmation": "Azerty123!"})
    assert response.status == 422 and (await response.json())["error"] == "password_policy"
    response = await identity.post("/v1/password/reset", {"token": token, "password": NEW_PASSWORD,
                                                          "confirmation": "autre"})
    assert (await response.json())["error"] == "confirmation_mismatch"
    response = await identity.post("/v1/password/reset", {"token": token, "password": NEW_PASSWORD,
                                                          "confirmation": NEW_PASSWORD})
    assert response.status == 200
    assert not any([await _alive(identity, s) for s in sessions])  # a reset ends every session
    [changed] = await identity.events("identity.password_changed")
    assert changed["reason"] == "reset"
    response = await identity.post("/v1/password/reset", {"token": token, "password": NEW_PASSWORD,
                                                          "confirmation": NEW_PASSWORD})
    assert response.status == 400 and (await response.json())["error"] == "invalid_token"


async def test_reset_link_expires_after_an_hour(identity):
    email, _ = await _person(identity)
    await identity.post("/v1/password/forgot", {"identifier": email})
    token = await identity.last_token("identity.password_reset_requested", "reset_url")
    identity.clock.advance(minutes=60)
    assert (await identity.post("/v1/password/reset/check", {"token": token})).status == 400


async def test_parallel_reset_exactly_one_succeeds(identity):
    email, _ = await _person(identity)
    await identity.post("/v1/password/forgot", {"identifier": email})
    token = await identity.last_token("identity.password_reset_requested", "reset_url")
    body = {"token": token, "password": NEW_PASSWORD, "confirmation": NEW_PASSWORD}
    responses = await asyncio.gather(*(identity.post("/v1/password/reset", body) for _ in range(6)))
    assert sorted(r.status for r in responses) == [200] + [400] * 5
    assert len(await identity.events("identity.password_changed")) == 1


async def test_policy_endpoint(identity):
    response = await identity.post("/v1/password/policy", {"password": "Vue-sur-mer-42",
                                                           "confirmation": "Vue-sur-mer-4"})
    body = await response.json()
    assert response.status == 200 and body["ok"] is False
    assert all(c["ok"] for c in body["criteria"])
    assert body["problems"] == ["La confirmation ne correspond pas au mot de passe."]
    response = await identity.post("/v1/password/policy", {"password": "Jean.Dupont-1", "email": "jean.dupont@x.fr"})
    assert (await response.json())["problems"] == ["Le mot de passe ne doit pas contenir votre adresse email."]


async def test_simultaneous_guesses_of_the_old_password_get_no_more_tries_than_the_delay(identity):
    email, _ = await _person(identity)
    session = await _session(identity, email)
    answers = await asyncio.gather(*(
        identity.post("/v1/me/password", {"old_password": f"Mauvais-{n}", "new_password": NEW_PASSWORD,
                                          "confirmation": NEW_PASSWORD}, pid=session["person_id"])
        for n in range(10)))
    statuses = sorted(a.status for a in answers)
    assert statuses == [401] * 5 + [429] * 5, statuses
