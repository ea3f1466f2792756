"""Provisional credentials issued by the real identity service, shown once (JSON or CSV), and
activation statistics combining the directory with identity's states."""

from __future__ import annotations

import csv
import io

import asyncpg
import pytest

from common.testing import free_port
from tests.integration.tenancy.conftest import Identity, Tenancy, make_tenancy, sample_directory

PATH = "/api/v1/provisional-credentials"


@pytest.fixture
async def tenancy(fresh_database, exchange_name, aiohttp_client, identity: Identity) -> Tenancy:
    return await make_tenancy(fresh_database, exchange_name, aiohttp_client, identity.url)


async def _tenant(tenancy: Tenancy, **overrides) -> tuple[dict, dict[str, str]]:
    tenant = await tenancy.onboard(**overrides)
    await tenancy.put_directory(tenant["id"], sample_directory())
    ids = {e["payload"]["ref"]: e["payload"]["account_id"]
           for e in await tenancy.account_events() if e["tenant_id"] == tenant["id"]}
    return tenant, ids


async def _issue(tenancy: Tenancy, tenant: dict, body: dict, *, expect: int = 201) -> dict:
    response = await tenancy.client.post(PATH, json=body, headers=tenancy.agency(tenant["id"]))
    assert response.status == expect, await response.text()
    return await response.json()


async def _identity_credentials(identity: Identity, tenant: dict) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(identity.dsn)
    try:
        return await conn.fetch("SELECT account_id::text, role, display_name, suggested_email, status, expires_at"
                                " FROM credentials WHERE tenant_id = $1 ORDER BY issued_at, login", tenant["id"])
    finally:
        await conn.close()


async def test_issued_credentials_are_returned_once_and_open_an_activation(tenancy: Tenancy, identity: Identity):
    tenant, ids = await _tenant(tenancy, settings={"credential_ttl_days": 30})
    response = await tenancy.client.post(PATH, json={"account_refs": ["C1", "C2"]},
                                         headers=tenancy.agency(tenant["id"]))
    assert response.status == 201
    assert response.headers["Cache-Control"] == "no-store"
    body = await response.json()
    assert body["refused"] == []
    assert [c["account_ref"] for c in body["credentials"]] == ["C1", "C2"]
    c1 = body["credentials"][0]
    assert (c1["display_name"], c1["email"]) == ("M. Jean Dupont", "jean.dupont@example.org")
    assert c1["login"] and c1["password"] and c1["expires_at"]
    assert await identity.can_start(tenant, c1)

    stored = {r["account_id"]: r for r in await _identity_credentials(identity, tenant)}
    assert set(stored) == {ids["C1"], ids["C2"]}
    row = stored[ids["C1"]]
    assert (row["role"], row["display_name"], row["suggested_email"]) == (
        "coproprietaire", "M. Jean Dupont", "jean.dupont@example.org")
    # The tenant's credential_ttl_days (30) reached identity.
    assert (row["expires_at"] - identity.clock.now()).days == 30


async def test_reissuing_revokes_the_previous_credentials(tenancy: Tenancy, identity: Identity):
    tenant, _ = await _tenant(tenancy)
    first = (await _issue(tenancy, tenant, {"account_refs": ["C3"]}))["credentials"][0]
    second = (await _issue(tenancy, tenant, {"account_refs": ["C3"]}))["credentials"][0]
    assert first["login"] != second["login"]
    assert not await identity.can_start(tenant, first)
    assert await identity.can_start(tenant, second)


async def test_csv_for_mail_merge(tenancy: Tenancy, identity: Identity):
    tenant, _ = await _tenant(tenancy)
    response = await tenancy.client.post(PATH, json={"account_refs": ["C1", "C3"]}, headers={
        **tenancy.agency(tenant["id"]), "Accept": "text/csv"})
    assert response.status == 201
    assert response.content_type == "text/csv"
    rows = list(csv.DictReader(io.StringIO(await response.text()), delimiter=";"))
    assert list(rows[0]) == ["account_ref", "display_name", "email", "login", "password", "expires_at"]
    assert [r["account_ref"] for r in rows] == ["C1", "C3"]
    assert rows[0]["email"] == "jean.dupont@example.org" and rows[1]["email"] == ""
    assert await identity.can_start(tenant, rows[1])


