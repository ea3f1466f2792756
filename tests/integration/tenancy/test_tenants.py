"""Tenants through the API as the gateway forwards it: onboarding, reading, resolution, keys, suspension."""

from __future__ import annotations

import uuid

from tests.integration.tenancy.conftest import Tenancy


async def test_onboarding_returns_the_tenant_its_login_url_and_a_key_shown_once(tenancy: Tenancy):
    body = {"client_code": "ADB01", "societe_code": "01", "name": "Syndic du Parc", "kind": "syndic",
            "support": {"email": "extranet@syndic-du-parc.fr", "phone": "01 23 45 67 89", "hours": "9h-12h"},
            "branding": {"primary_color": "#1d4ed8"}}
    response = await tenancy.client.post("/api/v1/tenants", json=body, headers=tenancy.operator())
    assert response.status == 201
    created = await response.json()
    assert created["status"] == "active"
    assert created["login_url"] == "https://extranet.example.fr/login?client=ADB01&societe=01"
    assert created["api_key"].startswith("mck_")
    assert created["settings"] == {"password_min_length": None, "credential_ttl_days": 60, "mfa_requirement": "none"}

    read = await (await tenancy.client.get(f"/api/v1/tenants/{created['id']}", headers=tenancy.operator())).json()
    assert "api_key" not in read
    assert read["support"] == body["support"] and read["branding"] == body["branding"]

    events = await tenancy.outbox("tenancy.tenant_onboarded")
    assert [e["payload"] for e in events] == [{"tenant_id": created["id"], "client_code": "ADB01",
                                               "societe_code": "01", "name": "Syndic du Parc", "kind": "syndic"}]
    assert events[0]["tenant_id"] == created["id"]


async def test_duplicate_codes_are_refused_with_409_and_nothing_created(tenancy: Tenancy):
    first = await tenancy.onboard(client_code="DUP", societe_code="01")
    response = await tenancy.client.post("/api/v1/tenants", headers=tenancy.operator(), json={
        "client_code": "DUP", "societe_code": "01", "name": "Autre", "kind": "gerance"})
    assert response.status == 409
    refusal = await response.json()
    assert refusal["error"] == "tenant_codes_taken"
    assert refusal["id"] == first["id"]  # the operator learns which tenant holds the codes
    assert len(await tenancy.outbox("tenancy.tenant_onboarded")) == 1
    # Same client code, other société: a different tenant.
    other = await tenancy.onboard(client_code="DUP", societe_code="02")
    assert other["id"] != first["id"]


async def test_invalid_onboarding_lists_every_field_error(tenancy: Tenancy):
    response = await tenancy.client.post("/api/v1/tenants", headers=tenancy.operator(), json={
        "client_code": "bad code!", "societe_code": "", "name": "", "kind": "banque",
        "branding": {"primary_color": "blue"}})
    assert response.status == 422
    paths = {e["path"] for e in (await response.json())["errors"]}
    assert {"client_code", "societe_code", "name", "kind", "branding.primary_color"} <= paths


async def test_resolution_by_codes_and_by_id_for_the_gateway_and_notifier(tenancy: Tenancy):
    created = await tenancy.onboard(client_code="RES1", societe_code="07", name="Gérance Sud", kind="gerance")
    response = await tenancy.client.get("/internal/tenants/resolve", params={"client": "RES1", "societe": "07"},
                                        headers=tenancy.internal())
    assert response.status == 200
    tenant = await response.json()
    assert tenant["id"] == created["id"] and tenant["name"] == "Gérance Sud" and tenant["status"] == "active"
    assert set(tenant) >= {"id", "client_code", "societe_code", "name", "kind", "status", "support", "branding",
                           "settings"}
    by_id = await tenancy.client.get(f"/internal/tenants/{created['id']}", headers=tenancy.internal("notifier"))
    assert (await by_id.json())["branding"] == {"primary_color": None}

    for params in ({"client": "RES1", "societe": "08"}, {"client": "res1", "societe": "07"}, {}):
        response = await tenancy.client.get("/internal/tenants/resolve", params=params, headers=tenancy.internal())
        assert response.status == 404
    for tenant_id in (str(uuid.uuid4()), "not-a-uuid"):
        response = await tenancy.client.get(f"/internal/tenants/{tenant_id}", headers=tenancy.internal())
        assert response.status == 404


async def test_every_endpoint_refuses_a_call_without_a_valid_internal_token(tenancy: Tenancy):
    for method, path in (("GET", "/internal/tenants/resolve?client=A&societe=B"), ("POST", "/api/v1/tenants"),
                         ("PUT", "/api/v1/directory"), ("GET", "/api/v1/activation-stats")):
        response = await tenancy.client.request(method, path, headers={"Authorization": "Bearer mck_x"})
        assert response.status == 401


