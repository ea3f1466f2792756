"""Tenant cache expiry (injected clock) and the OpenAPI merge."""

from __future__ import annotations

from gateway.api import merge_openapi
from gateway.tenants import TenantResolver
from gateway.upstream import Reply


class RecordingTenancy:
    """Answers resolve calls from a dict and counts them (the cache logic is what is tested)."""

    def __init__(self, tenants: dict) -> None:
        self.tenants = tenants
        self.calls = 0

    async def call(self, method, path, *, claims, request_id=None, params=None, **kwargs):
        self.calls += 1
        tenant = self.tenants.get((params["client"], params["societe"]))
        return Reply(200, tenant) if tenant else Reply(404, {"error": "tenant_not_found"})


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_known_and_unknown_codes_expire_after_their_own_ttl():
    tenancy = RecordingTenancy({("A", "01"): {"id": "00000000-0000-0000-0000-000000000001", "status": "active"}})
    clock = Clock()
    resolver = TenantResolver(tenancy, ttl=30, negative_ttl=10, clock=clock)
    assert (await resolver.resolve("A", "01"))["status"] == "active"
    assert await resolver.resolve("B", "01") is None
    await resolver.resolve("A", "01")
    await resolver.resolve("B", "01")
    assert tenancy.calls == 2
    clock.now += 11  # the unknown code is asked again, the known one is still cached
    await resolver.resolve("A", "01")
    await resolver.resolve("B", "01")
    assert tenancy.calls == 3
    clock.now += 20
    await resolver.resolve("A", "01")
    assert tenancy.calls == 4
    # A tenant found by codes is also known by id (names on the dashboard).
    assert (await resolver.by_id("00000000-0000-0000-0000-000000000001"))["status"] == "active"
    assert tenancy.calls == 4


async def test_malformed_codes_and_ids_never_reach_tenancy():
    tenancy = RecordingTenancy({})
    resolver = TenantResolver(tenancy, ttl=30, negative_ttl=10, clock=Clock())
    assert await resolver.resolve("../x", "01") is None
    assert await resolver.resolve("A", None) is None
    assert await resolver.by_id("../../internal") is None
    assert tenancy.calls == 0


def test_openapi_merge_keeps_both_parts():
    tenancy = {"openapi": "3.1.0", "paths": {"/api/v1/tenants": {"post": {"summary": "t"}}},
               "components": {"schemas": {"Error": {"title": "tenancy"}, "Tenant": {}}},
               "tags": [{"name": "tenants"}]}
    documents = {"paths": {"/api/v1/documents": {"post": {"summary": "d"}},
                           "/api/v1/tenants": {"get": {"summary": "other"}, "post": {"summary": "dup"}}},
                 "components": {"schemas": {"Error": {"title": "documents"}, "Document": {}}},
                 "tags": [{"name": "tenants"}, {"name": "documents"}]}
    merged = merge_openapi([tenancy, documents], "https://www.moncompte.immo")
    assert merged["servers"] == [{"url": "https://www.moncompte.immo"}]
    assert set(merged["paths"]) == {"/api/v1/tenants", "/api/v1/documents"}
    assert merged["paths"]["/api/v1/tenants"]["post"]["summary"] == "t"  # the first part wins a clash
    assert merged["paths"]["/api/v1/tenants"]["get"]["summary"] == "other"
    assert merged["components"]["schemas"]["Error"]["title"] == "tenancy"
    assert {"Tenant", "Document"} <= set(merged["components"]["schemas"])
    assert [t["name"] for t in merged["tags"]] == ["tenants", "documents"]
    assert merged["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
