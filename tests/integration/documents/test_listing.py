"""Listing for a person: filters, newest first, keyset pagination, facets, and the projection."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest


@pytest.fixture
async def world(harness):
    tenant = uuid.uuid4()
    residence = uuid.uuid4()
    copro = await harness.account(tenant_id=tenant, ref="C1", residences=[(residence, "R1")])
    bailleur = await harness.account(tenant_id=tenant, ref="B1", role="bailleur", residences=[(residence, "R1")])
    return {"tenant": tenant, "residence": residence, "copro": copro, "bailleur": bailleur}


def meta(category, title, date, audience):
    return {"category": category, "title": title, "date": date, "audience": audience}


async def test_newest_first_with_keyset_pages_and_facets(harness, world):
    tenant = world["tenant"]
    published = []
    for index, day in enumerate(["2024-03-01", "2025-06-12", "2025-06-12", "2026-01-05", "2023-12-31"]):
        category = "AG_PV" if index % 2 else "CP_INFO"
        published.append((day, (await harness.publish(tenant, meta(category, f"Doc {index}", day,
                                                                     {"residence_ref": "R1"})))["id"]))
    await harness.publish(tenant, meta("LOT_APPEL", "Appel de fonds T1", "2026-01-10", {"account_ref": "C1"}))
    seen, cursor = [], None
    while True:
        query = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = await harness.listing([world["copro"]], **query)
        assert len(page["items"]) <= 2
        seen += page["items"]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == 6
    keys = [(d["date"], d["id"]) for d in seen]
    assert keys == sorted(keys, reverse=True)
    assert seen[0]["title"] == "Appel de fonds T1"
    first = seen[0]
    assert first["category_label"] == "Appels de fonds (3 dernières années)"
    assert first["group"] == "Mon lot" and first["group_code"] == "lot"
    assert first["account_ids"] == [str(world["copro"]["account_id"])]
    assert first["tenant_id"] == str(tenant) and first["filename"] == "document.pdf"
    assert page["facets"] == {"categories": {"CP_INFO": 3, "AG_PV": 2, "LOT_APPEL": 1},
                              "years": {"2026": 2, "2025": 2, "2024": 1, "2023": 1}}
    assert list(page["facets"]["years"]) == ["2026", "2025", "2024", "2023"]


async def test_filters_by_category_year_text_tenant_and_account(harness, world):
    tenant = world["tenant"]
    await harness.publish(tenant, meta("AG_PV", "PV de l'AG 2025", "2025-06-12", {"residence_ref": "R1"}))
    await harness.publish(tenant, meta("AG_PV", "PV de l'AG 2024", "2024-06-12", {"residence_ref": "R1"}))
    await harness.publish(tenant, meta("CP_INFO", "Coupure d'eau 100%_sûr", "2025-02-01", {"residence_ref": "R1"}))
    await harness.publish(tenant, meta("LOT_APPEL", "Appel T1", "2025-01-01", {"account_ref": "C1"}))
    person = [world["copro"]]

    def titles(page):
        return [d["title"] for d in page["items"]]

    assert titles(await harness.listing(person, category="AG_PV")) == ["PV de l'AG 2025", "PV de l'AG 2024"]
    assert titles(await harness.listing(person, year=2024)) == ["PV de l'AG 2024"]
    assert titles(await harness.listing(person, category="AG_PV", year=2025)) == ["PV de l'AG 2025"]
    assert titles(await harness.listing(person, q="coupure")) == ["Coupure d'eau 100%_sûr"]
    assert titles(await harness.listing(person, q="100%_")) == ["Coupure d'eau 100%_sûr"]
    assert titles(await harness.listing(person, q="0%x")) == []
    # Empty parameters (a form submitted without filters) mean no filter.
    everything = await harness.listing(person, year="", category="", q="", cursor="", tenant_id="", account_id="")
    assert len(everything["items"]) == 4
    assert titles(await harness.listing(person, tenant_id=uuid.uuid4())) == []
    assert len((await harness.listing(person, tenant_id=tenant))["items"]) == 4
    assert titles(await harness.listing(person, account_id=world["copro"]["account_id"], category="LOT_APPEL")) == [
        "Appel T1"]
    # An account that is not one of the person's own gives nothing, never someone else's documents.
    assert titles(await harness.listing(person, account_id=world["bailleur"]["account_id"])) == []


async def test_bad_query_is_422(harness, world):
    for query, path in [({"category": "NOPE"}, "category"), ({"year": "abc"}, "year"), ({"limit": "0"}, "limit"),
                        ({"limit": "101"}, "limit"), ({"cursor": "!!!"}, "cursor"), ({"tenant_id": "x"}, "tenant_id")]:
        response = await harness.client.get("/v1/documents", params=query, headers=harness.person([world["copro"]]))
        assert response.status == 422, query
        assert path in [e["path"] for e in (await response.json())["errors"]]


async def test_person_endpoints_need_a_person(harness, world):
    response = await harness.client.get("/v1/documents", headers=harness.agency(world["tenant"]))
    assert response.status == 401
    assert (await response.json())["error"] == "person_required"
    assert (await harness.client.get("/v1/documents")).status == 401


async def test_projection_changes_access_at_once(harness, world):
    tenant, residence = world["tenant"], world["residence"]
    council_doc = await harness.publish(tenant, meta("CS_BANQUE", "Relevé", "2025-05-01",
                                                     {"residence_ref": "R1", "council_only": True}))
    all_doc = await harness.publish(tenant, meta("AG_PV", "PV", "2025-06-01", {"residence_ref": "R1"}))
    person = [world["copro"]]
    assert [d["id"] for d in (await harness.listing(person))["items"]] == [all_doc["id"]]
    # Elected to the council: the council document appears.
    await harness.account(tenant_id=tenant, account_id=world["copro"]["account_id"], ref="C1",
                          residences=[(residence, "R1")], council=True)
    assert {d["id"] for d in (await harness.listing(person))["items"]} == {all_doc["id"], council_doc["id"]}
    # A late, older event changes nothing.
    await harness.account(tenant_id=tenant, account_id=world["copro"]["account_id"], ref="C1",
                          residences=[(residence, "R1")], council=False,
                          occurred_at=harness.events_at - timedelta(hours=1))
    assert len((await harness.listing(person))["items"]) == 2
    # Moved out of the residence: nothing of it any more.
    await harness.account(tenant_id=tenant, account_id=world["copro"]["account_id"], ref="C1", residences=[],
                          council=True)
    assert (await harness.listing(person))["items"] == []
    # Back, then closed: a closed account sees nothing.
    await harness.account(tenant_id=tenant, account_id=world["copro"]["account_id"], ref="C1",
                          residences=[(residence, "R1")])
    url = await harness.link(person, all_doc["id"])
    assert url is not None
    await harness.close(world["copro"])
    assert (await harness.listing(person))["items"] == []
    assert await harness.link(person, all_doc["id"]) is None
    assert (await harness.client.get(url)).status == 404
    # The same close event delivered again is harmless; an older upsert does not reopen it.
    await harness.close(world["copro"], occurred_at=harness.events_at)
    await harness.account(tenant_id=tenant, account_id=world["copro"]["account_id"], ref="C1",
                          residences=[(residence, "R1")], occurred_at=harness.events_at - timedelta(seconds=1))
    assert (await harness.listing(person))["items"] == []


async def test_claims_decide_who_the_person_is(harness, world):
    tenant = world["tenant"]
    document = await harness.publish(tenant, meta("LOT_APPEL", "Appel", "2025-01-01", {"account_ref": "C1"}))
    # Claiming the account under another tenant gives nothing.
    forged = [{**world["copro"], "tenant_id": uuid.uuid4()}]
    assert (await harness.listing(forged))["items"] == []
    assert await harness.link(forged, document["id"]) is None
    # An unknown account gives nothing either.
    assert (await harness.listing([{"tenant_id": tenant, "account_id": uuid.uuid4()}]))["items"] == []
    assert [d["id"] for d in (await harness.listing([world["copro"]]))["items"]] == [document["id"]]