async def test_api_key_verification_and_rotation_stop_the_old_key_at_once(tenancy: Tenancy):
    created = await tenancy.onboard()
    old_key = created["api_key"]
    verify = await tenancy.client.post("/internal/api-keys/verify", json={"api_key": old_key},
                                       headers=tenancy.internal())
    assert await verify.json() == {"tenant_id": created["id"], "status": "active"}

    rotated = await tenancy.client.post(f"/api/v1/tenants/{created['id']}/api-keys", headers=tenancy.operator())
    assert rotated.status == 201
    new_key = (await rotated.json())["api_key"]
    assert new_key != old_key

    for key, status in ((old_key, 401), (new_key, 200), (new_key[:-1] + "x", 401), ("garbage", 401), ("", 401)):
        response = await tenancy.client.post("/internal/api-keys/verify", json={"api_key": key},
                                             headers=tenancy.internal())
        assert response.status == status, key


async def test_patch_changes_only_the_given_fields_including_settings(tenancy: Tenancy):
    created = await tenancy.onboard(support={"email": "aide@agence.fr"})
    path = f"/api/v1/tenants/{created['id']}"
    response = await tenancy.client.patch(path, headers=tenancy.operator(), json={
        "name": "Nouveau nom", "settings": {"password_min_length": 12}})
    assert response.status == 200
    tenant = await response.json()
    assert tenant["name"] == "Nouveau nom"
    assert tenant["support"]["email"] == "aide@agence.fr"
    assert tenant["settings"] == {"password_min_length": 12, "credential_ttl_days": 60, "mfa_requirement": "none"}

    tenant = await (await tenancy.client.patch(path, headers=tenancy.operator(), json={
        "settings": {"credential_ttl_days": 30, "password_min_length": None}})).json()
    assert tenant["settings"] == {"password_min_length": None, "credential_ttl_days": 30, "mfa_requirement": "none"}

    for bad in ({"status": "closed"}, {"name": None}, {"settings": {"credential_ttl_days": 0}},
                {"settings": {"password_min_length": 3}}, {"unknown": 1}):
        response = await tenancy.client.patch(path, headers=tenancy.operator(), json=bad)
        assert response.status == 422, bad
    response = await tenancy.client.patch(f"/api/v1/tenants/{uuid.uuid4()}", headers=tenancy.operator(),
                                          json={"name": "x"})
    assert response.status == 404


async def test_suspension_is_visible_to_the_gateway_and_stops_agency_routes(tenancy: Tenancy):
    created = await tenancy.onboard()
    response = await tenancy.client.patch(f"/api/v1/tenants/{created['id']}", headers=tenancy.operator(),
                                          json={"status": "suspended"})
    assert (await response.json())["status"] == "suspended"
    verify = await tenancy.client.post("/internal/api-keys/verify", json={"api_key": created["api_key"]},
                                       headers=tenancy.internal())
    assert await verify.json() == {"tenant_id": created["id"], "status": "suspended"}
    resolve = await tenancy.client.get("/internal/tenants/resolve", headers=tenancy.internal(), params={
        "client": created["client_code"], "societe": created["societe_code"]})
    assert (await resolve.json())["status"] == "suspended"

    agency = tenancy.agency(created["id"])
    calls = [("PUT", "/api/v1/directory", {"json": {"accounts": []}}),
             ("PUT", "/api/v1/directory/accounts", {"data": b"ref;role;display_name;lot_refs\n",
                                                    "headers": {**agency, "Content-Type": "text/csv"}}),
             ("DELETE", "/api/v1/directory/accounts/C1", {}),
             ("POST", "/api/v1/provisional-credentials", {"json": {"all_without_access": True}}),
             ("GET", "/api/v1/activation-stats", {})]
    for method, path, kwargs in calls:
        kwargs.setdefault("headers", agency)
        response = await tenancy.client.request(method, path, **kwargs)
        assert response.status == 403, path
        assert (await response.json())["error"] == "tenant_suspended"

    await tenancy.client.patch(f"/api/v1/tenants/{created['id']}", headers=tenancy.operator(),
                               json={"status": "active"})
    response = await tenancy.client.put("/api/v1/directory", headers=agency, json={"accounts": []})
    assert response.status == 200


async def test_operator_routes_refuse_agencies_and_agency_routes_refuse_operators(tenancy: Tenancy):
    created = await tenancy.onboard()
    agency = tenancy.agency(created["id"])
    for method, path in (("POST", "/api/v1/tenants"), ("GET", f"/api/v1/tenants/{created['id']}"),
                         ("PATCH", f"/api/v1/tenants/{created['id']}"),
                         ("POST", f"/api/v1/tenants/{created['id']}/api-keys")):
        response = await tenancy.client.request(method, path, headers=agency, json={"name": "x"})
        assert response.status == 403, path
    response = await tenancy.client.put("/api/v1/directory", headers=tenancy.operator(), json={})
    assert response.status == 403
    response = await tenancy.client.get("/api/v1/activation-stats", headers=tenancy.internal())
    assert response.status == 403


async def test_openapi_part_is_served_to_the_gateway(tenancy: Tenancy):
    response = await tenancy.client.get("/internal/openapi.json", headers=tenancy.internal())
    assert response.status == 200
    document = await response.json()
    assert document["openapi"] == "3.1.0" and "/api/v1/directory" in document["paths"]
