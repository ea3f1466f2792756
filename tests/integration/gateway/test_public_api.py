"""The public API: who may call, which tenant the call is for, what crosses the gateway."""

from __future__ import annotations

import json

import aiohttp

from tests.integration.gateway import standins
from tests.integration.gateway.conftest import OPERATOR_TOKEN, calls


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


async def test_no_or_malformed_token_is_401_and_reaches_no_service(system):
    for headers in ({}, {"Authorization": "Basic abc"}, {"Authorization": "Bearer "},
                    {"Authorization": "Internal forged"}):
        response = await system.client.get("/api/v1/activation-stats", headers=headers)
        assert response.status == 401
        body = await response.json()
        assert body["error"] == "unauthorized"
    assert calls(system.tenancy, "/api/") == [] and calls(system.tenancy, "/internal/api-keys") == []


async def test_unknown_key_is_401(system):
    response = await system.client.get("/api/v1/activation-stats", headers=bearer("key_unknown"))
    assert response.status == 401
    assert calls(system.tenancy, "/api/") == []


async def test_operator_token_reaches_tenancy_as_operator_with_body_and_status(system):
    payload = {"client_code": "NEW01", "societe_code": "01", "name": "Syndic Neuf", "kind": "syndic"}
    response = await system.client.post("/api/v1/tenants", data=json.dumps(payload),
                                        headers={**bearer(OPERATOR_TOKEN), "Content-Type": "application/json",
                                                 "Accept": "application/json", "X-Forwarded-For": "6.6.6.6",
                                                 "Cookie": "a=b", "X-Tenant-Id": "forged"})
    assert response.status == 201
    body = await response.json()
    assert body["service"] == "tenancy" and body["claims"]["act"] == "operator" and "tid" not in body["claims"]
    assert body["body_size"] == len(json.dumps(payload))
    assert body["content_type"] == "application/json" and body["accept"] == "application/json"
    assert body["forwarded"] == {"X-Request-ID": response.headers["X-Request-ID"]}  # nothing else crossed
    assert body["claims"]["iss"] == "gateway" and body["claims"]["ip"] == "127.0.0.1"


async def test_a_get_crosses_on_the_kept_connections_with_the_same_guarantees(system):
    """GETs go over gateway.passthrough, not aiohttp's client: what crosses and what comes back is the same."""
    for round_ in range(3):  # the second and third on a kept connection
        response = await system.client.get(f"/api/v1/tenants/{system.tenant['id']}?round={round_}",
                                           headers={**bearer(OPERATOR_TOKEN), "Accept": "application/json",
                                                    "X-Forwarded-For": "6.6.6.6", "Cookie": "a=b",
                                                    "X-Tenant-Id": "forged", "X-Request-ID": f"api-get-{round_}-rid"})
        assert response.status == 200
        body = await response.json()
        assert body["path"] == f"/api/v1/tenants/{system.tenant['id']}" and body["query"] == {"round": str(round_)}
        assert body["claims"]["act"] == "operator" and body["claims"]["via"] == "public-api"
        assert body["claims"]["rid"] == f"api-get-{round_}-rid" and body["claims"]["ip"] == "127.0.0.1"
        assert body["accept"] == "application/json" and body["body_size"] == 0
        assert body["forwarded"] == {"X-Request-ID": f"api-get-{round_}-rid"}  # nothing else crossed
        assert response.headers["X-Request-ID"] == f"api-get-{round_}-rid"
        assert response.headers["Cache-Control"] == "no-store"
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.headers["Content-Type"].startswith("application/json")


async def test_a_get_with_a_body_forwards_neither_the_body_nor_its_length(system):
    """Otherwise the service would read the next request on the kept connection as this GET's body."""
    for _ in range(3):
        response = await system.client.get("/api/v1/activation-stats", data=b"hello",
                                           headers={**bearer(OPERATOR_TOKEN), "Content-Type": "text/plain"})
        assert response.status == 200
        body = await response.json()
        assert body["body_size"] == 0 and body["path"] == "/api/v1/activation-stats"
    for _ in range(2):  # HEAD, on aiohttp's client
        response = await system.client.head("/api/v1/activation-stats", data=b"hello",
                                            headers={**bearer(OPERATOR_TOKEN), "Content-Type": "text/plain"},
                                            timeout=aiohttp.ClientTimeout(total=5))
        assert response.status == 200


async def test_agency_key_carries_its_own_tenant_only(system):
    other = standins.add_tenant(system.tenancy, client="OTHERAPI", societe="01", name="Autre agence")
    key_a = standins.add_api_key(system.tenancy, system.tenant)
    standins.add_api_key(system.tenancy, other)
    response = await system.client.get(f"/api/v1/activation-stats?tenant_id={other['id']}",
                                       headers={**bearer(key_a), "X-Tenant-Id": other["id"]})
    assert response.status == 200
    body = await response.json()
    assert body["claims"]["act"] == "agency" and body["claims"]["tid"] == system.tenant["id"]
    assert body["query"] == {"tenant_id": other["id"]}  # forwarded as is: tenancy scopes by the claim


async def test_suspended_agency_is_403(system):
    suspended = standins.add_tenant(system.tenancy, client="SUSPAPI", societe="01", name="Suspendue",
                                    status="suspended")
    key = standins.add_api_key(system.tenancy, suspended)
    response = await system.client.get("/api/v1/activation-stats", headers=bearer(key))
    assert response.status == 403 and (await response.json())["error"] == "tenant_suspended"
    assert calls(system.tenancy, "/api/") == []


