"""The directory import (JSON): validation first with every error path, all or nothing, idempotent,
events only for what changed, tenant isolation."""

from __future__ import annotations

import copy

from tests.integration.tenancy.conftest import Tenancy, sample_directory

ALL_CREATED = {"residences": {"created": 2, "updated": 0, "unchanged": 0},
               "lots": {"created": 3, "updated": 0, "unchanged": 0},
               "accounts": {"created": 3, "updated": 0, "unchanged": 0}}
ALL_UNCHANGED = {"residences": {"created": 0, "updated": 0, "unchanged": 2},
                 "lots": {"created": 0, "updated": 0, "unchanged": 3},
                 "accounts": {"created": 0, "updated": 0, "unchanged": 3}}


async def _lookup(tenancy: Tenancy, ids: list[str]) -> list[dict]:
    """As the gateway's dashboard asks: for a person linked to these accounts."""
    person = {"pid": "a-person", "acc": [{"account_id": i} for i in ids]}
    response = await tenancy.client.post("/internal/accounts/lookup", json={"account_ids": ids},
                                         headers=tenancy.internal(**person))
    assert response.status == 200
    return (await response.json())["accounts"]


async def test_import_creates_everything_then_the_same_document_is_all_unchanged(tenancy: Tenancy):
    tenant = await tenancy.onboard()
    assert await tenancy.put_directory(tenant["id"], sample_directory()) == ALL_CREATED
    events = await tenancy.account_events()
    assert len(events) == 3
    assert len(await tenancy.outbox("tenancy.accounts_upserted")) == 1  # one batch for the 3 accounts

    assert await tenancy.put_directory(tenant["id"], sample_directory()) == ALL_UNCHANGED
    assert len(await tenancy.account_events()) == 3  # nothing new
    assert len(await tenancy.outbox("tenancy.accounts_upserted")) == 1


async def test_account_upserted_carries_the_contract_payload(tenancy: Tenancy):
    tenant = await tenancy.onboard()
    await tenancy.put_directory(tenant["id"], sample_directory())
    events = {e["payload"]["ref"]: e for e in await tenancy.account_events()}
    c1 = events["C1"]
    assert c1["tenant_id"] == tenant["id"] and c1["correlation_id"]
    payload = c1["payload"]
    assert set(payload) == {"account_id", "tenant_id", "ref", "role", "display_name", "council", "status",
                            "residences", "lots"}
    assert payload["tenant_id"] == tenant["id"]
    assert (payload["role"], payload["display_name"], payload["council"], payload["status"]) == (
        "coproprietaire", "M. Jean Dupont", True, "active")
    assert [(r["ref"], r["name"]) for r in payload["residences"]] == [("R1", "Résidence Les Tilleuls")]
    assert payload["lots"] == [{"ref": "L1", "number": "12", "residence_ref": "R1"},
                               {"ref": "L2", "number": "13", "residence_ref": "R1"}]
    [account] = await _lookup(tenancy, [payload["account_id"]])
    assert payload["residences"][0]["id"] == account["lots"][0]["residence"]["id"]


async def test_changes_are_counted_and_only_touched_accounts_get_events(tenancy: Tenancy):
    tenant = await tenancy.onboard()
    await tenancy.put_directory(tenant["id"], sample_directory())
    before = len(await tenancy.account_events())

    changed = sample_directory()
    changed["accounts"][1]["display_name"] = "Mme Claire Martin-Durand"  # C2 itself changes
    changed["residences"][1]["name"] = "Le Clos Fleuri"  # C3 sees its residence renamed
    result = await tenancy.put_directory(tenant["id"], changed)
    assert result["accounts"] == {"created": 0, "updated": 1, "unchanged": 2}
    assert result["residences"] == {"created": 0, "updated": 1, "unchanged": 1}
    new = (await tenancy.account_events())[before:]
    assert sorted(e["payload"]["ref"] for e in new) == ["C2", "C3"]
    c3 = next(e["payload"] for e in new if e["payload"]["ref"] == "C3")
    assert c3["residences"][0]["name"] == "Le Clos Fleuri"

    # A lot moved to another residence: the accounts on it get an event, with the new residence.
    before = len(await tenancy.account_events())
    result = await tenancy.put_directory(tenant["id"], {"lots": [
        {"ref": "L2", "residence_ref": "R2", "number": "13", "kind": "cave"}]})
    assert result["lots"] == {"created": 0, "updated": 1, "unchanged": 0}
    new = (await tenancy.account_events())[before:]
    assert [e["payload"]["ref"] for e in new] == ["C1"]
    assert sorted(r["ref"] for r in new[0]["payload"]["residences"]) == ["R1", "R2"]


