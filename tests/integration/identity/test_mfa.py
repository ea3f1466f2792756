"""The second factor against the real identity: enrolment, two-step login, recovery codes,
reset, throttling and lockout, removal and notices (issue 15)."""

from __future__ import annotations

import pyotp

from tests.integration.identity.conftest import STRONG_PASSWORD, unique_email

NEW_PASSWORD = "Toit-en-ardoise-77"


async def _person(identity) -> tuple[str, str]:
    """An activated person, logged in: (email, session_id)."""
    email = unique_email("mfa")
    await identity.activate(await identity.issue(), email)
    response = await identity.login(email)
    assert response.status == 200, await response.text()
    body = await response.json()
    return email, body["person_id"]


async def enrol(identity, person_id: str) -> tuple[str, list[str]]:
    """Enrol an authenticator app; return its secret and the recovery codes."""
    response = await identity.post("/v1/me/mfa/totp", pid=person_id)
    assert response.status == 201, await response.text()
    started = await response.json()
    assert started["otpauth_uri"].startswith("otpauth://totp/")
    secret = started["secret"]
    code = pyotp.TOTP(secret).at(identity.clock.now())
    response = await identity.post("/v1/me/mfa/totp/confirm", {"code": code}, pid=person_id)
    assert response.status == 200, await response.text()
    codes = (await response.json())["recovery_codes"]
    identity.clock.advance(seconds=30)  # the confirmation spent this period's code
    return secret, codes


def now_code(identity, secret: str) -> str:
    return pyotp.TOTP(secret).at(identity.clock.now())


async def challenge(identity, email: str, **kw) -> str:
    response = await identity.login(email, **kw)
    assert response.status == 200, await response.text()
    body = await response.json()
    assert body["mfa_required"] is True and "session_id" not in body
    return body["mfa_token"]


async def test_a_person_without_factor_logs_in_as_before(identity):
    email, person_id = await _person(identity)
    body = await (await identity.login(email)).json()
    assert set(body) == {"session_id", "person_id"}
    status = await (await identity.get("/v1/me/mfa", pid=person_id)).json()
    assert status == {"enabled": False, "totp": {"enabled": False, "since": None}, "passkeys": [],
                      "recovery_codes_left": 0}


async def test_enrolment_then_login_in_two_steps(identity):
    email, person_id = await _person(identity)
    secret, codes = await enrol(identity, person_id)
    assert len(codes) == 10
    status = await (await identity.get("/v1/me/mfa", pid=person_id)).json()
    assert status["enabled"] and status["recovery_codes_left"] == 10
    # The secret is stored sealed, never in clear; codes hashed.
    [row] = await identity.sql("SELECT secret_sealed FROM mfa_totp")
    assert secret.encode() not in bytes(row["secret_sealed"])
    stored = {bytes(r["hash"]) for r in await identity.sql("SELECT hash FROM mfa_recovery_codes")}
    assert all(c.encode() not in b"".join(stored) for c in codes)
    [added] = await identity.events("identity.mfa_changed")
    assert (added["kind"], added["factor"], added["email"]) == ("added", "totp", email)

    token = await challenge(identity, email)
    response = await identity.post("/v1/login/mfa", {"mfa_token": token, "code": now_code(identity, secret)})
    assert response.status == 200, await response.text()
    session = await response.json()
    assert (await identity.post("/v1/sessions/introspect", {"session_id": session["session_id"]})).status == 200
    # The challenge is single use.
    response = await identity.post("/v1/login/mfa", {"mfa_token": token, "code": now_code(identity, secret)})
    assert (await response.json())["error"] == "mfa_challenge_invalid"


async def test_a_code_is_refused_when_replayed(identity):
    email, person_id = await _person(identity)
    secret, _ = await enrol(identity, person_id)
    code = now_code(identity, secret)
    first = await identity.post("/v1/login/mfa", {"mfa_token": await challenge(identity, email), "code": code})
    assert first.status == 200
    identity.clock.advance(seconds=5)
    again = await identity.post("/v1/login/mfa", {"mfa_token": await challenge(identity, email), "code": code})
    assert again.status == 401 and (await again.json())["error"] == "invalid_mfa_code"


