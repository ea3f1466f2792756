"""Merge ("Fusion de comptes"): a second account joins an existing person, in any tenant."""

from __future__ import annotations

from tests.integration.identity.conftest import STRONG_PASSWORD, Tenant, unique_email


async def _merge_flow(identity, email, *, intent="merge", tenant=None):
    cred = await identity.issue(tenant=tenant)
    flow = await identity.start(cred, intent=intent, tenant=tenant)
    response = await identity.post(f"/v1/activation/{flow['flow_id']}/email", {"email": email}, tenant=tenant)
    body = await response.json()
    return cred, body


async def _accounts(identity, email):
    session = await (await identity.login(email)).json()
    info = await (await identity.post("/v1/sessions/introspect", {"session_id": session["session_id"]})).json()
    return {(a["tenant_id"], a["account_id"]) for a in info["accounts"]}


async def test_merge_in_the_same_tenant(identity):
    email = unique_email()
    first = await identity.issue()
    await identity.activate(first, email)
    second, flow = await _merge_flow(identity, email.upper())
    assert flow["step"] == "merge" and flow["intent"] == "merge" and flow["email"] == email

    response = await identity.post(f"/v1/activation/{flow['flow_id']}/merge", {"password": "Mauvais-1"})
    assert response.status == 401 and (await response.json())["error"] == "invalid_credentials"
    response = await identity.post(f"/v1/activation/{flow['flow_id']}/merge", {"password": STRONG_PASSWORD})
    body = await response.json()
    assert response.status == 200 and body["step"] == "done"

    linked = await identity.events("identity.account_linked")
    assert [(e["account_id"], e["via"]) for e in linked] == [(first["account_id"], "activation"),
                                                              (second["account_id"], "merge")]
    assert linked[1]["email"] == email and linked[1]["tenant_id"] == identity.tenant.id
    assert await _accounts(identity, email) == {(identity.tenant.id, first["account_id"]),
                                                (identity.tenant.id, second["account_id"])}
    # Merged credentials are dead.
    response = await identity.post("/v1/activation/start", {"login": second["login"], "password": second["password"]})
    assert response.status == 401


async def test_activation_meeting_an_existing_email_goes_to_merge(identity):
    email = unique_email()
    await identity.activate(await identity.issue(), email)
    _, flow = await _merge_flow(identity, email, intent="activate")
    assert flow["step"] == "merge" and flow["outcome"] is None
    response = await identity.post(f"/v1/activation/{flow['flow_id']}/merge", {"password": STRONG_PASSWORD})
    body = await response.json()
    assert (body["step"], body["outcome"]) == ("done", "merged")  # an activation that ended in a merge
    body = await (await identity.get(f"/v1/activation/{flow['flow_id']}")).json()
    assert (body["step"], body["outcome"]) == ("done", "merged")


async def test_merge_across_two_tenants(identity):
    email = unique_email()
    first = await identity.issue()
    await identity.activate(first, email)
    other = Tenant()
    second, flow = await _merge_flow(identity, email, tenant=other)
    response = await identity.post(f"/v1/activation/{flow['flow_id']}/merge", {"password": STRONG_PASSWORD},
                                   tenant=other)
    assert response.status == 200
    [_, event] = await identity.events("identity.account_linked")
    assert event["tenant_id"] == other.id and event["via"] == "merge"
    assert await _accounts(identity, email) == {(identity.tenant.id, first["account_id"]),
                                                (other.id, second["account_id"])}


async def test_merge_with_wrong_passwords_is_throttled(identity):
    email = unique_email()
    await identity.activate(await identity.issue(), email)
    _, flow = await _merge_flow(identity, email)
    url = f"/v1/activation/{flow['flow_id']}/merge"
    for _ in range(5):
        assert (await identity.post(url, {"password": "Mauvais-1"})).status == 401
    response = await identity.post(url, {"password": STRONG_PASSWORD})  # even the right one must wait
    body = await response.json()
    assert response.status == 429 and body["retry_after"] == 1
    identity.clock.advance(seconds=1)
    assert (await identity.post(url, {"password": STRONG_PASSWORD})).status == 200


async def test_merge_step_back_to_email_and_refused_actions(identity):
    email = unique_email()
    await identity.activate(await identity.issue(), email)
    _, flow = await _merge_flow(identity, email)
    fid = flow["flow_id"]
    response = await identity.post(f"/v1/activation/{fid}/password",
                                   {"password": STRONG_PASSWORD, "confirmation": STRONG_PASSWORD, "accept_terms": True})
    assert response.status == 409
    assert (await identity.post(f"/v1/activation/{fid}/resend")).status == 409
    # Choosing another (new) email from the merge step leads to the password step.
    response = await identity.post(f"/v1/activation/{fid}/email", {"email": unique_email()})
    assert (await response.json())["step"] == "password"
    assert (await identity.post(f"/v1/activation/{fid}/merge", {"password": STRONG_PASSWORD})).status == 409


async def test_a_pending_person_does_not_own_its_email(identity):
    # Someone starts an activation with an address and never verifies it: the owner of that address
    # is told so while that activation's first window lasts (issue 18: one pending activation per
    # address), then activates with it; only the owner's verification counts.
    email = unique_email()
    await identity.activate_pending(await identity.issue(), email, password="Squat-Pass-99")
    owner = await identity.issue()
    flow = await identity.start(owner)
    response = await identity.post(f"/v1/activation/{flow['flow_id']}/email", {"email": email})
    assert response.status == 409 and (await response.json())["error"] == "email_pending"
    identity.clock.advance(hours=24, seconds=1)
    flow = await identity.start(owner)
    response = await identity.post(f"/v1/activation/{flow['flow_id']}/email", {"email": email})
    assert (await response.json())["step"] == "password"
    response = await identity.post(f"/v1/activation/{flow['flow_id']}/password", {
        "password": STRONG_PASSWORD, "confirmation": STRONG_PASSWORD, "accept_terms": True})
    assert response.status == 200
    token = await identity.last_token("identity.email_verification_requested", "verification_url")
    assert (await identity.post("/v1/email/verify", {"token": token})).status == 200
    assert (await identity.login(email)).status == 200
    assert (await identity.login(email, "Squat-Pass-99")).status == 401


async def test_simultaneous_wrong_merge_passwords_get_no_more_tries_than_the_delay(identity):
    import asyncio

    email = unique_email()
    await identity.activate(await identity.issue(), email)
    _, flow = await _merge_flow(identity, email)
    url = f"/v1/activation/{flow['flow_id']}/merge"
    answers = await asyncio.gather(*(identity.post(url, {"password": f"Mauvais-{n}"}) for n in range(10)))
    statuses = sorted(a.status for a in answers)
    assert statuses == [401] * 5 + [429] * 5, statuses  # the delay from 5 failures holds at once too
    failures = await identity.sql("SELECT failed_logins FROM persons WHERE email = $1", email)
    assert failures[0]["failed_logins"] == 5
