"""POST /api/v1/directory/accounts/{ref}/unlink against the real identity: the agency takes an account away
from its person (a sold lot, a wrong merge); the person is told, the account's live letters die, audited."""

from __future__ import annotations

import uuid

import asyncpg
import pytest

from common.internal_auth import issue_token
from tests.integration.tenancy.conftest import SECRET, Identity, Tenancy, make_tenancy, sample_directory


@pytest.fixture
async def tenancy(fresh_database, exchange_name, aiohttp_client, identity: Identity) -> Tenancy:
    return await make_tenancy(fresh_database, exchange_name, aiohttp_client, identity.url)


async def _identity_rows(identity: Identity, query: str, *args):
    conn = await asyncpg.connect(identity.dsn)
    try:
        return await conn.fetch(query, *args)
    finally:
        await conn.close()


async def _unlink(tenancy: Tenancy, tenant: dict, ref: str, body: dict, **claims):
    headers = tenancy.agency(tenant["id"]) if not claims else {"Authorization": "Internal " + issue_token(
        SECRET, issuer="gateway", audience="tenancy", act="agency", tid=tenant["id"], **claims)}
    return await tenancy.client.post(f"/api/v1/directory/accounts/{ref}/unlink", json=body, headers=headers)


async def test_an_activated_account_is_unlinked_its_person_told_and_the_action_audited(tenancy, identity):
    tenant = await tenancy.onboard()
    await tenancy.put_directory(tenant["id"], sample_directory())
    issued = await tenancy.client.post("/api/v1/provisional-credentials", json={"account_refs": ["C1", "C2"]},
                                       headers=tenancy.agency(tenant["id"]))
    c1, c2 = (await issued.json())["credentials"]
    await identity.activate(tenant, c1, "vendeur@example.org")
    staff_id = str(uuid.uuid4())
    response = await _unlink(tenancy, tenant, "C1", {"reason": "sold", "note": "Vente du 12/05, notaire Maître X"},
                             sid=staff_id)
    assert response.status == 200
    assert await response.json() == {"account_ref": "C1", "unlinked": True, "person_notified": True}

    [event] = await _identity_rows(identity, "SELECT payload FROM outbox WHERE type = 'identity.account_unlinked'")
    import json

    payload = json.loads(event["payload"])
    assert (payload["email"], payload["reason"], payload["role"]) == ("vendeur@example.org", "sold", "coproprietaire")
    assert "note" not in payload  # the agency's note stays in the audit
    [audit] = await _identity_rows(identity, "SELECT staff_id::text, detail FROM audit WHERE kind = 'account_unlinked'")
    assert audit["staff_id"] == staff_id and json.loads(audit["detail"])["note"] == "Vente du 12/05, notaire Maître X"
    page = await tenancy.client.get("/api/v1/directory/accounts", params={"ref": "C1"},
                                    headers=tenancy.agency(tenant["id"]))
    assert (await page.json())["accounts"][0]["access"] == "none"

    # Nothing left to unlink; an unknown ref; a bad reason; another agency's key: clear errors, nothing changed.
    again = await _unlink(tenancy, tenant, "C1", {"reason": "sold"})
    assert again.status == 409 and (await again.json())["error"] == "account_not_linked"
    assert (await _unlink(tenancy, tenant, "NOPE", {"reason": "sold"})).status == 404
    bad = await _unlink(tenancy, tenant, "C2", {"reason": "parce que"})
    assert bad.status == 422 and (await bad.json())["errors"][0]["path"] == "reason"
    other = await tenancy.onboard()
    await tenancy.put_directory(other["id"], sample_directory())
    assert (await _unlink(tenancy, other, "C2", {"reason": "other"})).status == 409  # their C2 has no access
    assert await identity.can_start(tenant, c2)  # our C2's letter is untouched