async def test_linked_accounts_are_refused_per_item_then_reset_unlinks(tenancy: Tenancy, identity: Identity):
    tenant, _ = await _tenant(tenancy)
    c1 = (await _issue(tenancy, tenant, {"account_refs": ["C1"]}))["credentials"][0]
    await identity.activate(tenant, c1, "jean.dupont@example.org")

    body = await _issue(tenancy, tenant, {"account_refs": ["C1", "C2"]})
    assert [c["account_ref"] for c in body["credentials"]] == ["C2"]
    assert body["refused"] == [{"account_ref": "C1", "status": 409, "error": "already_linked"}]

    body = await _issue(tenancy, tenant, {"account_refs": ["C1"]}, expect=409)
    assert body["error"] == "credentials_refused" and body["refused"][0]["account_ref"] == "C1"

    body = await _issue(tenancy, tenant, {"account_refs": ["C1"], "reset": True})
    assert await identity.can_start(tenant, body["credentials"][0])


async def test_unknown_or_closed_refs_are_422_with_paths_and_nothing_is_issued(tenancy: Tenancy,
                                                                              identity: Identity):
    tenant, _ = await _tenant(tenancy)
    headers = tenancy.agency(tenant["id"])
    await tenancy.client.delete("/api/v1/directory/accounts/C2", headers=headers)
    body = await _issue(tenancy, tenant, {"account_refs": ["C1", "NOPE", "C2"]}, expect=422)
    assert [e["path"] for e in body["errors"]] == ["account_refs[1]", "account_refs[2]"]
    for bad in ({}, {"account_refs": []}, {"account_refs": ["C1"], "all_without_access": True},
                {"all_without_access": False}, {"account_refs": ["a,b"]}):
        await _issue(tenancy, tenant, bad, expect=422)
    assert await _identity_credentials(identity, tenant) == []


async def test_all_without_access_skips_live_pending_linked_and_closed_accounts(tenancy: Tenancy,
                                                                               identity: Identity):
    tenant, _ = await _tenant(tenancy)
    await tenancy.put_directory(tenant["id"], {"accounts": [
        {"ref": f"C{i}", "role": "locataire", "display_name": f"N{i}", "lot_refs": ["L1"]} for i in (4, 5, 6)]})
    issued = {c["account_ref"]: c for c in (await _issue(tenancy, tenant, {"account_refs": ["C1", "C2", "C4"]}))[
        "credentials"]}
    await identity.activate(tenant, issued["C1"], "c1@example.org")  # C1: activated
    await identity.activate(tenant, issued["C2"], "c2@example.org", verify=False)  # C2: pending verification
    await tenancy.client.delete("/api/v1/directory/accounts/C5", headers=tenancy.agency(tenant["id"]))

    body = await _issue(tenancy, tenant, {"all_without_access": True})
    assert sorted(c["account_ref"] for c in body["credentials"]) == ["C3", "C6"]  # C4 has live credentials
    assert await _issue(tenancy, tenant, {"all_without_access": True}) == {"credentials": [], "refused": []}

    identity.clock.advance(days=61)  # every live credential expires: C3, C4, C6 have no access any more
    body = await _issue(tenancy, tenant, {"all_without_access": True})
    assert sorted(c["account_ref"] for c in body["credentials"]) == ["C3", "C4", "C6"]


