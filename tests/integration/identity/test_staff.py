"""The agency's staff against the real identity: invitation, first password, login, sessions, roles."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from tests.integration.identity.conftest import STRONG_PASSWORD, Tenant, unique_email

OPERATOR = {"act": "operator"}


async def _invite(identity, email: str, *, role: str = "admin", tenant: Tenant | None = None, **claims):
    tenant = tenant or identity.tenant
    body = {"email": email, "display_name": "Claire Gestion", "role": role}
    if claims.get("act", "operator") == "operator":
        body["tenant_id"] = tenant.id
    return await identity.post("/api/v1/staff", body, tenant=tenant, **({"act": "operator"} | claims))


async def _invitation_token(identity) -> str:
    [*_, invited] = await identity.events("identity.staff_invited")
    return invited["invitation_token"]


async def _active_staff(identity, email: str, *, role: str = "admin", tenant: Tenant | None = None) -> str:
    assert (await _invite(identity, email, role=role, tenant=tenant)).status == 201
    token = await _invitation_token(identity)
    response = await identity.post("/v1/staff/invitations/accept", {"token": token, "password": STRONG_PASSWORD,
                                                                    "confirmation": STRONG_PASSWORD}, tenant=tenant)
    assert response.status == 200, await response.text()
    return email


async def _login(identity, email: str, password: str = STRONG_PASSWORD, **kw):
    return await identity.post("/v1/staff/login", {"email": email, "password": password}, **kw)


async def test_the_operator_invites_the_first_administrator_who_chooses_a_password_and_logs_in(identity):
    email = unique_email("admin")
    response = await _invite(identity, email)
    body = await response.json()
    assert response.status == 201 and body["status"] == "invited" and body["role"] == "admin"
    [invited] = await identity.events("identity.staff_invited")
    assert invited["email"] == email and invited["tenant_id"] == identity.tenant.id and invited["invitation_token"]
    token = invited["invitation_token"]
    assert await identity.sql("SELECT 1 FROM staff_invitations WHERE hash = $1", token.encode()) == []  # hashed

    check = await identity.post("/v1/staff/invitations/check", {"token": token})
    assert (await check.json()) == {"email": email, "display_name": "Claire Gestion", "role": "admin"}
    assert (await identity.post("/v1/staff/invitations/check", {"token": token}, tenant=Tenant())).status == 400
    weak = await identity.post("/v1/staff/invitations/accept", {"token": token, "password": "faible",
                                                                "confirmation": "faible"})
    assert weak.status == 422 and (await weak.json())["error"] == "password_policy"
    assert (await _login(identity, email)).status == 401  # invited, no password yet
    accepted = await identity.post("/v1/staff/invitations/accept", {"token": token, "password": STRONG_PASSWORD,
                                                                    "confirmation": STRONG_PASSWORD})
    assert accepted.status == 200
    again = await identity.post("/v1/staff/invitations/accept", {"token": token, "password": STRONG_PASSWORD,
                                                                 "confirmation": STRONG_PASSWORD})
    assert again.status == 400 and (await again.json())["error"] == "invalid_token"

    session = await (await _login(identity, email.upper())).json()
    me = await identity.post("/v1/staff/sessions/introspect", {"session_id": session["session_id"]})
    assert (await me.json())["role"] == "admin" and (await me.json())["tenant_id"] == identity.tenant.id
    # A console session opens its own agency only, and a person's session introspection knows nothing of it.
    other = await identity.post("/v1/staff/sessions/introspect", {"session_id": session["session_id"]},
                                tenant=Tenant())
    assert other.status == 401
    assert (await identity.post("/v1/sessions/introspect", {"session_id": session["session_id"]})).status == 401
    assert (await identity.post("/v1/staff/sessions/logout", {"session_id": session["session_id"]})).status == 204
    me = await identity.post("/v1/staff/sessions/introspect", {"session_id": session["session_id"]})
    assert me.status == 401
    kinds = [r["kind"] for r in await identity.sql("SELECT kind FROM audit WHERE staff_id IS NOT NULL ORDER BY id")]
    assert kinds == ["staff_login_failed", "staff_activated", "staff_login_succeeded", "staff_logout"]


async def test_staff_login_is_scoped_to_its_agency_and_answers_alike_for_every_failure(identity):
    email = await _active_staff(identity, unique_email("gest"))
    elsewhere = await _login(identity, email, tenant=Tenant())
    wrong = await _login(identity, email, "Mauvais-1!")
    unknown = await _login(identity, unique_email("personne"))
    for response in (elsewhere, wrong, unknown):
        assert response.status == 401 and (await response.json())["error"] == "invalid_credentials"


async def test_staff_lockout_like_persons(identity):
    email = await _active_staff(identity, unique_email("lock"))
    for _ in range(12):
        await _login(identity, email, "Mauvais-1!")
        identity.clock.advance(seconds=61)
    assert (await _login(identity, email)).status == 401  # locked: the right password is refused too
    identity.clock.advance(minutes=16)
    assert (await _login(identity, email)).status == 200



async def _wrong_passwords_tried(identity, email: str) -> int:
    rows = await identity.sql("SELECT count(*) AS n FROM audit a JOIN staff s ON s.id = a.staff_id"
                              " WHERE s.email = $1 AND a.kind = 'staff_login_failed'"
                              " AND a.detail->>'reason' = 'wrong_password'", email)
    return rows[0]["n"]


async def test_a_simultaneous_burst_gets_no_more_tries_than_the_lock_and_no_session_after_it(identity):
    email = await _active_staff(identity, unique_email("rafale"))
    for n in range(identity.settings.login_lock_after_failures - 1):  # one failure short of the lock
        assert (await _login(identity, email, f"Mauvais-{n}!", ip=f"198.51.100.{n}")).status == 401
        identity.clock.advance(seconds=identity.settings.login_max_delay_seconds + 1)
    before = await _wrong_passwords_tried(identity, email)
    # Exactly one more try is allowed now, and it locks if wrong; each attempt from its own IP.
    guesses = [_login(identity, email, f"Devine-{n}!rafale", ip=f"192.0.2.{n}") for n in range(12)]
    answers = await asyncio.gather(*guesses, _login(identity, email, ip="192.0.2.200"))
    assert {a.status for a in answers} <= {200, 401}, [a.status for a in answers]
    sessions = [a for a in answers if a.status == 200]
    tried = await _wrong_passwords_tried(identity, email) - before
    # Whichever came first was the one try left: a wrong one locks (and the right one is then refused
    # like any locked login), or the right one opens the only session and no guess was tried.
    assert len(sessions) + tried == 1, (len(sessions), tried)
    if tried:
        assert (await _login(identity, email)).status == 401


@pytest.mark.parametrize("identity_settings_overrides", [{"ip_failure_limit": 12}])
async def test_a_simultaneous_burst_from_one_ip_gets_no_more_tries_than_its_limit(identity):
    answers = await asyncio.gather(*(_login(identity, unique_email("inconnu"), "Essai-1!aaaa", ip="192.0.2.99")
                                     for _ in range(16)))
    statuses = sorted(a.status for a in answers)
    assert statuses == [401] * 12 + [429] * 4, statuses
    # The console's window is its own: the persons' login from this IP is not limited by it.
    assert (await identity.login(unique_email("autre"), "Essai-1!aaaa", ip="192.0.2.99")).status == 401


async def test_who_may_invite(identity):
    admin_email = await _active_staff(identity, unique_email("adm"))
    admin_id = (await (await _login(identity, admin_email)).json())["staff_id"]
    agency = {"act": "agency"}
    # An administrator in the console invites a colleague of the same agency.
    response = await _invite(identity, unique_email("coll"), role="gestionnaire", sid=admin_id, srole="admin",
                             **agency)
    assert response.status == 201
    [*_, invited] = await identity.events("identity.staff_invited")
    assert invited["invited_by"] == "Claire Gestion"
    # A gestionnaire does not invite; an agency never invites into another tenant; the operator names one.
    response = await _invite(identity, unique_email("x"), sid=str(uuid.uuid4()), srole="gestionnaire", **agency)
    assert response.status == 403
    response = await identity.post("/api/v1/staff", {"email": unique_email("y"), "tenant_id": Tenant().id}, **agency)
    assert response.status == 403
    response = await identity.post("/api/v1/staff", {"email": unique_email("z")}, act="operator")
    assert response.status == 403
    # An agency API key (no console user) may invite into its own tenant.
    assert (await _invite(identity, unique_email("api"), role="gestionnaire", **agency)).status == 201


async def test_a_duplicate_email_is_refused_and_an_unaccepted_one_is_invited_again(identity):
    email = await _active_staff(identity, unique_email("dup"))
    response = await _invite(identity, email.upper())
    assert response.status == 409 and (await response.json())["error"] == "staff_email_taken"
    pending = unique_email("pending")
    assert (await _invite(identity, pending)).status == 201
    first = await _invitation_token(identity)
    identity.clock.advance(seconds=identity.settings.staff_invitation_cooldown_seconds)
    assert (await _invite(identity, pending, role="gestionnaire")).status == 201
    second = await _invitation_token(identity)
    assert (await identity.post("/v1/staff/invitations/check", {"token": first})).status == 400
    assert (await (await identity.post("/v1/staff/invitations/check", {"token": second})).json())["role"] == \
        "gestionnaire"
    listing = await (await identity.get("/api/v1/staff", act="agency")).json()
    assert [(m["email"], m["status"]) for m in listing["staff"]] == [(email, "active"), (pending, "invited")]
    bad = await _invite(identity, "pas-une-adresse")
    assert bad.status == 422 and (await bad.json())["error"] == "invalid_email"
    # The same address may be staff of another agency.
    assert (await _invite(identity, email, tenant=Tenant())).status == 201


async def test_an_administrator_disables_a_colleague_whose_sessions_end_and_enables_them_again(identity):
    admin_email = await _active_staff(identity, unique_email("adm"))
    admin_id = (await (await _login(identity, admin_email)).json())["staff_id"]
    colleague = await _active_staff(identity, unique_email("col"), role="gestionnaire")
    session = await (await _login(identity, colleague)).json()
    console = {"act": "agency", "sid": admin_id, "srole": "admin"}
    path = f"/api/v1/staff/{session['staff_id']}"
    response = await identity.post(path + "/disable", **console)
    assert response.status == 200 and (await response.json())["status"] == "disabled"
    assert (await identity.post("/v1/staff/sessions/introspect", {"session_id": session["session_id"]})).status == 401
    assert (await _login(identity, colleague)).status == 401
    # Never oneself, never by a gestionnaire, never another agency's member, never an unknown id.
    assert (await identity.post(f"/api/v1/staff/{admin_id}/disable", **console)).status == 403
    gest = {"act": "agency", "sid": session["staff_id"], "srole": "gestionnaire"}
    assert (await identity.post(f"/api/v1/staff/{admin_id}/disable", **gest)).status == 403
    assert (await identity.post(path + "/enable", tenant=Tenant(), act="agency")).status == 404
    assert (await identity.post(f"/api/v1/staff/{uuid.uuid4()}/disable", **console)).status == 404
    assert (await identity.post(path + "/enable", **console)).status == 200
    assert (await _login(identity, colleague)).status == 200
    kinds = [r["kind"] for r in await identity.sql("SELECT kind FROM audit WHERE kind LIKE 'staff_%abled'")]
    assert kinds == ["staff_disabled", "staff_enabled"]


@pytest.mark.parametrize("identity_settings_overrides", [{"staff_invitations_per_hour": 3}])
async def test_invitation_emails_are_limited_per_agency_and_per_address(identity):
    pending = unique_email("encore")
    assert (await _invite(identity, pending)).status == 201
    # Inviting the same address again at once sends nothing: 429, with when to retry.
    again = await _invite(identity, pending, role="gestionnaire")
    body = await again.json()
    assert again.status == 429 and body["error"] == "too_many_requests" and body["limit"] == "address"
    assert 0 < body["retry_after"] <= identity.settings.staff_invitation_cooldown_seconds
    assert len(await identity.events("identity.staff_invited")) == 1
    assert (await (await identity.get("/api/v1/staff", act="agency")).json())["staff"][0]["role"] == "admin"
    identity.clock.advance(seconds=identity.settings.staff_invitation_cooldown_seconds)
    assert (await _invite(identity, pending)).status == 201  # the refused one did not count: 2 of 3
    assert (await _invite(identity, unique_email("b"), role="gestionnaire", act="agency")).status == 201
    over = await _invite(identity, unique_email("c"))
    body = await over.json()
    assert over.status == 429 and body["limit"] == "agency" and 0 < body["retry_after"] <= 3600
    assert len(await identity.events("identity.staff_invited")) == 3
    # Another agency has its own hour; this one's comes back when the hour is over.
    assert (await _invite(identity, unique_email("d"), tenant=Tenant())).status == 201
    identity.clock.advance(hours=1)
    assert (await _invite(identity, unique_email("c"))).status == 201


async def test_an_administrator_revokes_a_pending_invitation_whose_link_then_fails(identity):
    admin_email = await _active_staff(identity, unique_email("adm"))
    admin_id = (await (await _login(identity, admin_email)).json())["staff_id"]
    console = {"act": "agency", "sid": admin_id, "srole": "admin"}
    wrong = unique_email("erreur")
    invited = await (await _invite(identity, wrong, role="admin", **console)).json()
    token = await _invitation_token(identity)
    # Never by a gestionnaire, never another agency's invitation, never an accepted member, never an unknown id.
    gest = {"act": "agency", "sid": str(uuid.uuid4()), "srole": "gestionnaire"}
    assert (await identity.post(f"/api/v1/staff/{invited['id']}/revoke", **gest)).status == 403
    assert (await identity.post(f"/api/v1/staff/{invited['id']}/revoke", tenant=Tenant(), act="agency")).status == 404
    assert (await identity.post(f"/api/v1/staff/{admin_id}/revoke", **console)).status == 404
    assert (await identity.post(f"/api/v1/staff/{uuid.uuid4()}/revoke", **console)).status == 404
    assert (await identity.post("/v1/staff/invitations/check", {"token": token})).status == 200  # still pending

    response = await identity.post(f"/api/v1/staff/{invited['id']}/revoke", **console)
    assert response.status == 200
    assert await response.json() == {"id": invited["id"], "email": wrong, "role": "admin", "status": "revoked"}
    check = await identity.post("/v1/staff/invitations/check", {"token": token})
    assert check.status == 400 and (await check.json())["error"] == "invalid_token"
    accept = await identity.post("/v1/staff/invitations/accept", {"token": token, "password": STRONG_PASSWORD,
                                                                  "confirmation": STRONG_PASSWORD})
    assert accept.status == 400 and (await accept.json())["error"] == "invalid_token"
    assert (await _login(identity, wrong)).status == 401
    listing = await (await identity.get("/api/v1/staff", act="agency")).json()
    assert [m["email"] for m in listing["staff"]] == [admin_email]
    assert (await identity.post(f"/api/v1/staff/{invited['id']}/revoke", **console)).status == 404  # once
    [audit] = await identity.sql("SELECT staff_id, detail FROM audit WHERE kind = 'staff_invitation_revoked'")
    assert str(audit["staff_id"]) == admin_id
    # The agency's software revokes too, and the address may be invited again (a new link).
    identity.clock.advance(seconds=identity.settings.staff_invitation_cooldown_seconds)
    again = await (await _invite(identity, wrong, role="gestionnaire", act="agency")).json()
    assert (await identity.post(f"/api/v1/staff/{again['id']}/revoke", act="agency")).status == 200