async def test_the_challenge_is_bound_to_the_ip_and_expires(identity):
    email, person_id = await _person(identity)
    secret, _ = await enrol(identity, person_id)
    token = await challenge(identity, email)
    response = await identity.post("/v1/login/mfa", {"mfa_token": token, "code": now_code(identity, secret)},
                                   ip="198.51.100.9")
    assert (await response.json())["error"] == "mfa_challenge_invalid"
    identity.clock.advance(seconds=301)
    response = await identity.post("/v1/login/mfa", {"mfa_token": token, "code": now_code(identity, secret)})
    assert (await response.json())["error"] == "mfa_challenge_invalid"


async def test_a_recovery_code_works_once_and_sends_a_notice(identity):
    email, person_id = await _person(identity)
    _, codes = await enrol(identity, person_id)
    response = await identity.post("/v1/login/mfa", {"mfa_token": await challenge(identity, email),
                                                     "code": codes[3].lower()})
    assert response.status == 200, await response.text()
    kinds = [e["kind"] for e in await identity.events("identity.mfa_changed")]
    assert kinds == ["added", "recovery_used"]
    response = await identity.post("/v1/login/mfa", {"mfa_token": await challenge(identity, email),
                                                     "code": codes[3]})
    assert (await response.json())["error"] == "invalid_mfa_code"
    status = await (await identity.get("/v1/me/mfa", pid=person_id)).json()
    assert status["recovery_codes_left"] == 9


async def test_wrong_codes_kill_the_challenge_and_lock_the_person_like_passwords(identity):
    email, person_id = await _person(identity)
    secret, _ = await enrol(identity, person_id)
    token = await challenge(identity, email)
    for _ in range(5):
        response = await identity.post("/v1/login/mfa", {"mfa_token": token, "code": "000000"})
        assert response.status in (401, 429)
        identity.clock.advance(seconds=70)  # past the growing delay
    # Five wrong codes: this challenge is dead even for the right code.
    response = await identity.post("/v1/login/mfa", {"mfa_token": token, "code": now_code(identity, secret)})
    assert (await response.json())["error"] == "mfa_challenge_invalid"
    # Keep guessing through new challenges: the person locks (10 failures), the right code then waits.
    for _ in range(5):
        token = await challenge(identity, email)
        await identity.post("/v1/login/mfa", {"mfa_token": token, "code": "000000"})
        identity.clock.advance(seconds=70)
    [person] = await identity.sql("SELECT locked_until FROM persons WHERE email = $1", email)
    assert person["locked_until"] is not None
    response = await identity.login(email)
    assert response.status == 401  # locked: the password step answers as for a wrong password


async def test_a_reset_asks_for_the_second_factor(identity):
    email, person_id = await _person(identity)
    secret, codes = await enrol(identity, person_id)
    await identity.post("/v1/password/forgot", {"identifier": email})
    token = await identity.last_token("identity.password_reset_requested", "reset_url")
    check = await (await identity.post("/v1/password/reset/check", {"token": token})).json()
    assert check == {"email": email, "mfa_required": True}
    body = {"token": token, "password": NEW_PASSWORD, "confirmation": NEW_PASSWORD}
    response = await identity.post("/v1/password/reset", body)
    assert response.status == 401 and (await response.json())["error"] == "invalid_mfa_code"
    response = await identity.post("/v1/password/reset", {**body, "code": "123456"})
    assert (await response.json())["error"] == "invalid_mfa_code"
    # The link still works with a right code; the password is unchanged until then.
    assert (await identity.login(email, NEW_PASSWORD)).status == 401
    response = await identity.post("/v1/password/reset", {**body, "code": codes[0]})
    assert response.status == 200, await response.text()
    # The second factor stays after a reset.
    token = await challenge(identity, email, password=NEW_PASSWORD)
    response = await identity.post("/v1/login/mfa", {"mfa_token": token, "code": now_code(identity, secret)})
    assert response.status == 200


async def test_removal_needs_the_password_and_sends_a_notice(identity):
    email, person_id = await _person(identity)
    await enrol(identity, person_id)
    response = await identity.post("/v1/me/mfa/totp/remove", {"password": "Pas-le-bon-1"}, pid=person_id)
    assert response.status == 401
    response = await identity.post("/v1/me/mfa/totp/remove", {"password": STRONG_PASSWORD}, pid=person_id)
    assert response.status == 200, await response.text()
    kinds = [e["kind"] for e in await identity.events("identity.mfa_changed")]
    assert kinds == ["added", "removed"]
    assert await identity.sql("SELECT 1 FROM mfa_recovery_codes") == []
    body = await (await identity.login(email)).json()
    assert "session_id" in body


