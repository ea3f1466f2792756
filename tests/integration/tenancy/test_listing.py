"""GET /api/v1/directory/accounts: the console's directory, with identity's access states (real identity)."""

from __future__ import annotations

import pytest

from tests.integration.tenancy.conftest import Identity, Tenancy, make_tenancy, sample_directory

PATH = "/api/v1/directory/accounts"


@pytest.fixture
async def tenancy(fresh_database, exchange_name, aiohttp_client, identity: Identity) -> Tenancy:
    return await make_tenancy(fresh_database, exchange_name, aiohttp_client, identity.url)


async def _list(tenancy: Tenancy, tenant: dict, **query) -> dict:
    response = await tenancy.client.get(PATH, params=query, headers=tenancy.agency(tenant["id"]))
    assert response.status == 200, await response.text()
    return await response.json()


async def test_accounts_with_lots_and_access_states_filtered_and_paged(tenancy: Tenancy, identity: Identity):
    tenant = await tenancy.onboard()
    await tenancy.put_directory(tenant["id"], sample_directory())
    issued = await tenancy.client.post("/api/v1/provisional-credentials", json={"account_refs": ["C1", "C2"]},
                                       headers=tenancy.agency(tenant["id"]))
    c1, c2 = (await issued.json())["credentials"]
    await identity.activate(tenant, c1, "jean.dupont@example.org")
    await identity.activate(tenant, c2, "claire.martin@example.org", verify=False)

    page = await _list(tenancy, tenant)
    assert [(a["ref"], a["access"]) for a in page["accounts"]] == [
        ("C1", "activated"), ("C2", "pending_verification"), ("C3", "none")]
    first = page["accounts"][0]
    assert (first["display_name"], first["council"], first["status"]) == ("M. Jean Dupont", True, "active")
    assert [(lot["number"], lot["residence_name"]) for lot in first["lots"]] == [
        ("12", "Résidence Les Tilleuls"), ("13", "Résidence Les Tilleuls")]
    assert page["residences"] == [{"ref": "R2", "name": "Le Clos"}, {"ref": "R1", "name": "Résidence Les Tilleuls"}]
    assert page["next_cursor"] is None

    def refs(answer):
        return [a["ref"] for a in answer["accounts"]]

    assert refs(await _list(tenancy, tenant, access="none")) == ["C3"]
    assert refs(await _list(tenancy, tenant, access="activated")) == ["C1"]
    assert refs(await _list(tenancy, tenant, access="merged")) == []
    assert refs(await _list(tenancy, tenant, q="MARTIN")) == ["C2"]
    assert refs(await _list(tenancy, tenant, q="100%_")) == []  # LIKE metacharacters are plain text
    assert refs(await _list(tenancy, tenant, residence_ref="R2")) == ["C3"]
    assert refs(await _list(tenancy, tenant, ref="C2")) == ["C2"] and refs(await _list(tenancy, tenant, ref="C")) == []
    assert refs(await _list(tenancy, tenant, role="coproprietaire", residence_ref="R1")) == ["C1"]
    half = await _list(tenancy, tenant, limit="2")
    assert refs(half) == ["C1", "C2"] and half["next_cursor"] == "C2"
    assert refs(await _list(tenancy, tenant, limit="2", cursor="C2")) == ["C3"]


async def test_bad_filters_are_all_listed_and_another_tenant_sees_nothing(tenancy: Tenancy, identity: Identity):
    tenant, other = await tenancy.onboard(), await tenancy.onboard()
    await tenancy.put_directory(tenant["id"], sample_directory())
    response = await tenancy.client.get(PATH, params={"limit": "0", "role": "syndic", "access": "x", "q": "y" * 101},
                                        headers=tenancy.agency(tenant["id"]))
    assert response.status == 422
    assert [e["path"] for e in (await response.json())["errors"]] == ["limit", "role", "access", "q"]
    assert (await _list(tenancy, other)) == {"accounts": [], "next_cursor": None, "residences": []}
    assert (await tenancy.client.get(PATH, headers=tenancy.operator())).status == 403
