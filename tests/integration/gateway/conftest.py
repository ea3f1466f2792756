"""A gateway wired to stand-in services (real aiohttp servers), and helpers to drive its pages."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime

import aiohttp
import pytest
from aiohttp import web

from common.clock import FrozenClock
from common.testing import free_port
from gateway.app import create_app
from gateway.settings import GatewaySettings
from tests.integration.gateway import standins

ORIGIN = "http://gateway.test"
OPERATOR_TOKEN = "operator-token-for-the-gateway-tests"
CSRF_FIELD = re.compile(r'name="csrf_token" value="([^"]+)"')
# 14 h 29 min 40 s in Paris (winter time, UTC+1): the pages say when a wait ends in Paris time.
START = datetime(2026, 12, 3, 13, 29, 40, tzinfo=UTC)


@dataclass
class System:
    client: object  # aiohttp TestClient of the gateway
    identity: web.Application
    tenancy: web.Application
    documents: web.Application
    tenant: dict
    servers: dict = field(default_factory=dict)
    clock: FrozenClock | None = None  # the time of the gateway and the identity stand-in

    def page(self, path: str, tenant: dict | None = None, **params) -> str:
        tenant = tenant or self.tenant
        query = {"client": tenant["client_code"], "societe": tenant["societe_code"], **params}
        return path + "?" + "&".join(f"{k}={v}" for k, v in query.items())

    async def get(self, path: str, tenant: dict | None = None, **params):
        return await self.client.get(self.page(path, tenant, **params), allow_redirects=False)

    async def csrf(self, path: str = "/login/form", tenant: dict | None = None) -> str:
        response = await self.get(path, tenant)
        match = CSRF_FIELD.search(await response.text())
        assert match, f"no CSRF token on {path}"
        return match.group(1)

    async def post(self, path: str, data: dict | None = None, *, tenant: dict | None = None, csrf: str | None = None,
                   origin: str | None = ORIGIN, follow: bool = False, **params):
        form = dict(data or {})
        if csrf is None:
            csrf = await self.csrf(tenant=tenant)
        form["csrf_token"] = csrf
        headers = {"Origin": origin} if origin is not None else {}
        return await self.client.post(self.page(path, tenant, **params), data=form, headers=headers,
                                      allow_redirects=follow)

    async def login(self, email: str, password: str, tenant: dict | None = None):
        response = await self.post("/login/form", {"email": email, "password": password}, tenant=tenant)
        assert response.status == 303, await response.text()
        return response


def gateway_settings(urls: dict[str, str], **overrides) -> GatewaySettings:
    values = {
        "environment": "test",
        "internal_auth_secret": standins.SECRET,
        "public_base_url": ORIGIN,
        "operator_api_token": OPERATOR_TOKEN,
        "cookie_secret": "cookie-secret-for-the-gateway-tests",
        "insecure_cookies": True,
        "identity_urls": urls["identity"],
        "tenancy_urls": urls["tenancy"],
        "documents_urls": urls["documents"],
        "metrics_port": free_port(),
        **overrides,
    }
    return GatewaySettings(**values)


@pytest.fixture
async def standin_servers(aiohttp_server):
    apps = {"identity": standins.identity_app(), "tenancy": standins.tenancy_app()}
    from tests.integration.gateway import standin_documents

    apps["documents"] = standin_documents.documents_app()
    servers = {name: await aiohttp_server(app) for name, app in apps.items()}
    return apps, servers


@pytest.fixture
async def system(standin_servers, aiohttp_client):
    apps, servers = standin_servers
    urls = {name: str(server.make_url("")).rstrip("/") for name, server in servers.items()}
    code = "T" + uuid.uuid4().hex[:8].upper()
    tenant = standins.add_tenant(apps["tenancy"], client=code, societe="01", name=f"Syndic du Parc {code}")
    clock = FrozenClock(START)
    apps["identity"][standins.STATE]["clock"] = clock
    client = await aiohttp_client(create_app(gateway_settings(urls), clock=clock))
    return System(client, apps["identity"], apps["tenancy"], apps["documents"], tenant, servers, clock)


def calls(app: web.Application, path_prefix: str = "") -> list:
    return [c for c in app[standins.CALLS] if c[1].startswith(path_prefix)]


def forged_form(csrf: str, fields: dict[str, str], forged: str) -> aiohttp.FormData:
    """The form a page sends, as multipart, with the field ``forged`` sent as a file part."""
    form = aiohttp.FormData()
    form.add_field("csrf_token", csrf)
    for name, value in fields.items():
        if name == forged:
            form.add_field(name, value.encode(), filename="champ.txt", content_type="text/plain")
        else:
            form.add_field(name, value)
    return form


def visible(html: str) -> str:
    """The text a person reads: tags dropped, entities decoded, whitespace collapsed."""
    import html as html_lib

    text = re.sub(r"<(script|style)\b.*?</\1>", " ", html, flags=re.S)
    text = re.sub(r"<[^>]+>", " ", text)
    return re.sub(r"\s+", " ", html_lib.unescape(text)).strip()


def assert_information(html: str) -> None:
    """A wait (429) is said as information (class ``info``, role ``status``), never as an error."""
    assert '<p class="info" role="status" id="form-info">' in html
    assert 'role="alert"' not in html and 'class="error' not in html
    assert "Trop de tentatives" not in visible(html)