async def test_a_later_document_may_reference_stored_lots_and_residences(tenancy: Tenancy):
    tenant = await tenancy.onboard()
    await tenancy.put_directory(tenant["id"], sample_directory())
    result = await tenancy.put_directory(tenant["id"], {
        "lots": [{"ref": "L9", "residence_ref": "R2", "number": "9"}],
        "accounts": [{"ref": "C9", "role": "locataire", "display_name": "M. Neuf", "lot_refs": ["L9", "L3"]}]})
    assert result["lots"]["created"] == 1 and result["accounts"]["created"] == 1


async def test_one_bad_document_reports_every_error_path_and_applies_nothing(tenancy: Tenancy):
    tenant = await tenancy.onboard()
    bad = sample_directory()
    bad["accounts"][0]["role"] = "proprietaire"
    bad["accounts"][1]["lot_refs"] = ["L1", "L404"]
    bad["accounts"].append(copy.deepcopy(bad["accounts"][2]))  # duplicate ref C3
    bad["accounts"].append({"ref": "C5", "role": "locataire", "display_name": "X", "lot_refs": ["L1"],
                            "council": True})
    bad["lots"][2]["residence_ref"] = "R404"
    bad["residences"][1]["name"] = ""
    response = await tenancy.client.put("/api/v1/directory", json=bad, headers=tenancy.agency(tenant["id"]))
    assert response.status == 422
    body = await response.json()
    assert body["error"] == "directory_invalid"
    assert {e["path"] for e in body["errors"]} == {"accounts[0].role", "residences[1].name"}
    # Field errors come first; once rows are valid one by one, the cross-checks report theirs.
    bad["accounts"][0]["role"] = "coproprietaire"
    bad["residences"][1]["name"] = "Le Clos"
    response = await tenancy.client.put("/api/v1/directory", json=bad, headers=tenancy.agency(tenant["id"]))
    assert response.status == 422
    paths = {e["path"] for e in (await response.json())["errors"]}
    assert paths == {"accounts[1].lot_refs[1]", "accounts[3].ref", "accounts[4].council", "lots[2].residence_ref"}
    assert await tenancy.account_events() == []
    # Nothing was applied: the good rows of the bad document do not exist.
    assert await tenancy.put_directory(tenant["id"], sample_directory()) == ALL_CREATED


async def test_malformed_bodies_are_refused(tenancy: Tenancy):
    tenant = await tenancy.onboard()
    headers = tenancy.agency(tenant["id"])
    response = await tenancy.client.put("/api/v1/directory", data=b"{not json", headers={
        **headers, "Content-Type": "application/json"})
    assert response.status == 400
    response = await tenancy.client.put("/api/v1/directory", data=b"<xml/>", headers={
        **headers, "Content-Type": "application/xml"})
    assert response.status == 415
    response = await tenancy.client.put("/api/v1/directory", json={"accounts": [], "extra": 1}, headers=headers)
    assert response.status == 422 and (await response.json())["errors"][0]["path"] == "extra"


async def test_oversize_body_is_413_and_nothing_is_applied(tenancy: Tenancy):
    tenant = await tenancy.onboard()
    document = sample_directory()
    filler = {"ref": "F", "role": "locataire", "display_name": "x" * 190, "lot_refs": ["L1"]}
    document["accounts"] += [dict(filler, ref=f"F{i}") for i in range(12_000)]  # > 2 MB test limit
    response = await tenancy.client.put("/api/v1/directory", json=document, headers=tenancy.agency(tenant["id"]))
    assert response.status == 413
    assert (await response.json())["error"] == "body_too_large"
    assert await tenancy.put_directory(tenant["id"], sample_directory()) == ALL_CREATED


