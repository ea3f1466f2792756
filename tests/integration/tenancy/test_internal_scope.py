"""Tenancy's internal routes check whose data they answer with (issue 18).

A person's page reads only the accounts linked to the person; a service acting for a tenant reads
only that tenant's; a call forwarded from the public API never reaches an internal route.
"""

from __future__ import annotations

import asyncpg

from common.internal_auth import PUBLIC_API
from tests.integration.tenancy.conftest import Tenancy, sample_directory


async def _account_ids(tenancy: Tenancy, tenant_id: str) -> dict[str, str]:
    conn = await asyncpg.connect(tenancy.dsn)
    try:
        rows = await conn.fetch("SELECT ref, id::text FROM accounts WHERE tenant_id = $1", tenant_id)
    finally:
        await conn.close()
    return {r["ref"]: r["id"] for r in rows}


async def _lookup(tenancy: Tenancy, ids: list[str], **claims):
    return await tenancy.client.post("/internal/accounts/lookup", json={"account_ids": ids},
                                     headers=tenancy.internal(**claims))


async def _two_tenants(tenancy: Tenancy) -> tuple[dict, dict, dict, dict]:
    a, b = await tenancy.onboard(), await tenancy.onboard()
    await tenancy.put_directory(a["id"], sample_directory())
    await tenancy.put_directory(b["id"], sample_directory())
    return a, b, await _account_ids(tenancy, a["id"]), await _account_ids(tenancy, b["id"])


async def test_a_service_acting_for_a_tenant_reads_only_that_tenants_accounts(tenancy: Tenancy):
    a, _b, ids_a, ids_b = await _two_tenants(tenancy)
    response = await _lookup(tenancy, [ids_a["C1"], ids_b["C1"], ids_b["C2"]], tid=a["id"])
    assert response.status == 200
    assert [acc["id"] for acc in (await response.json())["accounts"]] == [ids_a["C1"]]


async def test_a_persons_page_reads_only_the_accounts_linked_to_the_person(tenancy: Tenancy):
    a, _b, ids_a, ids_b = await _two_tenants(tenancy)
    linked = [{"tenant_id": a["id"], "account_id": ids_a["C2"], "role": "locataire"}]
    response = await _lookup(tenancy, [ids_a["C1"], ids_a["C2"], ids_b["C1"]], tid=a["id"], pid="p-1", acc=linked)
    assert response.status == 200
    assert [acc["id"] for acc in (await response.json())["accounts"]] == [ids_a["C2"]]


async def test_a_lookup_for_nobody_is_refused(tenancy: Tenancy):
    _a, _b, ids_a, _ids_b = await _two_tenants(tenancy)
    response = await _lookup(tenancy, [ids_a["C1"]])
    assert response.status == 403 and (await response.json())["error"] == "forbidden"


async def test_a_public_api_call_never_reaches_an_internal_route(tenancy: Tenancy):
    a, _b, ids_a, _ids_b = await _two_tenants(tenancy)
    agency = {"act": "agency", "tid": a["id"], "via": PUBLIC_API}
    response = await _lookup(tenancy, [ids_a["C1"]], **agency)
    assert response.status == 403 and (await response.json())["error"] == "forbidden"
    for path in (f"/internal/tenants/{a['id']}", "/internal/openapi.json",
                 f"/internal/tenants/resolve?client={a['client_code']}&societe={a['societe_code']}"):
        response = await tenancy.client.get(path, headers=tenancy.internal(**agency))
        assert response.status == 403, path
    # The same caller on a route of the public contract is served (the handler answers: no such account).
    response = await tenancy.client.delete("/api/v1/directory/accounts/NOPE", headers=tenancy.internal(**agency))
    assert response.status == 404
