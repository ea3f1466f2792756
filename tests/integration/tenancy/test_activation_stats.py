"""GET /api/v1/activation-stats with ``by=residence`` and ``series``: the extension of AGENCY-API.md
the console's statistics page reads (real identity: its states and activation times)."""

from __future__ import annotations

import pytest

from tests.integration.tenancy.conftest import Identity, Tenancy, make_tenancy, sample_directory

PATH = "/api/v1/activation-stats"
COUNTS = ("accounts", "without_credentials", "credentials_issued", "pending_verification", "activated", "expired")


@pytest.fixture
async def tenancy(fresh_database, exchange_name, aiohttp_client, identity: Identity) -> Tenancy:
    # One clock for both services: "the last twelve months" is the same period for each.
    return await make_tenancy(fresh_database, exchange_name, aiohttp_client, identity.url, clock=identity.clock)


async def _stats(tenancy: Tenancy, tenant: dict, **query) -> dict:
    response = await tenancy.client.get(PATH, params=query, headers=tenancy.agency(tenant["id"]))
    assert response.status == 200, await response.text()
    return await response.json()


async def _issue(tenancy: Tenancy, tenant: dict, *refs: str) -> dict[str, dict]:
    response = await tenancy.client.post("/api/v1/provisional-credentials", json={"account_refs": list(refs)},
                                         headers=tenancy.agency(tenant["id"]))
    assert response.status == 201, await response.text()
    return {c["account_ref"]: c for c in (await response.json())["credentials"]}


async def test_the_counts_alone_are_unchanged_and_an_empty_tenant_has_zeros(tenancy: Tenancy):
    tenant = await tenancy.onboard()
    assert await _stats(tenancy, tenant) == dict.fromkeys(COUNTS, 0)
    both = await _stats(tenancy, tenant, by="residence", series="month")
    assert {k: both[k] for k in COUNTS} == dict.fromkeys(COUNTS, 0)
    assert both["residences"] == []
    assert both["series"]["period"] == "month" and len(both["series"]["points"]) == 12
    assert {p["cumulative_share"] for p in both["series"]["points"]} == {0.0}


async def test_per_residence_and_over_time(tenancy: Tenancy, identity: Identity):
    tenant = await tenancy.onboard()
    directory = sample_directory()
    # C4 has lots in both residences: it counts in each.
    directory["lots"].append({"ref": "L4", "residence_ref": "R2", "number": "2", "kind": "appartement"})
    directory["lots"].append({"ref": "L5", "residence_ref": "R1", "number": "14", "kind": "parking"})
    directory["accounts"].append({"ref": "C4", "role": "coproprietaire", "display_name": "Mme Deux Résidences",
                                  "lot_refs": ["L4", "L5"]})
    directory["accounts"].append({"ref": "C5", "role": "locataire", "display_name": "Parti", "lot_refs": ["L3"]})
    await tenancy.put_directory(tenant["id"], directory)
    issued = await _issue(tenancy, tenant, "C1", "C2", "C4", "C5")
    first_month = identity.clock.now().date().replace(day=1).isoformat()
    await identity.activate(tenant, issued["C1"], "c1.stats@example.org")
    await identity.activate(tenant, issued["C5"], "c5.stats@example.org")
    identity.clock.advance(days=40)
    await identity.activate(tenant, issued["C4"], "c4.stats@example.org")
    await identity.activate(tenant, issued["C2"], "c2.stats@example.org", verify=False)
    response = await tenancy.client.delete("/api/v1/directory/accounts/C5", headers=tenancy.agency(tenant["id"]))
    assert response.status == 204  # closed: counted nowhere, neither in a residence nor in the series

    stats = await _stats(tenancy, tenant, by="residence", series="month")
    assert {k: stats[k] for k in COUNTS} == {"accounts": 4, "without_credentials": 1, "credentials_issued": 0,
                                             "pending_verification": 1, "activated": 2, "expired": 0}
    assert [(r["ref"], r["name"], r["accounts"], r["activated"], r["pending_verification"], r["without_credentials"])
            for r in stats["residences"]] == [
        ("R2", "Le Clos", 2, 1, 0, 1),                   # C3 (nothing), C4 (activated)
        ("R1", "Résidence Les Tilleuls", 3, 2, 1, 0)]    # C1, C4 (activated), C2 (pending)
    points = stats["series"]["points"]
    assert len(points) == 12 and points[-1]["start"] == identity.clock.now().date().replace(day=1).isoformat()
    by_start = {p["start"]: p for p in points}
    assert by_start[first_month]["activated"] == 1  # C1; C5 was activated too but is closed now
    assert points[-1]["activated"] == 1 and points[-1]["cumulative"] == 2  # C4
    assert points[-1]["cumulative_share"] == 0.5
    assert stats["series"]["activated_before"] == 0

    weekly = await _stats(tenancy, tenant, series="week")
    assert "residences" not in weekly and len(weekly["series"]["points"]) == 52
    assert sum(p["activated"] for p in weekly["series"]["points"]) == 2


async def test_bad_parameters_are_all_listed_and_another_tenant_sees_nothing(tenancy: Tenancy):
    tenant, other = await tenancy.onboard(), await tenancy.onboard()
    await tenancy.put_directory(tenant["id"], sample_directory())
    response = await tenancy.client.get(PATH, params={"by": "lot", "series": "year"},
                                        headers=tenancy.agency(tenant["id"]))
    assert response.status == 422
    assert [e["path"] for e in (await response.json())["errors"]] == ["by", "series"]
    assert (await _stats(tenancy, other, by="residence"))["residences"] == []
