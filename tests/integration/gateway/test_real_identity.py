"""The pages against the real identity service (its own PostgreSQL database, no broker).

Tenancy and documents stay stand-ins; identity is the service whose contract the pages follow
most closely, so its real app checks that the gateway speaks it: activation, verification,
login, introspection, merge, forgot/reset. Email links are read from identity's outbox.
"""

from __future__ import annotations

import json
import uuid

import asyncpg
import pytest

from common.db import migrate
from common.internal_auth import issue_token
from common.settings import load_settings
from common.testing import create_test_database, drop_test_database
from gateway.app import create_app
from services.identity.__main__ import TRACKS as IDENTITY_TRACKS
from services.identity.app import create_app as create_identity_app
from services.identity.settings import IdentitySettings
from tests.integration.gateway import standin_documents, standins
from tests.integration.gateway.conftest import System, gateway_settings, visible

STRONG = "Vue-sur-mer-42!"


@pytest.fixture
async def real(database_url, exchange_name, aiohttp_server, aiohttp_client):
    dsn = await create_test_database(database_url)
    await migrate(dsn, IDENTITY_TRACKS)
    tenancy = standins.tenancy_app()
    tenancy_server = await aiohttp_server(tenancy)
    documents = standin_documents.documents_app()
    documents_server = await aiohttp_server(documents)
    tenancy_url = str(tenancy_server.make_url("")).rstrip("/")
    settings = load_settings(IdentitySettings, database_url=dsn, events_exchange=exchange_name,
                             tenancy_url=tenancy_url, internal_auth_secret=standins.SECRET,
                             argon2_memory_kib=1024, argon2_time_cost=1, public_base_url="http://gateway.test")
    identity_server = await aiohttp_server(create_identity_app(settings, with_broker=False))
    urls = {"identity": str(identity_server.make_url("")).rstrip("/"), "tenancy": tenancy_url,
            "documents": str(documents_server.make_url("")).rstrip("/")}
    tenant = standins.add_tenant(tenancy, client="R" + uuid.uuid4().hex[:8].upper(), societe="01",
                                 name="Syndic Réel")
    client = await aiohttp_client(create_app(gateway_settings(urls)))
    system = System(client, None, tenancy, documents, tenant)
    system.identity_url = urls["identity"]
    system.dsn = dsn
    yield system
    await client.close()
    await identity_server.close()
    await drop_test_database(dsn)


async def issue(system, account: dict, email: str | None = None) -> dict:
    token = issue_token(standins.SECRET, issuer="tenancy", audience="identity", tid=system.tenant["id"])
    body = {"tenant_id": system.tenant["id"], "ttl_days": 30, "reset": False,
            "accounts": [{"account_id": account["id"], "role": account["role"],
                          "display_name": account["display_name"], "suggested_email": email}]}
    response = await system.client.session.post(system.identity_url + "/internal/provisional-credentials",
                                                json=body, headers={"Authorization": f"Internal {token}"})
    assert response.status == 201, await response.text()
    return (await response.json())["credentials"][0]


async def outbox_link(system, event: str, field: str) -> str:
    conn = await asyncpg.connect(system.dsn)
    try:
        payload = await conn.fetchval("SELECT payload FROM outbox WHERE type = $1 ORDER BY created_at DESC LIMIT 1",
                                      event)
    finally:
        await conn.close()
    return json.loads(payload)[field]


async def activate(system, email: str) -> dict:
    account = standins.add_account(system.tenancy, system.tenant)
    credential = await issue(system, account, email)
    response = await system.post("/activation", {"login": credential["login"], "password": credential["password"]})
    assert response.status == 303, visible(await response.text())
    page = await system.client.get(response.headers["Location"])
    assert f'value="{email}"' in await page.text()  # identity's suggested address, pre-filled
    response = await system.post("/activation/email", {"email": email})
    assert response.headers["Location"].startswith("/activation/password")
    html = visible(await (await system.client.get(response.headers["Location"])).text())
    assert "Au moins une majuscule" in html
    response = await system.post("/activation/password", {"password": "faible", "confirmation": "faible",
                                                           "accept_terms": "yes"})
    assert response.status == 422
    assert "Le mot de passe ne respecte pas tous les critères." in visible(await response.text())
    response = await system.post("/activation/password", {"password": STRONG, "confirmation": STRONG,
                                                           "accept_terms": "yes"})
    assert response.headers["Location"].startswith("/activation/pending"), visible(await response.text())
    html = visible(await (await system.client.get(response.headers["Location"])).text())
    assert f"Un email vous a été envoyé à l'adresse : {email}" in html
    link = await outbox_link(system, "identity.email_verification_requested", "verification_url")
    assert link.startswith("http://gateway.test/activation/verify?") and "client=" in link
    token = link.split("token=")[1]
    assert (await system.get("/activation/verify", token=token)).status == 200
    response = await system.post("/activation/verify", {"token": token}, origin="null")
    assert response.headers["Location"].startswith("/done/verified"), visible(await response.text())
    return account