async def test_an_agency_never_reads_or_writes_another_tenants_directory(tenancy: Tenancy):
    a, b = await tenancy.onboard(), await tenancy.onboard()
    await tenancy.put_directory(a["id"], sample_directory())
    # Tenant B cannot point at A's lots or residences: they do not exist in its directory.
    response = await tenancy.client.put("/api/v1/directory", headers=tenancy.agency(b["id"]), json={
        "lots": [{"ref": "LX", "residence_ref": "R1", "number": "1"}],
        "accounts": [{"ref": "CX", "role": "locataire", "display_name": "X", "lot_refs": ["L1"]}]})
    assert response.status == 422
    assert {e["path"] for e in (await response.json())["errors"]} == {"lots[0].residence_ref",
                                                                     "accounts[0].lot_refs[0]"}
    # The same refs in B are B's own rows: A's are untouched.
    assert await tenancy.put_directory(b["id"], sample_directory()) == ALL_CREATED
    response = await tenancy.client.delete("/api/v1/directory/accounts/C1", headers=tenancy.agency(b["id"]))
    assert response.status == 204
    assert await tenancy.put_directory(a["id"], sample_directory()) == ALL_UNCHANGED
    closed = await tenancy.outbox("tenancy.account_closed")
    assert [e["tenant_id"] for e in closed] == [b["id"]]


async def test_closing_an_account_writes_one_event_and_a_reimport_reopens_it(tenancy: Tenancy):
    tenant = await tenancy.onboard()
    await tenancy.put_directory(tenant["id"], sample_directory())
    headers = tenancy.agency(tenant["id"])
    c2 = next(e["payload"] for e in await tenancy.account_events() if e["payload"]["ref"] == "C2")
    assert (await tenancy.client.delete("/api/v1/directory/accounts/C2", headers=headers)).status == 204
    assert (await tenancy.client.delete("/api/v1/directory/accounts/C2", headers=headers)).status == 204
    assert (await tenancy.client.delete("/api/v1/directory/accounts/NOPE", headers=headers)).status == 404
    closed = await tenancy.outbox("tenancy.account_closed")
    assert [e["payload"] for e in closed] == [{"account_id": c2["account_id"], "tenant_id": tenant["id"],
                                               "ref": "C2"}]
    [account] = await _lookup(tenancy, [c2["account_id"]])
    assert account["status"] == "closed"

    result = await tenancy.put_directory(tenant["id"], sample_directory())
    assert result["accounts"] == {"created": 0, "updated": 1, "unchanged": 2}
    [account] = await _lookup(tenancy, [c2["account_id"]])
    assert account["status"] == "active"


async def test_lookup_returns_role_lots_and_residence_and_leaves_unknown_ids_out(tenancy: Tenancy):
    tenant = await tenancy.onboard()
    await tenancy.put_directory(tenant["id"], sample_directory())
    c1 = next(e["payload"] for e in await tenancy.account_events() if e["payload"]["ref"] == "C1")
    [account] = await _lookup(tenancy, [c1["account_id"], "6f1c9d8e-0000-4000-8000-000000000000"])
    assert account == {
        "id": c1["account_id"], "tenant_id": tenant["id"], "ref": "C1", "role": "coproprietaire",
        "display_name": "M. Jean Dupont", "council": True, "status": "active",
        "lots": [{"ref": "L1", "number": "12", "kind": "appartement", "residence": account["lots"][0]["residence"]},
                 {"ref": "L2", "number": "13", "kind": "cave", "residence": account["lots"][0]["residence"]}]}
    assert account["lots"][0]["residence"] | {"id": None} == {
        "id": None, "ref": "R1", "name": "Résidence Les Tilleuls", "address": "3 rue des Lilas, Paris"}
    response = await tenancy.client.post("/internal/accounts/lookup", json={"account_ids": ["x"]},
                                         headers=tenancy.internal(tid=tenant["id"]))
    assert response.status == 422 and (await response.json())["errors"][0]["path"] == "account_ids[0]"
