"""Provisional credentials issued through identity, shown once (JSON or CSV), and activation stats."""

from __future__ import annotations

import csv
import io

from common.testing import free_port
from services.tenancy.app import create_app
from tests.integration.tenancy.conftest import IdentityStandIn, Tenancy, sample_directory

PATH = "/api/v1/provisional-credentials"


async def _tenant(tenancy: Tenancy, **overrides) -> tuple[dict, dict[str, str]]:
    tenant = await tenancy.onboard(**overrides)
    await tenancy.put_directory(tenant["id"], sample_directory())
    ids = {e["payload"]["ref"]: e["payload"]["account_id"]
           for e in await tenancy.outbox("tenancy.account_upserted") if e["tenant_id"] == tenant["id"]}
    return tenant, ids


async def test_issue_for_refs_returns_the_credentials_once_and_calls_identity_as_tenancy(
        tenancy: Tenancy, identity: IdentityStandIn):
    tenant, ids = await _tenant(tenancy, settings={"credential_ttl_days": 30})
    response = await tenancy.client.post(PATH, json={"account_refs": ["C1", "C2"]},
                                         headers=tenancy.agency(tenant["id"]))
    assert response.status == 201
    assert response.headers["Cache-Control"] == "no-store"
    body = await response.json()
    assert body["refused"] == []
    assert [c["account_ref"] for c in body["credentials"]] == ["C1", "C2"]
    c1 = body["credentials"][0]
    assert c1["login"] == identity.issued[ids["C1"]]["login"]
    assert c1["password"] == identity.issued[ids["C1"]]["password"]
    assert (c1["display_name"], c1["email"]) == ("M. Jean Dupont", "jean.dupont@example.org")

    path, claims, sent = identity.calls[-1]
    assert path == "/internal/provisional-credentials"
    assert (claims["iss"], claims["aud"], claims["tid"]) == ("tenancy", "identity", tenant["id"])
    assert sent["tenant_id"] == tenant["id"] and sent["ttl_days"] == 30 and sent["reset"] is False
    assert sent["accounts"][0] == {"account_id": ids["C1"], "role": "coproprietaire",
                                   "display_name": "M. Jean Dupont", "suggested_email": "jean.dupont@example.org"}


async def test_reissuing_revokes_the_previous_credentials(tenancy: Tenancy, identity: IdentityStandIn):
    tenant, ids = await _tenant(tenancy)
    headers = tenancy.agency(tenant["id"])
    first = (await (await tenancy.client.post(PATH, json={"account_refs": ["C3"]}, headers=headers)).json())
    second = (await (await tenancy.client.post(PATH, json={"account_refs": ["C3"]}, headers=headers)).json())
    assert first["credentials"][0]["login"] != second["credentials"][0]["login"]
    assert [r["login"] for r in identity.revoked] == [first["credentials"][0]["login"]]
    assert identity.issued[ids["C3"]]["login"] == second["credentials"][0]["login"]


async def test_csv_for_mail_merge(tenancy: Tenancy, identity: IdentityStandIn):
    tenant, ids = await _tenant(tenancy)
    response = await tenancy.client.post(PATH, json={"account_refs": ["C1", "C3"]}, headers={
        **tenancy.agency(tenant["id"]), "Accept": "text/csv"})
    assert response.status == 201
    assert response.content_type == "text/csv"
    rows = list(csv.DictReader(io.StringIO(await response.text()), delimiter=";"))
    assert list(rows[0]) == ["account_ref", "display_name", "email", "login", "password", "expires_at"]
    assert [(r["account_ref"], r["login"]) for r in rows] == [
        ("C1", identity.issued[ids["C1"]]["login"]), ("C3", identity.issued[ids["C3"]]["login"])]
    assert rows[1]["email"] == ""


async def test_linked_accounts_are_refused_per_item_then_reset_unlinks(tenancy: Tenancy, identity: IdentityStandIn):
    tenant, ids = await _tenant(tenancy)
    headers = tenancy.agency(tenant["id"])
    identity.link(ids["C1"])
    response = await tenancy.client.post(PATH, json={"account_refs": ["C1", "C2"]}, headers=headers)
    assert response.status == 201
    body = await response.json()
    assert [c["account_ref"] for c in body["credentials"]] == ["C2"]
    assert body["refused"] == [{"account_ref": "C1", "status": 409, "error": "already_linked"}]

    response = await tenancy.client.post(PATH, json={"account_refs": ["C1"]}, headers=headers)
    assert response.status == 409
    body = await response.json()
    assert body["error"] == "credentials_refused" and body["refused"][0]["account_ref"] == "C1"

    response = await tenancy.client.post(PATH, json={"account_refs": ["C1"], "reset": True}, headers=headers)
    assert response.status == 201
    assert identity.calls[-1][2]["reset"] is True
    assert ids["C1"] not in identity.linked


