"""One pending activation per address (issue 18).

Someone holding any letter could start an activation with a victim's address; had the victim then
clicked that verification email, the other person's password would have become the login of the
address. While one activation waits for the verification of an address, another one is refused
with ``email_pending`` and the time it holds until, and the verification email names the account.
"""

from __future__ import annotations

import uuid
from datetime import timedelta

from tests.integration.identity.conftest import STRONG_PASSWORD, unique_email

PASSWORD_STEP = {"password": STRONG_PASSWORD, "confirmation": STRONG_PASSWORD, "accept_terms": True}


async def _at_email_step(identity) -> str:
    return (await identity.start(await identity.issue()))["flow_id"]


async def test_a_second_activation_of_a_pending_address_is_refused_until_the_first_window_ends(identity):
    victim = unique_email("victime")
    attacker_letter = await identity.issue()
    await identity.activate_pending(attacker_letter, victim)
    opened_at = identity.clock.now()
    [requested] = await identity.events("identity.email_verification_requested")

    identity.clock.advance(hours=2)
    flow = await _at_email_step(identity)
    response = await identity.post(f"/v1/activation/{flow}/email", {"email": victim.upper()})
    body = await response.json()
    assert response.status == 409 and body["error"] == "email_pending"
    assert body["pending_until"] == (opened_at + timedelta(hours=24)).isoformat()
    assert (await identity.get(f"/v1/activation/{flow}")).status == 200
    assert (await (await identity.get(f"/v1/activation/{flow}")).json())["step"] == "email"

    # A resend does not extend the hold: it ends 24 h after the first activation was opened.
    identity.clock.advance(hours=1)
    resumed = await identity.start(attacker_letter)  # the letter again resumes the pending step
    assert (await identity.post(f"/v1/activation/{resumed['flow_id']}/resend")).status == 200
    identity.clock.advance(hours=20, minutes=59)
    flow = await _at_email_step(identity)  # the refused person comes back, with their own letter
    assert (await identity.post(f"/v1/activation/{flow}/email", {"email": victim})).status == 409
    identity.clock.advance(minutes=1, seconds=1)
    response = await identity.post(f"/v1/activation/{flow}/email", {"email": victim})
    assert response.status == 200 and (await response.json())["step"] == "password"
    assert requested["account_id"] and requested["role"] == "coproprietaire"


async def test_restarting_the_pending_activation_frees_the_address(identity):
    email = unique_email()
    pending = await identity.activate_pending(await identity.issue(), email)
    other = await _at_email_step(identity)
    assert (await identity.post(f"/v1/activation/{other}/email", {"email": email})).status == 409
    assert (await identity.post(f"/v1/activation/{pending['flow_id']}/restart")).status == 200
    assert (await identity.post(f"/v1/activation/{other}/email", {"email": email})).status == 200


async def test_the_password_step_refuses_an_address_taken_since_the_email_step(identity):
    email = unique_email()
    late = await _at_email_step(identity)
    assert (await identity.post(f"/v1/activation/{late}/email", {"email": email})).status == 200
    await identity.activate_pending(await identity.issue(), email)  # another flow gets there first

    response = await identity.post(f"/v1/activation/{late}/password", PASSWORD_STEP)
    body = await response.json()
    assert response.status == 409 and body["error"] == "email_pending" and body["email"] == email
    assert (await (await identity.get(f"/v1/activation/{late}")).json())["step"] == "email"
    assert len(await identity.sql("SELECT 1 FROM persons WHERE email = $1", email)) == 1


async def test_a_verified_address_leads_to_the_merge_step_not_to_a_refusal(identity):
    email = unique_email()
    await identity.activate(await identity.issue(), email)
    flow = await _at_email_step(identity)
    response = await identity.post(f"/v1/activation/{flow}/email", {"email": email})
    assert response.status == 200 and (await response.json())["step"] == "merge"


async def test_the_verification_event_names_the_account_being_activated(identity):
    account_id = str(uuid.uuid4())
    await identity.activate_pending(await identity.issue(account_id=account_id, role="bailleur"), unique_email())
    [requested] = await identity.events("identity.email_verification_requested")
    assert (requested["account_id"], requested["role"]) == (account_id, "bailleur")


async def test_an_address_verified_since_the_email_step_leads_the_password_step_to_the_merge(identity):
    """Two letters of one person in two tabs, both at the password step with the same address; the first
    is verified. The second's password step must not create a second pending person (its link could never
    be verified: the address has its owner): it goes to the merge step, as the email step would now."""
    email = unique_email()
    first, second = await identity.issue(), await identity.issue()
    tab_a, tab_b = (await identity.start(first))["flow_id"], (await identity.start(second))["flow_id"]
    for tab in (tab_a, tab_b):
        response = await identity.post(f"/v1/activation/{tab}/email", {"email": email})
        assert (await response.json())["step"] == "password"
    assert (await identity.post(f"/v1/activation/{tab_a}/password", PASSWORD_STEP)).status == 200
    token = await identity.last_token("identity.email_verification_requested", "verification_url")
    assert (await identity.post("/v1/email/verify", {"token": token})).status == 200

    response = await identity.post(f"/v1/activation/{tab_b}/password", PASSWORD_STEP)
    body = await response.json()
    assert response.status == 200 and (body["step"], body["email"]) == ("merge", email)
    assert len(await identity.sql("SELECT 1 FROM persons WHERE email = $1", email)) == 1
    assert len(await identity.events("identity.email_verification_requested")) == 1
    assert (await (await identity.get(f"/v1/activation/{tab_b}")).json())["step"] == "merge"

    response = await identity.post(f"/v1/activation/{tab_b}/merge", {"password": STRONG_PASSWORD})
    assert response.status == 200 and (await response.json())["step"] == "done"
    session = await (await identity.login(email)).json()
    info = await (await identity.post("/v1/sessions/introspect", {"session_id": session["session_id"]})).json()
    assert {a["account_id"] for a in info["accounts"]} == {first["account_id"], second["account_id"]}