async def test_enrolment_is_confirmed_by_a_right_code_only(identity):
    _, person_id = await _person(identity)
    assert (await identity.post("/v1/me/mfa/totp/confirm", {"code": "123456"}, pid=person_id)).status == 404
    await identity.post("/v1/me/mfa/totp", pid=person_id)
    response = await identity.post("/v1/me/mfa/totp/confirm", {"code": "123456"}, pid=person_id)
    assert (await response.json())["error"] == "invalid_mfa_code"
    await enrol(identity, person_id)
    assert (await identity.post("/v1/me/mfa/totp", pid=person_id)).status == 409
    response = await identity.post("/v1/me/mfa/recovery-codes", {"password": STRONG_PASSWORD}, pid=person_id)
    assert len((await response.json())["recovery_codes"]) == 10
    assert (await identity.get("/v1/me/mfa")).status == 403  # no pid claim


# ---- the agency's requirement (tenancy's setting; a stand-in answers for tenancy here) --------

class Requirements:
    """Tenancy as identity sees it: each tenant's requirement and its council accounts."""

    def __init__(self, *, requirement: dict[str, str], council: set[str] = frozenset()) -> None:
        self.requirement = requirement
        self.council = set(council)
        self.default_min_length = 6

    async def min_length(self, tenant_id):
        return 6

    async def mfa_requirement(self, tenant_id):
        return self.requirement.get(str(tenant_id), "none")

    async def council_accounts(self, tenant_id, account_ids):
        return {a for a in account_ids if a in self.council}


def _require(identity, **kw) -> Requirements:
    from services.identity.routes import DEPS

    fake = Requirements(**kw)
    identity.client.server.app[DEPS].tenants = fake
    return fake


async def _activated(identity) -> tuple[str, str]:
    email = unique_email("req")
    cred = await identity.issue()
    await identity.activate(cred, email)
    return email, cred["account_id"]


async def test_an_agency_requiring_all_leads_to_enrolment_then_the_session(identity):
    email, _ = await _activated(identity)
    _require(identity, requirement={identity.tenant.id: "all"})
    body = await (await identity.login(email)).json()
    assert body["mfa_enrolment_required"] is True and "session_id" not in body
    token = body["mfa_token"]
    # The login challenge cannot be used for enrolment and vice versa.
    response = await identity.post("/v1/login/mfa", {"mfa_token": token, "code": "123456"})
    assert (await response.json())["error"] == "mfa_challenge_invalid"
    started = await (await identity.post("/v1/login/enrol/totp", {"mfa_token": token})).json()
    response = await identity.post("/v1/login/enrol/totp/confirm", {"mfa_token": token, "code": "000000"})
    assert (await response.json())["error"] == "invalid_mfa_code"
    code = pyotp.TOTP(started["secret"]).at(identity.clock.now())
    response = await identity.post("/v1/login/enrol/totp/confirm", {"mfa_token": token, "code": code})
    assert response.status == 200, await response.text()
    session = await response.json()
    assert session["session_id"] and len(session["recovery_codes"]) == 10
    # Next login: the ordinary second step; removal is refused while the agency requires it.
    identity.clock.advance(seconds=30)
    token = await challenge(identity, email)
    response = await identity.post("/v1/login/mfa", {"mfa_token": token,
                                                     "code": pyotp.TOTP(started["secret"]).at(identity.clock.now())})
    assert response.status == 200
    response = await identity.post("/v1/me/mfa/totp/remove", {"password": STRONG_PASSWORD},
                                   pid=session["person_id"])
    assert (await response.json())["error"] == "mfa_required_by_agency"


async def test_a_council_requirement_concerns_council_members_only(identity):
    member, member_account = await _activated(identity)
    other, _ = await _activated(identity)
    _require(identity, requirement={identity.tenant.id: "council"}, council={member_account})
    assert (await (await identity.login(member)).json()).get("mfa_enrolment_required") is True
    assert "session_id" in await (await identity.login(other)).json()


