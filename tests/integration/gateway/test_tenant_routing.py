"""Tenant routing: the codes in the URL pick the tenant; unknown, malformed, suspended are refused."""

from __future__ import annotations

from tests.integration.gateway import standins
from tests.integration.gateway.conftest import calls, visible


async def test_welcome_page_shows_the_guide_options_and_the_tenant(system):
    response = await system.get("/login")
    html = await response.text()
    assert response.status == 200
    for text in ("Mon compte immobilier",
                 "Bienvenue sur votre espace Extranet ! Pour commencer, choisissez l'option qui vous correspond :",
                 "J'ai déjà un compte", "Je n'ai pas de compte", "Je fusionne mes comptes",
                 "Besoin d'aide pour se connecter ?", system.tenant["name"]):
        assert text in visible(html)
    # The tenant colour comes from a stylesheet (the CSP allows no inline style).
    assert '<link rel="stylesheet" href="/theme/aa3311.css">' in html
    theme = await system.client.get("/theme/aa3311.css")
    assert theme.status == 200 and "--brand:#aa3311" in await theme.text()
    # Every link carries the tenant codes, so a bookmarked page still works.
    assert f'href="/login/form?client={system.tenant["client_code"]}&amp;societe=01"' in html


async def test_unknown_tenant_gets_a_french_404_and_is_negatively_cached(system):
    for _ in range(3):
        response = await system.client.get("/login?client=NOPE&societe=99")
        assert response.status == 404
        assert "Aucune agence ne correspond" in await response.text()
    assert len(calls(system.tenancy, "/internal/tenants/resolve")) == 1


async def test_malformed_codes_get_a_404_without_asking_tenancy(system):
    for query in ("client=%3Cscript%3E&societe=01", "client=" + "A" * 33 + "&societe=01", "client=A&societe=",
                  "client=A"):
        response = await system.client.get("/login?" + query)
        assert response.status == 404, query
        html = await response.text()
        assert "<script>" not in html
    response = await system.client.get("/login")
    assert response.status == 404
    assert "ne précise pas votre agence" in await response.text()
    assert calls(system.tenancy, "/internal/tenants/resolve") == []


async def test_suspended_tenant_gets_a_french_403(system):
    suspended = standins.add_tenant(system.tenancy, client="SUSP" + system.tenant["client_code"][1:6], societe="02",
                                    name="Agence Fermée", status="suspended")
    response = await system.get("/login", suspended)
    assert response.status == 403
    assert "est momentanément fermé" in await response.text()


async def test_known_tenant_is_cached(system):
    for _ in range(3):
        assert (await system.get("/login")).status == 200
    assert len(calls(system.tenancy, "/internal/tenants/resolve")) == 1


async def test_the_visit_keeps_the_tenant_for_pages_without_codes(system):
    await system.get("/login")
    response = await system.client.get("/help", allow_redirects=False)
    html = await response.text()
    assert response.status == 200
    assert system.tenant["support"]["email"] in html and system.tenant["support"]["phone"] in html
    assert system.tenant["support"]["hours"] in html


async def test_codes_of_another_tenant_switch_the_visit(system):
    other = standins.add_tenant(system.tenancy, client="OTHER" + system.tenant["client_code"][1:5], societe="07",
                                name="Gérance des Lilas")
    await system.get("/login")
    response = await system.get("/login", other)
    assert "Gérance des Lilas" in await response.text()
    html = await (await system.client.get("/help")).text()
    assert "Gérance des Lilas" in html and system.tenant["name"] not in html
