"""Activation of one account, from provisional credentials to a verified person who logs in."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

from tests.integration.identity.conftest import STRONG_PASSWORD, unique_email


async def test_first_activation_end_to_end(identity):
    email = unique_email()
    cred = await identity.issue(suggested_email=email)
    assert len(cred["login"]) == 8 and not set(cred["login"]) & set("0O1Il")
    assert len(cred["password"]) == 12

    flow = await identity.start(cred)
    assert flow["step"] == "email" and flow["suggested_email"] == email
    assert flow["tenant_id"] == identity.tenant.id and flow["intent"] == "activate"

    response = await identity.post(f"/v1/activation/{flow['flow_id']}/email", {"email": email})
    assert (await response.json())["step"] == "password"
    response = await identity.post(f"/v1/activation/{flow['flow_id']}/password",
                                   {"password": STRONG_PASSWORD, "confirmation": STRONG_PASSWORD,
                                    "accept_terms": True})
    body = await response.json()
    assert response.status == 200 and body["step"] == "pending_verification" and body["email"] == email

    # Not verified yet: login refused with the one answer.
    response = await identity.login(email)
    assert response.status == 401 and (await response.json())["error"] == "invalid_credentials"

    [requested] = await identity.events("identity.email_verification_requested")
    assert requested["email"] == email and requested["display_name"] == "M. Martin"
    assert requested["tenant_id"] == identity.tenant.id
    assert requested["expires_at"] == (identity.clock.now() + timedelta(hours=24)).isoformat()
    url = urlsplit(requested["verification_url"])
    query = parse_qs(url.query)
    assert f"{url.scheme}://{url.netloc}{url.path}" == "https://www.moncompte.test/activation/verify"
    assert query["client"] == [identity.tenant.client] and query["societe"] == [identity.tenant.societe]
    token = query["token"][0]
    assert len(token) >= 22  # >= 128 bits url-safe
    stored = await identity.sql("SELECT count(*) AS n FROM tokens WHERE hash = $1::bytea", token.encode())
    assert stored[0]["n"] == 0  # only a keyed hash is stored

    response = await identity.post("/v1/email/verify", {"token": token})
    assert response.status == 200 and await response.json() == {"email": email}
    [linked] = await identity.events("identity.account_linked")
    assert linked["account_id"] == cred["account_id"] and linked["via"] == "activation"
    assert linked["role"] == "coproprietaire" and linked["email"] == email

    response = await identity.login(email.upper())  # emails compare case-insensitively
    assert response.status == 200, await response.text()
    session = await response.json()
    response = await identity.post("/v1/sessions/introspect", {"session_id": session["session_id"]})
    info = await response.json()
    assert info["person_id"] == session["person_id"] and info["email"] == email
    assert [(a["tenant_id"], a["account_id"], a["role"]) for a in info["accounts"]] == [
        (identity.tenant.id, cred["account_id"], "coproprietaire")]
    assert info["previous_login_at"] is None

    response = await identity.post("/v1/sessions/logout", {"session_id": session["session_id"]})
    assert response.status == 204
    response = await identity.post("/v1/sessions/introspect", {"session_id": session["session_id"]})
    assert response.status == 401 and (await response.json())["error"] == "invalid_session"

    # Used credentials are dead.
    response = await identity.post("/v1/activation/start", {"login": cred["login"], "password": cred["password"]})
    assert response.status == 401 and (await response.json())["error"] == "invalid_credentials"


async def _error(response) -> tuple[int, str, dict]:
    body = await response.json()
    return response.status, body.get("error"), body


async def _start(identity, cred, **kw):
    return await identity.post("/v1/activation/start",
                               {"login": cred["login"], "password": cred["password"], **kw})


async def test_expired_credentials_refused_with_the_one_answer(identity):
    cred = await identity.issue(ttl_days=2)
    identity.clock.advance(days=2)
    status, code, _ = await _error(await _start(identity, cred))
    assert (status, code) == (401, "invalid_credentials")


async def test_default_ttl_is_sixty_days(identity):
    cred = await identity.issue()
    identity.clock.advance(days=59, hours=23)
    assert (await _start(identity, cred)).status == 200
    identity.clock.advance(hours=1)
    assert (await _start(identity, cred)).status == 401


async def test_reissue_revokes_the_earlier_credentials(identity):
    first = await identity.issue()
    flow = await identity.start(first)
    second = await identity.issue(account_id=first["account_id"])
    assert second["login"] != first["login"]
    status, code, _ = await _error(await _start(identity, first))
    assert (status, code) == (401, "invalid_credentials")
    # The flow opened with the revoked credentials is dead too.
    response = await identity.get(f"/v1/activation/{flow['flow_id']}")
    assert (await _error(response))[:2] == (404, "flow_not_found")
    assert (await _start(identity, second)).status == 200


async def test_unknown_login_and_wrong_tenant_get_the_one_answer(identity):
    from tests.integration.identity.conftest import Tenant

    cred = await identity.issue()
    for body, tenant in (({"login": "ZZZZZZZZ", "password": "x"}, None),
                         ({"login": cred["login"], "password": cred["password"]}, Tenant())):
        status, code, _ = await _error(await identity.post("/v1/activation/start", body, tenant=tenant))
        assert (status, code) == (401, "invalid_credentials")


async def test_login_typed_loosely_is_accepted(identity):
    cred = await identity.issue()
    loose = cred["login"].lower()[:4] + " " + cred["login"].lower()[4:]
    response = await identity.post("/v1/activation/start", {"login": loose, "password": cred["password"]})
    assert response.status == 200


async def test_wrong_provisional_password_locks_that_credential_only(identity):
    cred, other = await identity.issue(), await identity.issue()
    wrong = {"login": cred["login"], "password": "not-it"}
    for _ in range(5):
        assert (await identity.post("/v1/activation/start", wrong)).status == 401
    status, code, body = await _error(await _start(identity, cred))  # even the right password now
    assert (status, code) == (429, "credential_locked") and 899 <= body["retry_after"] <= 901
    assert (await _start(identity, other)).status == 200  # nothing else is locked
    identity.clock.advance(minutes=15)
    assert (await _start(identity, cred)).status == 200


async def test_missing_tenant_claims_refused(identity):
    cred = await identity.issue()
    from common.internal_auth import issue_token

    token = issue_token(identity.settings.internal_auth_secret.get_secret_value(), issuer="gateway",
                        audience="identity")
    response = await identity.client.post("/v1/activation/start", json={"login": cred["login"],
                                                                        "password": cred["password"]},
                                          headers={"Authorization": f"Internal {token}"})
    assert response.status == 403
    response = await identity.client.post("/v1/activation/start", json={})
    assert response.status == 401  # no internal token at all


async def test_form_errors(identity):
    email = unique_email()
    cred = await identity.issue()
    flow = await identity.start(cred)
    fid = flow["flow_id"]
    # Wrong step: the password before the email.
    status, code, body = await _error(await identity.post(f"/v1/activation/{fid}/password",
                                                          {"password": STRONG_PASSWORD,
                                                           "confirmation": STRONG_PASSWORD, "accept_terms": True}))
    assert (status, code, body["step"]) == (409, "wrong_step", "email")
    for bad in ("pas-une-adresse", "", "a@b"):
        status, code, _ = await _error(await identity.post(f"/v1/activation/{fid}/email", {"email": bad}))
        assert (status, code) == (422, "invalid_email")
    await identity.post(f"/v1/activation/{fid}/email", {"email": email})

    status, code, body = await _error(await identity.post(f"/v1/activation/{fid}/password",
                                                          {"password": "azerty", "confirmation": "azerty",
                                                           "accept_terms": True}))
    assert (status, code) == (422, "password_policy")
    assert {c["code"]: c["ok"] for c in body["criteria"]} == {
        "min_length": True, "upper": False, "lower": True, "digit": False, "special": False}
    status, code, body = await _error(await identity.post(f"/v1/activation/{fid}/password",
                                                          {"password": "Azerty123!", "confirmation": "Azerty123!",
                                                           "accept_terms": True}))
    assert (status, code) == (422, "password_policy") and body["problems"]
    status, code, _ = await _error(await identity.post(f"/v1/activation/{fid}/password",
                                                       {"password": STRONG_PASSWORD, "confirmation": "autre",
                                                        "accept_terms": True}))
    assert (status, code) == (422, "confirmation_mismatch")
    status, code, _ = await _error(await identity.post(f"/v1/activation/{fid}/password",
                                                       {"password": STRONG_PASSWORD, "confirmation": STRONG_PASSWORD,
                                                        "accept_terms": False}))
    assert (status, code) == (422, "terms_not_accepted")
    response = await identity.post(f"/v1/activation/{fid}/password", {"password": STRONG_PASSWORD})
    assert (await _error(response))[:2] == (422, "validation_failed")
    assert await identity.events("identity.email_verification_requested") == []


async def test_flow_expires_after_an_hour_idle(identity):
    cred = await identity.issue()
    flow = await identity.start(cred)
    identity.clock.advance(minutes=59)
    assert (await identity.get(f"/v1/activation/{flow['flow_id']}")).status == 200  # refreshes
    identity.clock.advance(minutes=59)
    assert (await identity.get(f"/v1/activation/{flow['flow_id']}")).status == 200
    identity.clock.advance(minutes=61)
    status, code, _ = await _error(await identity.get(f"/v1/activation/{flow['flow_id']}"))
    assert (status, code) == (404, "flow_not_found")
    assert (await identity.get("/v1/activation/not-a-flow")).status == 404


async def test_credentials_of_a_pending_activation_resume_at_verification(identity):
    email = unique_email()
    cred = await identity.issue()
    await identity.activate_pending(cred, email)
    flow = await identity.start(cred)
    assert flow["step"] == "pending_verification" and flow["email"] == email


async def test_email_typo_corrected_by_restart_kills_the_old_link(identity):
    typo, good = unique_email("typo"), unique_email("bon")
    cred = await identity.issue()
    pending = await identity.activate_pending(cred, typo)
    old_token = await identity.last_token("identity.email_verification_requested", "verification_url")

    response = await identity.post(f"/v1/activation/{pending['flow_id']}/restart")
    body = await response.json()
    assert response.status == 200 and body["step"] == "email" and body["email"] is None
    assert await identity.sql("SELECT 1 FROM persons WHERE email = $1", typo) == []
    status, code, _ = await _error(await identity.post("/v1/email/verify", {"token": old_token}))
    assert (status, code) == (400, "invalid_token")

    fid = pending["flow_id"]
    await identity.post(f"/v1/activation/{fid}/email", {"email": good})
    await identity.post(f"/v1/activation/{fid}/password",
                        {"password": STRONG_PASSWORD, "confirmation": STRONG_PASSWORD, "accept_terms": True})
    token = await identity.last_token("identity.email_verification_requested", "verification_url")
    assert (await identity.post("/v1/email/verify", {"token": token})).status == 200
    assert (await identity.login(good)).status == 200
    assert (await identity.login(typo)).status == 401


async def test_resend_cooldown_and_hourly_limit(identity):
    cred = await identity.issue()
    pending = await identity.activate_pending(cred, unique_email())
    fid = pending["flow_id"]
    first_token = await identity.last_token("identity.email_verification_requested", "verification_url")
    # The first email starts the cooldown: a resend at once is refused.
    identity.clock.advance(seconds=1)
    status, code, body = await _error(await identity.post(f"/v1/activation/{fid}/resend"))
    assert (status, code) == (429, "too_many_requests") and 58 <= body["retry_after"] <= 60
    identity.clock.advance(seconds=61)
    response = await identity.post(f"/v1/activation/{fid}/resend")
    assert response.status == 200 and (await response.json())["step"] == "pending_verification"
    assert len(await identity.events("identity.email_verification_requested")) == 2
    # A newer link supersedes the older ones.
    status, code, _ = await _error(await identity.post("/v1/email/verify", {"token": first_token}))
    assert (status, code) == (400, "invalid_token")
    for _ in range(3):
        identity.clock.advance(seconds=61)
        assert (await identity.post(f"/v1/activation/{fid}/resend")).status == 200
    identity.clock.advance(seconds=61)
    status, _, body = await _error(await identity.post(f"/v1/activation/{fid}/resend"))
    assert status == 429 and body["retry_after"] > 60  # 5 per hour reached
    latest = await identity.last_token("identity.email_verification_requested", "verification_url")
    assert (await identity.post("/v1/email/verify", {"token": latest})).status == 200


async def test_the_flow_says_when_the_email_may_be_sent_again(identity):
    cred = await identity.issue()
    pending = await identity.activate_pending(cred, unique_email())
    fid = pending["flow_id"]
    created = identity.clock.now()
    # The answer of the password step, the flow read back and a refused resend all carry the cooldown's end.
    assert pending["resend_available_at"] == (created + timedelta(seconds=60)).isoformat()
    identity.clock.advance(seconds=20)
    flow = await (await identity.get(f"/v1/activation/{fid}")).json()
    assert flow["step"] == "pending_verification"
    assert flow["resend_available_at"] == (created + timedelta(seconds=60)).isoformat()
    status, _, body = await _error(await identity.post(f"/v1/activation/{fid}/resend"))
    assert status == 429 and body["retry_after"] == 40
    assert body["resend_available_at"] == (created + timedelta(seconds=60)).isoformat()
    # Once the cooldown is over the flow says "now" (null), and a resend starts the next one.
    identity.clock.advance(seconds=40)
    assert (await (await identity.get(f"/v1/activation/{fid}")).json())["resend_available_at"] is None
    response = await identity.post(f"/v1/activation/{fid}/resend")
    assert (await response.json())["resend_available_at"] == (identity.clock.now()
                                                               + timedelta(seconds=60)).isoformat()
    # The hourly limit: after the fifth email the next one waits for the window's end, not the cooldown's.
    for _ in range(3):
        identity.clock.advance(seconds=61)
        assert (await identity.post(f"/v1/activation/{fid}/resend")).status == 200
    flow = await (await identity.get(f"/v1/activation/{fid}")).json()
    assert flow["resend_available_at"] == (created + timedelta(hours=1)).isoformat()
    identity.clock.advance(seconds=61)
    status, _, body = await _error(await identity.post(f"/v1/activation/{fid}/resend"))
    assert status == 429 and body["resend_available_at"] == (created + timedelta(hours=1)).isoformat()
    # Provisional credentials typed again resume the pending step with the same answer.
    again = await identity.start(cred)
    assert again["step"] == "pending_verification"
    assert again["resend_available_at"] == (created + timedelta(hours=1)).isoformat()
    # Other steps never carry it.
    restarted = await (await identity.post(f"/v1/activation/{fid}/restart")).json()
    assert restarted["step"] == "email" and restarted["resend_available_at"] is None


async def test_verification_link_reused_tampered_or_expired(identity):
    cred = await identity.issue()
    await identity.activate_pending(cred, unique_email())
    token = await identity.last_token("identity.email_verification_requested", "verification_url")
    tampered = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
    assert (await _error(await identity.post("/v1/email/verify", {"token": tampered})))[:2] == (400, "invalid_token")
    assert (await identity.post("/v1/email/verify", {"token": token})).status == 200
    assert (await _error(await identity.post("/v1/email/verify", {"token": token})))[:2] == (400, "invalid_token")

    cred2 = await identity.issue()
    await identity.activate_pending(cred2, unique_email())
    token2 = await identity.last_token("identity.email_verification_requested", "verification_url")
    identity.clock.advance(hours=24)
    assert (await _error(await identity.post("/v1/email/verify", {"token": token2})))[:2] == (400, "invalid_token")


async def test_parallel_verification_exactly_one_succeeds(identity):
    import asyncio

    cred = await identity.issue()
    await identity.activate_pending(cred, unique_email())
    token = await identity.last_token("identity.email_verification_requested", "verification_url")
    responses = await asyncio.gather(*(identity.post("/v1/email/verify", {"token": token}) for _ in range(8)))
    assert sorted(r.status for r in responses) == [200] + [400] * 7
    assert len(await identity.events("identity.account_linked")) == 1


async def test_unknown_login_hammered_answers_like_a_known_one(identity):
    """A lock must not tell which provisional logins exist: unknown ones lock alike."""
    cred = await identity.issue()
    known = {"login": cred["login"], "password": "not-it"}
    unknown = {"login": "ZZZZ" + cred["login"][4:] if not cred["login"].startswith("ZZZZ") else "YYYYYYYY",
               "password": "not-it"}
    answers = {}
    for name, body in (("known", known), ("unknown", unknown)):
        seen = []
        for _ in range(6):
            status, code, reply = await _error(await identity.post("/v1/activation/start", body))
            seen.append((status, code, reply.get("retry_after", 0) // 60))
        answers[name] = seen
    assert answers["known"] == answers["unknown"]
    assert [s for s, _c, _r in answers["known"]] == [401] * 5 + [429]
    identity.clock.advance(minutes=15)
    assert (await identity.post("/v1/activation/start", unknown)).status == 401  # never permanent


async def test_email_step_cannot_probe_addresses_without_limit(identity):
    cred = await identity.issue()
    flow = await identity.start(cred)
    fid = flow["flow_id"]
    for i in range(5):
        response = await identity.post(f"/v1/activation/{fid}/email", {"email": unique_email(f"probe{i}")})
        assert response.status == 200, await response.text()
        assert (await identity.post(f"/v1/activation/{fid}/restart")).status == 200
    status, code, body = await _error(await identity.post(f"/v1/activation/{fid}/email",
                                                          {"email": unique_email("probe6")}))
    assert (status, code) == (429, "too_many_requests") and body["retry_after"] > 0
    # A new flow of the same credential shares the limit; an hour later it is lifted.
    again = (await identity.start(cred))["flow_id"]
    assert (await identity.post(f"/v1/activation/{again}/email", {"email": unique_email("p7")})).status == 429
    identity.clock.advance(hours=1)
    again = (await identity.start(cred))["flow_id"]
    assert (await identity.post(f"/v1/activation/{again}/email", {"email": unique_email("late")})).status == 200


async def test_a_pending_flow_reset_from_another_device_ends_instead_of_failing(identity):
    """Device 1 waits for the email; device 2 types the same letter (it resumes that pending step) and
    resets the activation. Device 1's flow has no pending person any more: reading it or asking for the
    email again answers that the flow is over (the gateway's "expired" page), never a server error."""
    cred = await identity.issue()
    first = await identity.activate_pending(cred, unique_email("pc"))
    second = await identity.start(cred)
    assert second["step"] == "pending_verification"
    assert (await identity.post(f"/v1/activation/{second['flow_id']}/restart")).status == 200

    identity.clock.advance(seconds=61)  # the first email's cooldown is over
    fid = first["flow_id"]
    assert (await _error(await identity.post(f"/v1/activation/{fid}/resend")))[:2] == (404, "flow_not_found")
    assert (await _error(await identity.get(f"/v1/activation/{fid}")))[:2] == (404, "flow_not_found")
    assert (await _error(await identity.post(f"/v1/activation/{fid}/restart")))[:2] == (404, "flow_not_found")
    assert len(await identity.events("identity.email_verification_requested")) == 1

    # Device 2 activates with another address: device 1's flow stays over, device 2's goes on.
    other = unique_email("mobile")
    await identity.post(f"/v1/activation/{second['flow_id']}/email", {"email": other})
    response = await identity.post(f"/v1/activation/{second['flow_id']}/password",
                                   {"password": STRONG_PASSWORD, "confirmation": STRONG_PASSWORD,
                                    "accept_terms": True})
    assert response.status == 200, await response.text()
    assert (await identity.post(f"/v1/activation/{fid}/resend")).status == 404
    identity.clock.advance(seconds=61)
    assert (await identity.post(f"/v1/activation/{second['flow_id']}/resend")).status == 200


async def test_a_flow_ended_by_its_link_says_verified_whatever_its_intent(identity):
    """The tab left on "Un email vous a été envoyé" reads its flow again once the link was followed (often
    on the phone): it must say how the flow ended, for the page "Votre email a bien été validé"."""
    for intent in ("activate", "merge"):  # a merge given a new address ends in a verification too
        cred = await identity.issue()
        flow = await identity.start(cred, intent=intent)
        fid = flow["flow_id"]
        assert flow["outcome"] is None
        await identity.post(f"/v1/activation/{fid}/email", {"email": unique_email(intent)})
        response = await identity.post(f"/v1/activation/{fid}/password",
                                       {"password": STRONG_PASSWORD, "confirmation": STRONG_PASSWORD,
                                        "accept_terms": True})
        assert (await response.json())["outcome"] is None
        token = await identity.last_token("identity.email_verification_requested", "verification_url")
        assert (await identity.post("/v1/email/verify", {"token": token})).status == 200
        body = await (await identity.get(f"/v1/activation/{fid}")).json()
        assert (body["step"], body["outcome"], body["intent"]) == ("done", "verified", intent)


async def test_simultaneous_wrong_provisional_passwords_get_no_more_tries_than_the_lock(identity):
    import asyncio

    cred = await identity.issue()
    body = {"login": cred["login"], "password": "Mauvais-1", "intent": "activate"}
    answers = await asyncio.gather(*(identity.post("/v1/activation/start", body) for _ in range(10)))
    statuses = sorted(a.status for a in answers)
    assert statuses == [401] * 5 + [429] * 5, statuses  # 5 failures lock the letter, even at once
    response = await identity.post("/v1/activation/start", {**body, "password": cred["password"]})
    assert response.status == 429 and (await response.json())["error"] == "credential_locked"
