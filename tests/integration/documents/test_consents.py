"""The consent register (issue 14): a person gives and revokes each kind for one co-owner account; the
register is append-only at the database, read per residence at a date (JSON, CSV); a convocation
or fund call published to an account without consent is marked to be sent by post."""

from __future__ import annotations

import csv
import io
import uuid
from datetime import timedelta

import asyncpg
import pytest

from services.documents.consents import WORDING_VERSION, wording


@pytest.fixture
async def residence(harness):
    tenant, rid = uuid.uuid4(), uuid.uuid4()
    first = await harness.account(tenant_id=tenant, ref="C1", residences=[(rid, "R1")])
    second = await harness.account(tenant_id=tenant, ref="C2", residences=[(rid, "R1")])
    tenant_only = await harness.account(tenant_id=tenant, ref="L1", role="locataire")
    return {"tenant": tenant, "first": first, "second": second, "locataire": tenant_only,
            "person": str(uuid.uuid4())}


async def _change(harness, account, person, kind, given, **extra):
    body = {"account_id": str(account["account_id"]), "kind": kind, "given": given,
            "wording_version": WORDING_VERSION, "lots": [{"ref": "L12", "number": "12", "residence_ref": "R1"}],
            **extra}
    return await harness.client.post("/v1/consents", json=body, headers=harness.person([account], person))


async def _register(harness, tenant, **params):
    return await harness.client.get("/api/v1/consents", params={"residence_ref": "R1", **params},
                                    headers=harness.agency(tenant))


async def test_give_revoke_and_read_the_state(harness, residence):
    first, person = residence["first"], residence["person"]
    answer = await (await harness.client.get("/v1/consents", headers=harness.person([first], person))).json()
    assert answer["wording_version"] == WORDING_VERSION
    assert [k["kind"] for k in answer["kinds"]] == ["notifications", "mises_en_demeure", "appels_de_fonds"]
    assert answer["accounts"][0]["consents"]["appels_de_fonds"] == {"given": False, "since": None}
    response = await _change(harness, first, person, "appels_de_fonds", True)
    assert response.status == 200
    assert (await response.json())["changed"] is True
    given_at = harness.clock.now()
    again = await (await _change(harness, first, person, "appels_de_fonds", True)).json()
    assert again["changed"] is False  # a double click records one change
    harness.clock.advance(hours=2)
    assert (await (await _change(harness, first, person, "appels_de_fonds", False)).json())["changed"] is True
    state = await (await harness.client.get("/v1/consents", headers=harness.person([first], person))).json()
    assert state["accounts"][0]["consents"]["appels_de_fonds"]["given"] is False
    async with harness.pool.acquire() as conn:
        rows = await conn.fetch("SELECT kind, given, wording, wording_version, means, lots, person_id, account_ref "
                                "FROM consent_changes ORDER BY id")
        outbox = await conn.fetch("SELECT type, payload FROM outbox WHERE type = 'documents.consent_changed'")
    assert [(r["kind"], r["given"]) for r in rows] == [("appels_de_fonds", True), ("appels_de_fonds", False)]
    assert rows[0]["wording"] == wording("appels_de_fonds") and "35-2" in rows[0]["wording"]
    assert rows[0]["means"] == "web" and rows[0]["account_ref"] == "C1" and str(rows[0]["person_id"]) == person
    assert rows[0]["lots"] == [{"ref": "L12", "number": "12", "residence_ref": "R1"}]
    assert [o["payload"]["given"] for o in outbox] == [True, False]
    assert outbox[0]["payload"]["person_id"] == person and outbox[0]["payload"]["kind"] == "appels_de_fonds"
    # The state at a date in between: given.
    register = await (await _register(harness, residence["tenant"],
                                      at=(given_at + timedelta(hours=1)).isoformat())).json()
    c1 = next(a for a in register["accounts"] if a["account_ref"] == "C1")
    assert c1["consents"]["appels_de_fonds"] == {"given": True, "since": given_at.isoformat()}
    assert len(register["changes"]) == 1
    now = await (await _register(harness, residence["tenant"])).json()
    assert [a["account_ref"] for a in now["accounts"]] == ["C1", "C2"]
    assert len(now["changes"]) == 2
    assert next(a for a in now["accounts"] if a["account_ref"] == "C1")["consents"]["appels_de_fonds"]["given"] is False


