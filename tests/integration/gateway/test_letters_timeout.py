"""Letters for a whole agency take tenancy longer than any other call (about 5 ms a PDF page): the
gateway waits GATEWAY_LETTERS_TIMEOUT_SECONDS for them, not the upstream timeout after which any
other call is a 503 (else the letters are issued and shown to nobody)."""

from __future__ import annotations

import pytest

from gateway.app import create_app
from tests.integration.gateway import standins
from tests.integration.gateway.conftest import OPERATOR_TOKEN, ORIGIN, gateway_settings


@pytest.fixture
async def slow(standin_servers, aiohttp_client):
    apps, servers = standin_servers
    apps["tenancy"][standins.STATE]["answer_delay"] = 0.8
    urls = {name: str(server.make_url("")).rstrip("/") for name, server in servers.items()}
    client = await aiohttp_client(create_app(gateway_settings(urls, upstream_timeout_seconds=0.3,
                                                              letters_timeout_seconds=5)))
    return client


async def test_the_apis_letters_wait_for_tenancy_longer_than_any_other_call(slow):
    bearer = {"Authorization": f"Bearer {OPERATOR_TOKEN}"}
    letters = await slow.post("/api/v1/provisional-credentials", json={"all_without_access": True}, headers=bearer)
    assert letters.status == 201, await letters.text()
    assert (await letters.json())["credentials"][0]["login"] == "ABCD2345"
    other = await slow.post("/api/v1/directory/accounts/C1/unlink", json={"reason": "sold"}, headers=bearer)
    assert other.status == 503 and (await other.json())["error"] == "service_unavailable"


async def test_the_consoles_letters_wait_for_tenancy_too(slow, standin_servers):
    import re

    apps, _ = standin_servers
    tenant = standins.add_tenant(apps["tenancy"], client="LENT", societe="01", name="Agence lente")
    session = standins.add_staff_session(apps["identity"], tenant)
    slow.session.cookie_jar.update_cookies({"moncompte_staff": session})
    query = f"client={tenant['client_code']}&societe={tenant['societe_code']}"
    page = await slow.get(f"/agence/connexion?{query}")
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', await page.text()).group(1)
    letters = await slow.post(f"/agence/identifiants?{query}",
                              data={"csrf_token": csrf, "scope": "all", "format": "csv"},
                              headers={"Origin": ORIGIN}, allow_redirects=False)
    assert letters.status == 200, await letters.text()
    assert letters.content_type == "text/csv"
    assert "C1;ABCD2345;Prov-1!pass" in await letters.text()
