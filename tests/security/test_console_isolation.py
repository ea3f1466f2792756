"""The agency console across agencies (issue 13): a staff member of agency A, logged in, probes every
console route at agency B's address and with B's data; nothing of B is shown or changed."""

from __future__ import annotations

import re
import uuid
from html import unescape
from urllib.parse import quote, unquote

import pytest

from gateway.app import create_app
from gateway.settings import GatewaySettings
from tests.e2e.system import link_in, unique_email
from tests.security.conftest import PASSWORD, Browser, directory_of_add, identity_rows

CONSOLE = "/agence/connexion"
ANONYMOUS = {"/agence/connexion", "/agence/invitation"}  # the console pages without a staff session
CONSOLE_ROUTES = sorted({(r.method, r.resource.canonical) for r in create_app(GatewaySettings()).router.routes()
                         if r.resource.canonical.startswith("/agence") and r.method != "HEAD"})


def _staff_browser(system, tenant, *, role: str = "admin") -> tuple[Browser, str]:
    email = unique_email("staff")
    system.operator.call("POST", "/api/v1/staff", {"tenant_id": tenant.id, "email": email, "role": role,
                                                   "display_name": "Agent " + role})
    link = link_in(system.wait_for_email(email, subject="Invitation à la console"), "/agence/invitation")
    token = re.search(r"token=([^&]+)", link).group(1)
    browser = Browser(system, tenant)
    answer = browser.post("/agence/invitation", {"token": token, "password": PASSWORD, "confirmation": PASSWORD},
                          form_page=f"/agence/invitation?token={token}")
    assert answer.status_code == 303, answer.text
    answer = browser.post(CONSOLE, {"email": email, "password": PASSWORD}, form_page=CONSOLE)
    assert answer.status_code == 303 and "/agence/annuaire" in answer.headers["Location"]
    return browser, email


def test_every_console_route_is_covered():
    assert {("GET", "/agence/annuaire"), ("GET", "/agence/equipe"), ("POST", "/agence/equipe")} <= set(CONSOLE_ROUTES)


def test_a_staff_session_of_agency_a_opens_nothing_at_agency_b(system, tenant_a, tenant_b):
    directory_of_add(tenant_b, "SECRETB1", "Mme Très Confidentielle")
    staff_a, _ = _staff_browser(system, tenant_a)
    assert "Mme Très Confidentielle" not in staff_a.get("/agence/annuaire").text  # A's own directory
    at_b = Browser(system, tenant_b, ip=staff_a.ip)
    at_b.http.cookies = staff_a.http.cookies  # the same browser, at B's address
    for method, path in CONSOLE_ROUTES:
        if method != "GET":
            continue
        answer = at_b.get(path, q="Confidentielle")
        assert "Très Confidentielle" not in unescape(answer.text), path
        if path in ANONYMOUS:  # B's login page, and an invitation page without a token of B
            assert answer.status_code in (200, 400), (path, answer.status_code)
        else:  # every other console page of B wants B's login
            assert answer.status_code == 303 and answer.headers["Location"].startswith(CONSOLE), path
    before = identity_rows(system, "SELECT count(*) AS n FROM staff WHERE tenant_id = $1::uuid", tenant_b.id)[0]["n"]
    answer = at_b.post("/agence/equipe", {"email": unique_email("intrus"), "role": "admin"}, form_page=CONSOLE)
    assert answer.status_code == 303 and answer.headers["Location"].startswith(CONSOLE)
    after = identity_rows(system, "SELECT count(*) AS n FROM staff WHERE tenant_id = $1::uuid", tenant_b.id)[0]["n"]
    assert after == before


def test_a_gestionnaire_cannot_invite_and_an_api_key_of_b_cannot_list_as_a(system, tenant_a, tenant_b):
    gest, _ = _staff_browser(system, tenant_a, role="gestionnaire")
    answer = gest.post("/agence/equipe", {"email": unique_email("x"), "role": "admin"}, form_page="/agence/equipe")
    assert answer.status_code == 403 and "réservée aux administrateurs" in answer.text
    emails_b = {m["email"] for m in tenant_b.api.call("GET", "/api/v1/staff")["staff"]}
    emails_a = {r["email"] for r in identity_rows(system, "SELECT email FROM staff WHERE tenant_id = $1::uuid",
                                                  tenant_a.id)}
    assert not emails_a & emails_b


@pytest.mark.parametrize("role", ["admin", "gestionnaire"])
def test_the_console_session_is_not_a_person_session(system, tenant_a, role):
    staff, _ = _staff_browser(system, tenant_a, role=role)
    answer = staff.get("/dashboard")
    assert answer.status_code == 303 and "/login/form" in answer.headers["Location"]


def test_console_notices_are_built_from_codes_not_taken_from_the_address_bar(system, tenant_a):
    admin, _ = _staff_browser(system, tenant_a)
    spoof = quote("Votre accès expire ce soir : rappelez le 08 99 00 00 00")
    for path, params in (("/agence/equipe", {"invite": spoof}), ("/agence/equipe", {"invite": str(uuid.uuid4())}),
                         ("/agence/import", {"ok": spoof}), ("/agence/import", {"importe": "1", "comptes": spoof}),
                         ("/agence/import", {"importe": "1", "comptes": "1,2,3" + spoof})):
        answer = admin.get(path, **params)
        assert answer.status_code == 200, (path, params, answer.status_code)
        assert "08 99" not in unescape(answer.text) and 'class="notice"' not in answer.text, (path, params)
    answer = admin.get("/agence/import", importe="1", comptes="2,0,1")
    assert "Annuaire importé : comptes : 2 créé(s), 0 modifié(s), 1 inchangé(s)." in unescape(answer.text)
    # The page's own redirect after an invitation carries the member's id; the sentence names the address.
    colleague = unique_email("avis")
    answer = admin.post("/agence/equipe", {"email": colleague, "role": "gestionnaire"}, form_page="/agence/equipe")
    assert answer.status_code == 303 and colleague not in unquote(answer.headers["Location"])
    page = admin.http.get(system.url(answer.headers["Location"]), allow_redirects=False, timeout=30)
    assert f"Invitation envoyée à {colleague}. Le lien est valable 7 jours." in unescape(page.text)