async def test_a_pending_activation_is_undone_without_an_email(tenancy, identity):
    tenant = await tenancy.onboard()
    await tenancy.put_directory(tenant["id"], sample_directory())
    issued = await tenancy.client.post("/api/v1/provisional-credentials", json={"account_refs": ["C1"]},
                                       headers=tenancy.agency(tenant["id"]))
    [c1] = (await issued.json())["credentials"]
    await identity.activate(tenant, c1, "en-attente@example.org", verify=False)
    response = await _unlink(tenancy, tenant, "C1", {"reason": "wrong_merge"})
    assert response.status == 200 and (await response.json())["person_notified"] is False
    assert await _identity_rows(identity, "SELECT 1 FROM outbox WHERE type = 'identity.account_unlinked'") == []
    assert not await identity.can_start(tenant, c1)  # the letter in circulation died with the link


async def test_closing_an_account_takes_it_from_its_person_at_once(tenancy, identity):
    """AGENCY-API.md: a closed account's person loses access at once, not when the event is consumed
    (neither tenancy's relay nor identity's consumer runs here: only the direct call can do it)."""
    tenant = await tenancy.onboard()
    await tenancy.put_directory(tenant["id"], sample_directory())
    issued = await tenancy.client.post("/api/v1/provisional-credentials", json={"account_refs": ["C1", "C2"]},
                                       headers=tenancy.agency(tenant["id"]))
    c1, c2 = (await issued.json())["credentials"]
    await identity.activate(tenant, c1, "ferme@example.org")
    assert len(await _identity_rows(identity, "SELECT 1 FROM links WHERE status = 'active'")) == 1

    closed = await tenancy.client.delete("/api/v1/directory/accounts/C2", headers=tenancy.agency(tenant["id"]))
    assert closed.status == 204
    assert not await identity.can_start(tenant, c2)  # its letter died with the account
    closed = await tenancy.client.delete("/api/v1/directory/accounts/C1", headers=tenancy.agency(tenant["id"]))
    assert closed.status == 204
    assert await _identity_rows(identity, "SELECT 1 FROM links") == []
    [audit] = await _identity_rows(identity, "SELECT detail FROM audit WHERE kind = 'account_unlinked'")
    import json

    assert json.loads(audit["detail"])["reason"] == "account_closed"
    again = await tenancy.client.delete("/api/v1/directory/accounts/C1", headers=tenancy.agency(tenant["id"]))
    assert again.status == 204  # idempotent


async def test_a_close_with_identity_unreachable_is_done_and_left_to_the_event(tenancy):
    tenant = await tenancy.onboard()  # this tenancy's identity URL answers nothing
    await tenancy.put_directory(tenant["id"], sample_directory())
    closed = await tenancy.client.delete("/api/v1/directory/accounts/C1", headers=tenancy.agency(tenant["id"]))
    assert closed.status == 204
    conn = await asyncpg.connect(tenancy.dsn)
    try:
        events = await conn.fetch("SELECT payload FROM outbox WHERE type = 'tenancy.account_closed'")
    finally:
        await conn.close()
    assert len(events) == 1  # identity and documents drop the access when they consume it


async def test_identity_refuses_to_close_another_tenants_account(tenancy, identity):
    tenant = await tenancy.onboard()
    await tenancy.put_directory(tenant["id"], sample_directory())
    issued = await tenancy.client.post("/api/v1/provisional-credentials", json={"account_refs": ["C1"]},
                                       headers=tenancy.agency(tenant["id"]))
    [c1] = (await issued.json())["credentials"]
    await identity.activate(tenant, c1, "garde@example.org")
    [link] = await _identity_rows(identity, "SELECT account_id FROM links")
    token = issue_token(SECRET, issuer="tenancy", audience="identity", tid=str(uuid.uuid4()))
    refused = await identity.client.post("/internal/accounts/close", json={"account_id": str(link["account_id"])},
                                         headers={"Authorization": f"Internal {token}"})
    assert refused.status == 404 and (await refused.json())["error"] == "account_not_found"
    assert len(await _identity_rows(identity, "SELECT 1 FROM links")) == 1
