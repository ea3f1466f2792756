"""Passkeys against the real identity (issue 15), answered by a software authenticator: registration,
the second factor after the password, the passwordless login, and what must be refused (a replayed
or foreign assertion, a cloned counter, another origin, no user verification, another person's key)."""

from __future__ import annotations

import pytest

from tests.integration.identity.conftest import STRONG_PASSWORD, unique_email
from tests.integration.identity.softkey import SoftKey

ORIGIN, RP_ID = "https://www.moncompte.test", "www.moncompte.test"


async def person_with_passkey(identity, **kw) -> tuple[str, str, SoftKey, dict]:
    email = unique_email("cle")
    await identity.activate(await identity.issue(), email)
    person_id = (await (await identity.login(email)).json())["person_id"]
    key = SoftKey(origin=ORIGIN, rp_id=RP_ID, **kw)
    options = await (await identity.post("/v1/me/passkeys/options", pid=person_id)).json()
    assert options["options"]["rp"]["id"] == RP_ID
    response = await identity.post("/v1/me/passkeys", {"ceremony_id": options["ceremony_id"],
                                                       "credential": key.create(options["options"]),
                                                       "name": "Téléphone"}, pid=person_id)
    assert response.status == 201, await response.text()
    return email, person_id, key, await response.json()


async def second_step(identity, email: str) -> tuple[str, dict]:
    body = await (await identity.login(email)).json()
    assert body["mfa_required"] and "passkey" in body["methods"]
    options = await (await identity.post("/v1/login/mfa/passkey/options", {"mfa_token": body["mfa_token"]})).json()
    return body["mfa_token"], options["options"]


async def test_registration_gives_recovery_codes_and_a_notice_then_the_passkey_is_the_second_factor(identity):
    email, person_id, key, registered = await person_with_passkey(identity)
    assert len(registered["recovery_codes"]) == 10
    status = await (await identity.get("/v1/me/mfa", pid=person_id)).json()
    assert status["enabled"] and [k["name"] for k in status["passkeys"]] == ["Téléphone"]
    [event] = await identity.events("identity.mfa_changed")
    assert (event["kind"], event["factor"]) == ("added", "passkey")
    token, options = await second_step(identity, email)
    response = await identity.post("/v1/login/mfa", {"mfa_token": token, "assertion": key.get(options)})
    assert response.status == 200, await response.text()
    # The same assertion again (replay), even with a new step: refused.
    token2, _ = await second_step(identity, email)
    response = await identity.post("/v1/login/mfa", {"mfa_token": token2, "assertion": key.get(options, count=1)})
    assert (await response.json())["error"] == "invalid_mfa_code"


@pytest.mark.parametrize("attack", ["other_origin", "cloned_counter", "other_key", "stale_challenge"])
async def test_a_bad_assertion_after_the_password_is_a_counted_failure(identity, attack):
    email, _, key, _ = await person_with_passkey(identity)
    token, options = await second_step(identity, email)
    first = await identity.post("/v1/login/mfa", {"mfa_token": token, "assertion": key.get(options)})
    assert first.status == 200
    token, options = await second_step(identity, email)
    if attack == "other_origin":
        assertion = key.get(options, origin="https://evil.example")
    elif attack == "cloned_counter":
        assertion = key.get(options, count=1)  # the stored counter is 1 already
    elif attack == "other_key":
        assertion = SoftKey(origin=ORIGIN, rp_id=RP_ID).get(options)
    else:
        assertion = key.get({"challenge": "c3RhbGUtY2hhbGxlbmdl"})
    [before] = await identity.sql("SELECT failed_logins FROM persons WHERE email = $1", email)
    response = await identity.post("/v1/login/mfa", {"mfa_token": token, "assertion": assertion})
    assert (await response.json())["error"] == "invalid_mfa_code"
    [after] = await identity.sql("SELECT failed_logins FROM persons WHERE email = $1", email)
    assert after["failed_logins"] == before["failed_logins"] + 1


async def test_passwordless_login_needs_user_verification_and_a_fresh_ceremony(identity):
    _, person_id, key, _ = await person_with_passkey(identity)
    ceremony = await (await identity.post("/v1/login/passkey/options")).json()
    assert ceremony["options"]["userVerification"] == "required"
    assert not ceremony["options"].get("allowCredentials")
    assertion = key.get(ceremony["options"])
    response = await identity.post("/v1/login/passkey", {"ceremony_id": ceremony["ceremony_id"],
                                                         "assertion": assertion})
    assert response.status == 200, await response.text()
    assert (await response.json())["person_id"] == person_id
    # The ceremony is single use.
    response = await identity.post("/v1/login/passkey", {"ceremony_id": ceremony["ceremony_id"],
                                                         "assertion": key.get(ceremony["options"])})
    assert (await response.json())["error"] == "mfa_challenge_invalid"
    # From another IP: refused.
    ceremony = await (await identity.post("/v1/login/passkey/options")).json()
    response = await identity.post("/v1/login/passkey", {"ceremony_id": ceremony["ceremony_id"],
                                                         "assertion": key.get(ceremony["options"])},
                                   ip="198.51.100.20")
    assert (await response.json())["error"] == "mfa_challenge_invalid"
    # Without user verification: refused, one answer.
    key.user_verified = False
    ceremony = await (await identity.post("/v1/login/passkey/options")).json()
    response = await identity.post("/v1/login/passkey", {"ceremony_id": ceremony["ceremony_id"],
                                                         "assertion": key.get(ceremony["options"])})
    assert response.status == 401 and (await response.json())["error"] == "invalid_credentials"


async def test_removal_needs_the_password_and_takes_the_recovery_codes_with_the_last_factor(identity):
    email, person_id, _, _ = await person_with_passkey(identity)
    passkey_id = (await (await identity.get("/v1/me/mfa", pid=person_id)).json())["passkeys"][0]["id"]
    body = {"passkey_id": passkey_id, "password": "Pas-le-bon-12"}
    assert (await identity.post("/v1/me/passkeys/remove", body, pid=person_id)).status == 401
    response = await identity.post("/v1/me/passkeys/remove", {**body, "password": STRONG_PASSWORD}, pid=person_id)
    assert response.status == 200, await response.text()
    assert await identity.sql("SELECT 1 FROM mfa_recovery_codes") == []
    assert [e["kind"] for e in await identity.events("identity.mfa_changed")] == ["added", "removed"]
    assert "session_id" in await (await identity.login(email)).json()