async def test_activation_stats_combine_the_directory_with_identity_states(tenancy: Tenancy, identity: Identity):
    tenant, _ = await _tenant(tenancy)
    other, _ = await _tenant(tenancy)
    await tenancy.put_directory(tenant["id"], {"accounts": [
        {"ref": "C4", "role": "locataire", "display_name": "Quatre", "lot_refs": ["L1"]}]})
    issued = {c["account_ref"]: c for c in (await _issue(tenancy, tenant, {"account_refs": ["C1", "C2", "C3"]}))[
        "credentials"]}
    await identity.activate(tenant, issued["C1"], "c1@example.org")
    await identity.activate(tenant, issued["C2"], "c2@example.org", verify=False)
    await _issue(tenancy, other, {"account_refs": ["C1", "C2", "C3"]})  # another tenant: never counted here

    response = await tenancy.client.get("/api/v1/activation-stats", headers=tenancy.agency(tenant["id"]))
    assert response.status == 200
    assert await response.json() == {"accounts": 4, "without_credentials": 1, "credentials_issued": 1,
                                     "pending_verification": 1, "activated": 1, "expired": 0}
    identity.clock.advance(days=61)
    response = await tenancy.client.get("/api/v1/activation-stats", headers=tenancy.agency(tenant["id"]))
    stats = await response.json()
    assert (stats["credentials_issued"], stats["expired"], stats["activated"]) == (0, 1, 1)


async def test_an_agency_cannot_issue_for_another_tenants_accounts(tenancy: Tenancy, identity: Identity):
    a, _ = await _tenant(tenancy)
    b = await tenancy.onboard()
    await _issue(tenancy, b, {"account_refs": ["C1"]}, expect=422)
    assert await _issue(tenancy, b, {"all_without_access": True}) == {"credentials": [], "refused": []}
    assert await _identity_credentials(identity, a) == []
    response = await tenancy.client.get("/api/v1/activation-stats", headers=tenancy.agency(b["id"]))
    assert (await response.json())["accounts"] == 0


async def test_identity_down_is_a_503_and_nothing_is_issued(fresh_database, exchange_name, aiohttp_client):
    tenancy = await make_tenancy(fresh_database, exchange_name, aiohttp_client, f"http://127.0.0.1:{free_port()}")
    tenant, _ = await _tenant(tenancy)
    for method, path, body in (("POST", PATH, {"account_refs": ["C1"]}), ("GET", "/api/v1/activation-stats", None)):
        response = await tenancy.client.request(method, path, json=body, headers=tenancy.agency(tenant["id"]))
        assert response.status == 503
        assert (await response.json())["error"] == "identity_unavailable"


async def test_letters_as_pdf_one_page_per_account_and_the_passwords_nowhere_else(tenancy: Tenancy, identity: Identity):
    import io

    from pypdf import PdfReader

    tenant, _ids = await _tenant(tenancy, support={"email": "aide@parc.example.org", "phone": "01 02 03 04 05"})
    response = await tenancy.client.post(PATH, json={"account_refs": ["C1", "C3"]},
                                         headers={**tenancy.agency(tenant["id"]), "Accept": "application/pdf"})
    assert response.status == 201 and response.content_type == "application/pdf"
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["Content-Disposition"] == \
        f'attachment; filename="identifiants-provisoires-{tenant["client_code"]}.pdf"'
    pages = [" ".join(p.extract_text().split()) for p in PdfReader(io.BytesIO(await response.read())).pages]
    assert len(pages) == 2
    assert "M. Jean Dupont · copropriétaire · compte C1" in pages[0] and "SCI Horizon" in pages[1]
    assert f"login?client={tenant['client_code']}&societe={tenant['societe_code']}" in pages[0]
    assert "aide@parc.example.org · 01 02 03 04 05" in pages[0]
    # The letters' identifiers are live (they open an activation); identity keeps only hashes.
    stored = await _identity_credentials(identity, tenant)
    assert len(stored) == 2
    conn = await asyncpg.connect(identity.dsn)
    try:
        logins = [r["login"] for r in await conn.fetch("SELECT login, password_hash FROM credentials"
                                                        " WHERE tenant_id = $1", tenant["id"])]
        hashes = await conn.fetch("SELECT password_hash FROM credentials WHERE tenant_id = $1", tenant["id"])
    finally:
        await conn.close()
    assert all(login in " ".join(pages) for login in logins)
    assert all(h["password_hash"].startswith("$hmac-sha256$") for h in hashes)  # keyed: system-drawn secrets