async def test_unknown_or_closed_refs_are_422_with_paths_and_identity_is_not_called(
        tenancy: Tenancy, identity: IdentityStandIn):
    tenant, _ = await _tenant(tenancy)
    headers = tenancy.agency(tenant["id"])
    await tenancy.client.delete("/api/v1/directory/accounts/C2", headers=headers)
    calls = len(identity.calls)
    response = await tenancy.client.post(PATH, json={"account_refs": ["C1", "NOPE", "C2"]}, headers=headers)
    assert response.status == 422
    assert [e["path"] for e in (await response.json())["errors"]] == ["account_refs[1]", "account_refs[2]"]
    for bad in ({}, {"account_refs": []}, {"account_refs": ["C1"], "all_without_access": True},
                {"all_without_access": False}):
        response = await tenancy.client.post(PATH, json=bad, headers=headers)
        assert response.status == 422, bad
    assert len(identity.calls) == calls


async def test_all_without_access_skips_linked_live_and_closed_accounts(tenancy: Tenancy, identity: IdentityStandIn):
    tenant, ids = await _tenant(tenancy)
    headers = tenancy.agency(tenant["id"])
    await tenancy.client.post(PATH, json={"account_refs": ["C1"]}, headers=headers)  # C1: live credentials
    identity.link(ids["C2"])  # C2: linked to a person
    await tenancy.put_directory(tenant["id"], {"accounts": [
        {"ref": "C4", "role": "locataire", "display_name": "Quatre", "lot_refs": ["L1"]},
        {"ref": "C5", "role": "locataire", "display_name": "Cinq", "lot_refs": ["L1"]}]})
    await tenancy.client.delete("/api/v1/directory/accounts/C5", headers=headers)
    identity.expired.add(ids["C3"])  # C3: credentials expired, no access

    response = await tenancy.client.post(PATH, json={"all_without_access": True}, headers=headers)
    assert response.status == 201
    assert sorted(c["account_ref"] for c in (await response.json())["credentials"]) == ["C3", "C4"]
    response = await tenancy.client.post(PATH, json={"all_without_access": True}, headers=headers)
    assert await response.json() == {"credentials": [], "refused": []}


async def test_activation_stats_combine_the_directory_with_identity_states(tenancy: Tenancy,
                                                                          identity: IdentityStandIn):
    tenant, ids = await _tenant(tenancy)
    _other, other_ids = await _tenant(tenancy)
    headers = tenancy.agency(tenant["id"])
    await tenancy.client.post(PATH, json={"account_refs": ["C1", "C2"]}, headers=headers)
    identity.link(ids["C2"])
    identity.pending.add(other_ids["C1"])  # another tenant's account: never counted here
    response = await tenancy.client.get("/api/v1/activation-stats", headers=headers)
    assert response.status == 200
    assert await response.json() == {"accounts": 3, "without_credentials": 1, "credentials_issued": 1,
                                     "pending_verification": 0, "activated": 1, "expired": 0}
    assert identity.calls[-1][2] == {"tenant_id": tenant["id"]}


async def test_an_agency_cannot_issue_for_another_tenants_accounts(tenancy: Tenancy, identity: IdentityStandIn):
    a, _ = await _tenant(tenancy)
    b = await tenancy.onboard()
    response = await tenancy.client.post(PATH, json={"account_refs": ["C1"]}, headers=tenancy.agency(b["id"]))
    assert response.status == 422
    response = await tenancy.client.post(PATH, json={"all_without_access": True}, headers=tenancy.agency(b["id"]))
    assert await response.json() == {"credentials": [], "refused": []}
    assert all(call[2]["tenant_id"] != a["id"] for call in identity.calls)


async def test_identity_down_is_a_503_and_nothing_is_issued(tenancy: Tenancy, aiohttp_client):
    tenant, _ = await _tenant(tenancy)
    settings = tenancy.settings.model_copy(update={"identity_url": f"http://127.0.0.1:{free_port()}"})
    client = await aiohttp_client(create_app(settings, relay=False))
    for method, path, body in (("POST", PATH, {"account_refs": ["C1"]}), ("GET", "/api/v1/activation-stats", None)):
        response = await client.request(method, path, json=body, headers=tenancy.agency(tenant["id"]))
        assert response.status == 503
        assert (await response.json())["error"] == "identity_unavailable"