async def test_document_upload_is_streamed_to_documents(system):
    key = standins.add_api_key(system.tenancy, system.tenant)
    form = aiohttp.FormData()
    form.add_field("metadata", json.dumps({"category": "AG_PV", "title": "PV", "date": "2026-06-12",
                                           "audience": {"residence_ref": "R1"}}), content_type="application/json")
    form.add_field("file", b"%PDF-1.4 " + b"x" * 300_000, filename="pv.pdf", content_type="application/pdf")
    response = await system.client.post("/api/v1/documents", data=form, headers=bearer(key))
    assert response.status == 201
    body = await response.json()
    assert body["service"] == "documents" and body["claims"]["tid"] == system.tenant["id"]
    assert body["content_type"].startswith("multipart/form-data; boundary=")
    assert body["body_size"] > 300_000


async def test_oversize_body_is_413(standin_servers, aiohttp_client):
    from gateway.app import create_app
    from tests.integration.gateway.conftest import gateway_settings

    apps, servers = standin_servers
    urls = {name: str(server.make_url("")).rstrip("/") for name, server in servers.items()}
    client = await aiohttp_client(create_app(gateway_settings(urls, max_api_body_bytes=1000)))
    response = await client.post("/api/v1/documents", data=b"x" * 2000, headers=bearer(OPERATOR_TOKEN))
    assert response.status == 413
    assert calls(apps["documents"], "/api/") == []  # refused on its Content-Length, before any byte is sent

    async def chunked():
        for _ in range(10):
            yield b"y" * 500

    response = await client.post("/api/v1/documents", data=chunked(), headers=bearer(OPERATOR_TOKEN))
    assert response.status == 413


async def test_unknown_api_path_is_404(system):
    response = await system.client.get("/api/v1/secrets", headers=bearer(OPERATOR_TOKEN))
    assert response.status == 404 and (await response.json())["error"] == "not_found"


async def test_openapi_merges_the_services_public_parts_and_is_cached(system):
    for _ in range(2):
        response = await system.client.get("/api/v1/openapi.json")
        assert response.status == 200
        doc = await response.json()
    assert set(doc["paths"]) == {"/api/v1/tenants", "/api/v1/documents", "/api/v1/staff"}  # not identity's /v1/login
    assert {"Tenant", "Document", "StaffMember"} <= set(doc["components"]["schemas"])
    assert doc["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
    assert len(calls(system.tenancy, "/internal/openapi.json")) == 1
    assert len(calls(system.documents, "/internal/openapi.json")) == 1
    assert len(calls(system.identity, "/internal/openapi.json")) == 1


async def test_an_agency_key_is_verified_by_tenancy_once_then_kept_a_few_seconds(system):
    key = standins.add_api_key(system.tenancy, system.tenant)
    for _ in range(3):
        response = await system.client.get("/api/v1/activation-stats", headers=bearer(key))
        assert response.status == 200
        assert (await response.json())["claims"]["tid"] == system.tenant["id"]
    assert len(calls(system.tenancy, "/internal/api-keys/verify")) == 1
    assert len(calls(system.tenancy, "/api/v1/activation-stats")) == 3
    near_miss = key[:-1] + ("1" if key.endswith("0") else "0")
    response = await system.client.get("/api/v1/activation-stats", headers=bearer(near_miss))
    assert response.status == 401  # a near miss is not the kept key: tenancy is asked, and refuses
    assert len(calls(system.tenancy, "/internal/api-keys/verify")) == 2


async def test_with_no_cache_every_agency_request_asks_tenancy(standin_servers, aiohttp_client):
    from gateway.app import create_app
    from tests.integration.gateway.conftest import gateway_settings

    apps, servers = standin_servers
    tenant = standins.add_tenant(apps["tenancy"], client="NOCACHE", societe="01", name="Sans cache")
    key = standins.add_api_key(apps["tenancy"], tenant)
    urls = {name: str(server.make_url("")).rstrip("/") for name, server in servers.items()}
    client = await aiohttp_client(create_app(gateway_settings(urls, api_key_cache_seconds=0)))
    for _ in range(3):
        assert (await client.get("/api/v1/activation-stats", headers=bearer(key))).status == 200
    assert len(calls(apps["tenancy"], "/internal/api-keys/verify")) == 3


async def test_a_rotation_forwarded_by_the_gateway_stops_the_old_key_at_once(system):
    old = standins.add_api_key(system.tenancy, system.tenant)
    assert (await system.client.get("/api/v1/activation-stats", headers=bearer(old))).status == 200
    rotated = await system.client.post("/api/v1/agency/api-keys", headers=bearer(old))
    assert rotated.status == 201
    new = (await rotated.json())["api_key"]
    response = await system.client.get("/api/v1/activation-stats", headers=bearer(old))
    assert response.status == 401 and (await response.json())["error"] == "unauthorized"
    assert (await system.client.get("/api/v1/activation-stats", headers=bearer(new))).status == 200

    # The operator's rotation of the same tenant's key, likewise.
    rotated = await system.client.post(f"/api/v1/tenants/{system.tenant['id']}/api-keys",
                                       headers=bearer(OPERATOR_TOKEN))
    assert rotated.status == 201
    assert (await system.client.get("/api/v1/activation-stats", headers=bearer(new))).status == 401


async def test_a_suspension_forwarded_by_the_gateway_refuses_the_agency_at_once(system):
    key = standins.add_api_key(system.tenancy, system.tenant)
    assert (await system.client.get("/api/v1/activation-stats", headers=bearer(key))).status == 200
    patched = await system.client.patch(f"/api/v1/tenants/{system.tenant['id']}", json={"status": "suspended"},
                                         headers=bearer(OPERATOR_TOKEN))
    assert patched.status == 200
    response = await system.client.get("/api/v1/activation-stats", headers=bearer(key))
    assert response.status == 403 and (await response.json())["error"] == "tenant_suspended"
    assert len(calls(system.tenancy, "/api/v1/activation-stats")) == 1  # the refused read never reached tenancy