async def test_activation_login_and_dashboard_against_real_identity(real):
    account = await activate(real, "reel@example.org")
    standin_documents.add_document(real.documents, account, title="Appel de fonds T3")
    response = await real.post("/login/form", {"email": "reel@example.org", "password": "Mauvais-1!"})
    assert response.status == 401 and "Adresse mail ou mot de passe incorrect." in visible(await response.text())
    await real.login("reel@example.org", STRONG)
    html = visible(await (await real.get("/dashboard")).text())
    assert "Appel de fonds T3" in html and "Syndic Réel" in html
    html = visible(await (await real.get("/profile")).text())
    assert "reel@example.org" in html and "Cette session" in html


async def test_wrong_provisional_credentials_against_real_identity(real):
    response = await real.post("/activation", {"login": "NOPE1234", "password": "nope"})
    assert response.status == 401
    assert "Identifiant ou mot de passe provisoire incorrect." in visible(await response.text())


async def test_merge_and_reset_against_real_identity(real):
    await activate(real, "fusion@example.org")
    second = standins.add_account(real.tenancy, real.tenant, name="M. Second Lot")
    credential = await issue(real, second)
    await real.post("/merge", {"login": credential["login"], "password": credential["password"]})
    response = await real.post("/activation/email", {"email": "fusion@example.org"})
    assert response.headers["Location"].startswith("/activation/merge")
    html = visible(await (await real.client.get(response.headers["Location"])).text())
    assert "l'adresse mail : fusion@example.org" in html
    response = await real.post("/activation/merge", {"password": STRONG})
    assert response.headers["Location"].startswith("/done/merged"), visible(await response.text())

    await real.post("/password/forgot", {"identifier": "fusion@example.org"})
    link = await outbox_link(real, "identity.password_reset_requested", "reset_url")
    token = link.split("token=")[1]
    page = await real.get("/password/reset", token=token)
    assert page.status == 200 and "RÉINITIALISER MON MOT DE PASSE" in visible(await page.text())
    response = await real.post("/password/reset", {"token": token, "password": "Nouveau-Mot-2!",
                                                   "confirmation": "Nouveau-Mot-2!"}, origin="null")
    assert response.headers["Location"].startswith("/done/reset"), visible(await response.text())
    await real.login("fusion@example.org", "Nouveau-Mot-2!")
    html = visible(await (await real.get("/dashboard")).text())
    assert "M. Second Lot" in html


async def test_credentials_of_one_tenant_do_not_open_at_another_tenants_url(real):
    account = standins.add_account(real.tenancy, real.tenant)
    credential = await issue(real, account)
    other = standins.add_tenant(real.tenancy, client="O" + uuid.uuid4().hex[:8].upper(), societe="02",
                                name="Autre Syndic")
    response = await real.post("/activation", {"login": credential["login"], "password": credential["password"]},
                               tenant=other)
    assert response.status == 401
    assert "Identifiant ou mot de passe provisoire incorrect." in visible(await response.text())
    response = await real.post("/activation", {"login": credential["login"], "password": credential["password"]})
    assert response.status == 303


async def test_a_flow_started_at_one_tenant_does_not_continue_at_another(real):
    account = standins.add_account(real.tenancy, real.tenant)
    credential = await issue(real, account)
    other = standins.add_tenant(real.tenancy, client="X" + uuid.uuid4().hex[:8].upper(), societe="03",
                                name="Syndic Voisin")
    response = await real.post("/activation", {"login": credential["login"], "password": credential["password"]})
    assert response.headers["Location"].startswith("/activation/email")
    response = await real.post("/activation/email", {"email": "voisin@example.org"}, tenant=other)
    assert response.status == 303 and "expired=1" in response.headers["Location"]
    assert (await real.get("/activation/password", other)).headers["Location"].startswith("/activation?")
