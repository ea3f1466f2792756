"""The agency's own settings (console "Réglages", and its software): help contact, colour, API key, audit."""

from __future__ import annotations

import uuid

from common.internal_auth import issue_token
from tests.integration.tenancy.conftest import SECRET, Tenancy


def _console(tenant: dict, role: str) -> dict[str, str]:
    token = issue_token(SECRET, issuer="gateway", audience="tenancy", act="agency", tid=tenant["id"],
                        sid=str(uuid.uuid4()), srole=role)
    return {"Authorization": f"Internal {token}"}


async def test_an_administrator_changes_the_help_contact_and_colour_audited(tenancy: Tenancy):
    tenant = await tenancy.onboard(support={"email": "old@agence.example.org"})
    admin = _console(tenant, "admin")
    response = await tenancy.client.patch("/api/v1/agency", headers=admin, json={
        "support": {"email": "aide@agence.example.org", "phone": "01 02 03 04 05", "hours": "9h-17h"},
        "branding": {"primary_color": "#0B6E4F"}})
    body = await response.json()
    assert response.status == 200, body
    assert body["support"] == {"email": "aide@agence.example.org", "phone": "01 02 03 04 05", "hours": "9h-17h"}
    assert body["branding"]["primary_color"] == "#0B6E4F"
    read = await (await tenancy.client.get("/api/v1/agency", headers=tenancy.agency(tenant["id"]))).json()
    assert read["support"]["email"] == "aide@agence.example.org" and read["login_url"]
    [entry] = (await (await tenancy.client.get("/api/v1/agency/audit", headers=admin)).json())["items"]
    assert entry["kind"] == "agency_updated" and entry["actor"] == "agency" and entry["staff_id"]
    assert entry["detail"]["changed"]["support"]["before"]["email"] == "old@agence.example.org"


async def test_bad_settings_and_a_gestionnaire_change_nothing(tenancy: Tenancy):
    tenant = await tenancy.onboard(support={"email": "keep@agence.example.org"})
    admin = _console(tenant, "admin")
    for body in ({}, {"support": None}, {"branding": {"primary_color": "red"}}, {"support": {"email": "x"}},
                 {"name": "Another name"}):
        response = await tenancy.client.patch("/api/v1/agency", headers=admin, json=body)
        assert response.status == 422, (body, response.status)
    gestionnaire = _console(tenant, "gestionnaire")
    response = await tenancy.client.patch("/api/v1/agency", headers=gestionnaire,
                                          json={"support": {"email": "new@agence.example.org"}})
    assert response.status == 403
    assert (await tenancy.client.post("/api/v1/agency/api-keys", headers=gestionnaire)).status == 403
    read = await (await tenancy.client.get("/api/v1/agency", headers=gestionnaire)).json()
    assert read["support"]["email"] == "keep@agence.example.org"
    assert (await (await tenancy.client.get("/api/v1/agency/audit", headers=admin)).json())["items"] == []


async def test_the_agency_rotates_its_own_key_and_the_old_one_stops(tenancy: Tenancy):
    tenant = await tenancy.onboard()
    old_key = tenant["api_key"]
    response = await tenancy.client.post("/api/v1/agency/api-keys", headers=_console(tenant, "admin"))
    assert response.status == 201 and response.headers["Cache-Control"] == "no-store"
    new_key = (await response.json())["api_key"]
    internal = tenancy.internal()
    old = await tenancy.client.post("/internal/api-keys/verify", json={"api_key": old_key}, headers=internal)
    new = await tenancy.client.post("/internal/api-keys/verify", json={"api_key": new_key}, headers=internal)
    assert old.status == 401 and new.status == 200
    [entry] = (await (await tenancy.client.get("/api/v1/agency/audit",
                                               headers=tenancy.agency(tenant["id"]))).json())["items"]
    assert entry["kind"] == "api_key_rotated" and new_key not in str(entry)


async def test_an_administrator_requires_a_second_factor_audited(tenancy: Tenancy):
    tenant = await tenancy.onboard()
    assert tenant["settings"]["mfa_requirement"] == "none"
    admin = _console(tenant, "admin")
    for value in ("council", "all", "none", "council"):
        response = await tenancy.client.patch("/api/v1/agency", headers=admin,
                                              json={"settings": {"mfa_requirement": value}})
        body = await response.json()
        assert response.status == 200, body
        assert body["settings"]["mfa_requirement"] == value
    for bad in ({"settings": {"mfa_requirement": "some"}}, {"settings": None}, {"settings": {}},
                {"settings": {"mfa_requirement": "all", "password_min_length": 12}}):
        assert (await tenancy.client.patch("/api/v1/agency", headers=admin, json=bad)).status == 422, bad
    gestionnaire = _console(tenant, "gestionnaire")
    response = await tenancy.client.patch("/api/v1/agency", headers=gestionnaire,
                                          json={"settings": {"mfa_requirement": "none"}})
    assert response.status == 403
    # identity reads it where it reads the password minimum.
    internal = issue_token(SECRET, issuer="identity", audience="tenancy")
    read = await (await tenancy.client.get(f"/internal/tenants/{tenant['id']}",
                                           headers={"Authorization": f"Internal {internal}"})).json()
    assert read["settings"]["mfa_requirement"] == "council"
    items = (await (await tenancy.client.get("/api/v1/agency/audit", headers=admin)).json())["items"]
    assert items[0]["detail"]["changed"]["mfa_requirement"] == {"before": "none", "after": "council"}


async def test_directory_imports_and_closes_are_audited_with_the_staff_member(tenancy: Tenancy):
    from tests.integration.tenancy.conftest import sample_directory

    tenant = await tenancy.onboard()
    console = _console(tenant, "gestionnaire")
    response = await tenancy.client.put("/api/v1/directory", json=sample_directory(), headers=console)
    assert response.status == 200
    assert (await tenancy.client.delete("/api/v1/directory/accounts/C2", headers=console)).status == 204
    items = (await (await tenancy.client.get("/api/v1/agency/audit", headers=console)).json())["items"]
    assert [(i["kind"], i["actor"], bool(i["staff_id"])) for i in items] == [
        ("account_closed", "agency", True), ("directory_imported", "agency", True)]
    assert items[0]["detail"] == {"ref": "C2"} and items[1]["detail"]["counts"]["accounts"]["created"] == 3
    # A refused import is not in the audit: nothing was done.
    bad = await tenancy.client.put("/api/v1/directory", json={"accounts": [{"ref": "X"}]}, headers=console)
    assert bad.status == 422
    assert len((await (await tenancy.client.get("/api/v1/agency/audit", headers=console)).json())["items"]) == 2