async def test_another_agencys_requirement_counts_and_none_changes_nothing(identity):
    email, _ = await _activated(identity)
    fake = _require(identity, requirement={})
    assert "session_id" in await (await identity.login(email)).json()
    fake.requirement[identity.tenant.id] = "none"
    assert "session_id" in await (await identity.login(email)).json()
    # Logging in at another agency's page: the requirement of the person's own agency still applies.
    from tests.integration.identity.conftest import Tenant

    fake.requirement[identity.tenant.id] = "all"
    body = await (await identity.login(email, tenant=Tenant())).json()
    assert body.get("mfa_enrolment_required") is True


async def test_merge_keeps_the_factor_and_unlink_does_not_remove_it(identity):
    email, person_id = await _person(identity)
    secret, _ = await enrol(identity, person_id)
    # A second account merged into the same person: the factor is the person's, it stays.
    cred = await identity.issue()
    flow = await identity.start(cred, intent="merge")
    response = await identity.post(f"/v1/activation/{flow['flow_id']}/email", {"email": email})
    assert response.status == 200, await response.text()
    response = await identity.post(f"/v1/activation/{flow['flow_id']}/merge", {"password": STRONG_PASSWORD})
    assert response.status == 200, await response.text()
    token = await challenge(identity, email)
    assert (await identity.post("/v1/login/mfa", {"mfa_token": token,
                                                  "code": now_code(identity, secret)})).status == 200
    # The agency unlinks that account: the factor stays.
    response = await identity.post("/internal/accounts/unlink", {"account_id": cred["account_id"], "reason": "sold"},
                                   act="agency")
    assert response.status == 200, await response.text()
    identity.clock.advance(seconds=30)
    token = await challenge(identity, email)
    assert (await identity.post("/v1/login/mfa", {"mfa_token": token,
                                                  "code": now_code(identity, secret)})).status == 200


async def test_a_password_reset_ends_a_pending_enrolment_started_with_the_old_password(identity):
    # Someone who knew the password started the enrolment an agency requires (their own app);
    # the owner resets the password: that half-open door must close with the old password.
    email, _ = await _activated(identity)
    _require(identity, requirement={identity.tenant.id: "all"})
    token = (await (await identity.login(email, ip="198.51.100.66")).json())["mfa_token"]
    started = await (await identity.post("/v1/login/enrol/totp", {"mfa_token": token}, ip="198.51.100.66")).json()
    await identity.post("/v1/password/forgot", {"identifier": email})
    reset = await identity.last_token("identity.password_reset_requested", "reset_url")
    response = await identity.post("/v1/password/reset", {"token": reset, "password": NEW_PASSWORD,
                                                          "confirmation": NEW_PASSWORD})
    assert response.status == 200, await response.text()
    code = pyotp.TOTP(started["secret"]).at(identity.clock.now())
    response = await identity.post("/v1/login/enrol/totp/confirm", {"mfa_token": token, "code": code},
                                   ip="198.51.100.66")
    body = await response.json()
    assert body["error"] == "mfa_challenge_invalid" and "session_id" not in body


async def test_a_password_change_ends_a_pending_login_challenge(identity):
    email, person_id = await _person(identity)
    secret, _ = await enrol(identity, person_id)
    token = await challenge(identity, email, ip="198.51.100.67")  # the old password, someone else's hands
    response = await identity.post("/v1/me/password", {"old_password": STRONG_PASSWORD, "new_password": NEW_PASSWORD,
                                                       "confirmation": NEW_PASSWORD}, pid=person_id)
    assert response.status == 200, await response.text()
    response = await identity.post("/v1/login/mfa", {"mfa_token": token, "code": now_code(identity, secret)},
                                   ip="198.51.100.67")
    assert (await response.json())["error"] == "mfa_challenge_invalid"


async def test_simultaneous_wrong_codes_at_a_reset_get_no_more_tries_than_the_delay(identity):
    import asyncio

    email, person_id = await _person(identity)
    await enrol(identity, person_id)
    await identity.post("/v1/password/forgot", {"identifier": email})
    token = await identity.last_token("identity.password_reset_requested", "reset_url")
    body = {"token": token, "password": NEW_PASSWORD, "confirmation": NEW_PASSWORD}
    answers = await asyncio.gather(*(identity.post("/v1/password/reset", {**body, "code": f"{n:06d}"})
                                     for n in range(10)))
    statuses = sorted(a.status for a in answers)
    assert statuses == [401] * 5 + [429] * 5, statuses  # each wrong code counted before the next is read
