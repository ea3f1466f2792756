"""Activation of one account, from provisional credentials to a verified person who logs in."""

from __future__ import annotations

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