async def test_register_as_csv(harness, residence):
    await _change(harness, residence["first"], residence["person"], "notifications", True)
    response = await _register(harness, residence["tenant"], format="csv")
    assert response.status == 200 and response.content_type == "text/csv"
    rows = list(csv.DictReader(io.StringIO((await response.read()).decode("utf-8-sig")), delimiter=";"))
    assert [(r["account_ref"], r["kind"], r["given"], r["lots"], r["means"]) for r in rows] == [
        ("C1", "notifications", "yes", "L12", "web")]
    assert "64-1" in rows[0]["wording"]
    state = await _register(harness, residence["tenant"], format="csv", view="state")
    rows = list(csv.DictReader(io.StringIO((await state.read()).decode("utf-8-sig")), delimiter=";"))
    assert [(r["account_ref"], r["notifications_given"], r["appels_de_fonds_given"]) for r in rows] == [
        ("C1", "yes", "no"), ("C2", "no", "no")]


async def test_refusals(harness, residence):
    first, person = residence["first"], residence["person"]
    assert (await _change(harness, first, person, "appels_de_fonds", True, wording_version="old")).status == 409
    assert (await _change(harness, first, person, "nope", True)).status == 422
    assert (await _change(harness, residence["locataire"], person, "appels_de_fonds", True)).status == 422
    other = {**residence["second"]}
    response = await harness.client.post("/v1/consents", headers=harness.person([first], person), json={
        "account_id": str(other["account_id"]), "kind": "notifications", "given": True,
        "wording_version": WORDING_VERSION})
    assert response.status == 404  # not one of the person's accounts
    assert (await _register(harness, residence["tenant"], residence_ref="NOPE")).status == 422
    assert (await _register(harness, uuid.uuid4())).status == 422  # another agency knows no R1
    async with harness.pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM consent_changes") == 0


@pytest.mark.parametrize("statement", ["UPDATE consent_changes SET given = NOT given",
                                       "DELETE FROM consent_changes", "TRUNCATE consent_changes"])
async def test_the_register_is_append_only_at_the_database(harness, residence, statement):
    await _change(harness, residence["first"], residence["person"], "notifications", True)
    async with harness.pool.acquire() as conn:
        with pytest.raises(asyncpg.RaiseError, match="append-only"):
            await conn.execute(statement)
        assert await conn.fetchval("SELECT count(*) FROM consent_changes") == 1


async def test_a_fund_call_without_consent_is_to_send_by_post(harness, residence):
    first, second, tenant = residence["first"], residence["second"], residence["tenant"]
    await _change(harness, first, residence["person"], "appels_de_fonds", True)
    harness.clock.advance(seconds=1)
    calls = {}
    for account in (first, second):
        calls[account["ref"]] = await harness.publish(tenant, {
            "category": "LOT_APPEL", "title": "Appel de fonds T1", "date": "2026-01-01",
            "audience": {"account_ref": account["ref"]}})
    async with harness.pool.acquire() as conn:
        payloads = {str(r["payload"]["document_id"]): r["payload"] for r in await conn.fetch(
            "SELECT payload FROM outbox WHERE type = 'documents.document_published'")}
    assert payloads[calls["C1"]["id"]]["paper_account_ids"] == []
    assert payloads[calls["C2"]["id"]]["paper_account_ids"] == [str(second["account_id"])]
    proof = await (await harness.client.get(f"/api/v1/documents/{calls['C2']['id']}/proof",
                                            headers=harness.agency(tenant))).json()
    assert proof["audience_at_publication"][0]["delivery"] == "post"
    assert proof["summary"]["to_send_by_post"] == 1
    proof = await (await harness.client.get(f"/api/v1/documents/{calls['C1']['id']}/proof",
                                            headers=harness.agency(tenant))).json()
    assert proof["audience_at_publication"][0]["delivery"] == "email"
    listing = await (await harness.client.get("/api/v1/documents", headers=harness.agency(tenant))).json()
    by_post = {item["id"]: item["to_send_by_post"] for item in listing["items"]}
    assert by_post == {calls["C1"]["id"]: 0, calls["C2"]["id"]: 1}
    # A revocation counts for what is published after it, never for what was published before.
    harness.clock.advance(seconds=1)
    await _change(harness, first, residence["person"], "appels_de_fonds", False)
    later = await harness.publish(tenant, {"category": "LOT_APPEL", "title": "Appel de fonds T2",
                                           "date": "2026-04-01", "audience": {"account_ref": "C1"}})
    async with harness.pool.acquire() as conn:
        payload = await conn.fetchval("SELECT payload FROM outbox WHERE type = 'documents.document_published' "
                                      "AND payload->>'document_id' = $1", later["id"])
    assert payload["paper_account_ids"] == [str(first["account_id"])]
    proof = await (await harness.client.get(f"/api/v1/documents/{calls['C1']['id']}/proof",
                                            headers=harness.agency(tenant))).json()
    assert proof["audience_at_publication"][0]["delivery"] == "email"
