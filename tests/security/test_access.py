"""Access control through the gateway, walking its route table (``app.router.routes()``) so that a
route added later is covered or makes these tests fail until it is classified: CSRF and Origin on
every state-changing page route, no anonymous access to authenticated routes, the security headers
on every response, and IDOR across persons and tenants (ASVS V8 authorization, V3.5, V3.4)."""

from __future__ import annotations

import uuid

import pytest
import requests

from gateway.app import create_app
from gateway.edge import NON_PAGE_PREFIXES, UPLOAD_PATHS
from gateway.settings import GatewaySettings
from tests.security.conftest import Browser, directory_of_add

# Routes an anonymous visitor may use; every other route must refuse anonymous access.
PUBLIC = {
    "/", "/login", "/login/form", "/logout", "/help", "/cgu", "/confidentialite", "/theme/{color}.css",
    "/activation", "/merge", "/activation/verify", "/password/forgot", "/password/reset", "/done/{what}",
    "/health/live", "/health/ready", "/metrics", "/static",
    "/agence", "/agence/connexion", "/agence/deconnexion", "/agence/invitation",
    # The passwordless login with a passkey (issue 15): a login page of its own.
    "/login/cle", "/login/cle/verifier",
}
# The agency console's own login page, where its authenticated routes send an anonymous visitor.
CONSOLE_LOGIN = "/agence/connexion"
# Public but reached only with a flow in progress: without one they send back to the start.
FLOW_STEPS = {"/activation/resume", "/activation/email", "/activation/password", "/activation/merge",
              "/activation/pending", "/activation/resend", "/activation/restart"}
# Their own authentication: a signed file token, the API's bearer token.
OWN_AUTH = {"/files/{token}", "/api/v1/{tail}"}
SAMPLE = {"{document_id}": str(uuid.uuid4()), "{what}": "verified", "{color}": "1d4ed8",
          "{token}": "x" * 40, "{tail}": "directory"}


def _routes() -> list[tuple[str, str]]:
    app = create_app(GatewaySettings())
    seen = set()
    for route in app.router.routes():
        if route.method == "HEAD":
            continue
        seen.add((route.method, route.resource.canonical))
    return sorted(seen)


ROUTES = _routes()
STATE_CHANGING = [(m, p) for m, p in ROUTES if m == "POST" and not p.startswith(NON_PAGE_PREFIXES)]
AUTHENTICATED = [(m, p) for m, p in ROUTES if p not in PUBLIC | FLOW_STEPS | OWN_AUTH]


def _path(canonical: str) -> str:
    for name, value in SAMPLE.items():
        canonical = canonical.replace(name, value)
    return canonical


def test_the_route_table_is_classified():
    # a new route must be added to PUBLIC, FLOW_STEPS or OWN_AUTH consciously, else it is tested as authenticated
    assert {("GET", "/dashboard"), ("GET", "/profile"), ("POST", "/profile/password")} <= set(AUTHENTICATED)
    assert len(STATE_CHANGING) >= 15, STATE_CHANGING
    assert ("*", "/api/v1/{tail}") in ROUTES


@pytest.mark.parametrize(("method", "path"), STATE_CHANGING, ids=[p for _, p in STATE_CHANGING])
def test_every_state_changing_page_refuses_a_missing_or_foreign_csrf_token_and_origin(system, tenant_a, person,
                                                                                      method, path):
    browser = Browser(system, tenant_a)
    assert browser.login(person.email, person.password).status_code == 303
    form_page = CONSOLE_LOGIN if path.startswith("/agence") else "/profile"  # a token of the route's own scope
    good = browser.csrf(form_page)
    target = _path(path)
    cases = {
        "no csrf token": {"csrf": "", "origin": "own"},
        "csrf of another visit": {"csrf": Browser(system, tenant_a).csrf(form_page if form_page == CONSOLE_LOGIN
                                                                          else "/login/form"), "origin": "own"},
        "foreign origin": {"csrf": good, "origin": "https://evil.example"},
        "no origin nor referer": {"csrf": good, "origin": None},
    }
    if path not in ("/activation/verify", "/password/reset", "/agence/invitation"):
        cases["null origin"] = {"csrf": good, "origin": "null"}
    for name, case in cases.items():
        answer = browser.post(target, {"email": person.email, "password": person.password,
                                       "old_password": person.password, "new_password": "Chang3d-pass!",
                                       "confirmation": "Chang3d-pass!"}, **case)
        if path in UPLOAD_PATHS and case["origin"] == "own":
            # An upload's body, its CSRF token with it, is read only for a staff member: this visitor is
            # sent to the console's login before (tests/integration/gateway/test_edge_security.py).
            assert answer.status_code == 303 and answer.headers["Location"].startswith(CONSOLE_LOGIN), name
        else:
            assert answer.status_code == 403, (name, answer.status_code)
    # nothing changed: still logged in with the same password
    assert browser.get("/dashboard").status_code == 200
    assert Browser(system, tenant_a).login(person.email, person.password).status_code == 303


@pytest.mark.parametrize(("method", "path"), AUTHENTICATED, ids=[f"{m} {p}" for m, p in AUTHENTICATED])
def test_every_authenticated_route_refuses_anonymous_access(system, tenant_a, method, path):
    browser = Browser(system, tenant_a)
    if method == "GET":
        answer = browser.get(_path(path))
    else:
        answer = browser.post(_path(path), {"document_id": SAMPLE["{document_id}"], "year": "2026"},
                              form_page=CONSOLE_LOGIN if path.startswith("/agence") else "/login/form")
    assert answer.status_code in (302, 303), answer.status_code
    expected = CONSOLE_LOGIN if path.startswith("/agence") else "/login"
    assert answer.headers["Location"].startswith(expected), answer.headers["Location"]


def test_console_and_person_csrf_tokens_are_not_interchangeable(system, tenant_a, person):
    """The console's forms have a scope of their own: a person's page token is refused there, and back."""
    browser = Browser(system, tenant_a)
    person_token, console_token = browser.csrf("/login/form"), browser.csrf(CONSOLE_LOGIN)
    assert person_token != console_token
    login = {"email": person.email, "password": person.password}
    assert browser.post(CONSOLE_LOGIN, login, csrf=person_token).status_code == 403
    assert browser.post("/login/form", login, csrf=console_token).status_code == 403
    assert browser.post("/login/form", login, csrf=person_token).status_code == 303
    # A person's session is no console session.
    answer = browser.get("/agence/annuaire")
    assert answer.status_code == 303 and answer.headers["Location"].startswith(CONSOLE_LOGIN)


OWN_AUTH_ROUTES = [(m, p) for m, p in ROUTES if p in OWN_AUTH]


@pytest.mark.parametrize(("method", "path"), OWN_AUTH_ROUTES, ids=[p for _, p in OWN_AUTH_ROUTES])
def test_routes_with_their_own_authentication_refuse_without_it(system, tenant_a, person, method, path):
    browser = Browser(system, tenant_a)
    assert browser.login(person.email, person.password).status_code == 303  # a page session is no API credential
    answer = browser.http.request("GET" if method == "*" else method, system.url(_path(path)), timeout=30,
                                  allow_redirects=False)
    assert answer.status_code in (401, 403, 404), answer.status_code
    assert answer.headers["X-Content-Type-Options"] == "nosniff"


def test_an_agency_key_never_reaches_another_tenant(system, tenant_a, tenant_b):
    for method, path in (("GET", f"/api/v1/tenants/{tenant_b.id}"), ("GET", f"/api/v1/tenants/{tenant_a.id}"),
                         ("POST", f"/api/v1/tenants/{tenant_b.id}/api-keys")):
        answer = requests.request(method, system.url(path), timeout=30,
                                  headers={"Authorization": f"Bearer {tenant_a.api.token}"})
        assert answer.status_code in (401, 403, 404), (method, path, answer.status_code)
    wrong = requests.get(system.url("/api/v1/activation-stats"), timeout=30,
                         headers={"Authorization": "Bearer mck_forged_key"})
    assert wrong.status_code == 401


def test_documents_of_another_tenant_or_person_are_404_through_the_dashboard(system, tenant_a, tenant_b, person):
    ref_b = f"B{uuid.uuid4().hex[:6].upper()}"
    directory_of_add(tenant_b, ref_b, "M. Autre Agence")
    theirs = tenant_b.upload_pdf(title="Compte de l'autre agence", category="LOT_COMPTE",
                                 audience={"account_ref": ref_b})
    ref_n = f"N{uuid.uuid4().hex[:6].upper()}"
    directory_of_add(tenant_a, ref_n, "M. Voisin")
    neighbour = tenant_a.upload_pdf(title="Compte du voisin", category="LOT_COMPTE", audience={"account_ref": ref_n})
    mine = tenant_a.upload_pdf(title="Mon compte", category="LOT_COMPTE", audience={"account_ref": person.ref})
    browser = Browser(system, tenant_a)
    assert browser.login(person.email, person.password).status_code == 303
    assert browser.post(f"/documents/{mine['id']}/download", form_page="/dashboard").status_code == 303
    for other in (theirs, neighbour):
        answer = browser.post(f"/documents/{other['id']}/download", form_page="/dashboard")
        assert answer.status_code == 404, answer.status_code
        answer = browser.post("/documents/download", {"document_id": other["id"]}, form_page="/dashboard")
        assert answer.status_code == 404
    page = browser.get("/dashboard").text
    assert "Mon compte" in page and "Compte du voisin" not in page and "autre agence" not in page
    # the agency key of tenant A cannot withdraw tenant B's document
    answer = requests.delete(system.url(f"/api/v1/documents/{theirs['id']}"), timeout=30,
                             headers={"Authorization": f"Bearer {tenant_a.api.token}"})
    assert answer.status_code == 404


def test_a_forged_file_token_is_refused(system, tenant_a, person):
    mine = tenant_a.upload_pdf(title="Mon appel", category="LOT_APPEL", audience={"account_ref": person.ref})
    browser = Browser(system, tenant_a)
    assert browser.login(person.email, person.password).status_code == 303
    link = browser.post(f"/documents/{mine['id']}/download", form_page="/dashboard").headers["Location"]
    token = link.rsplit("/", 1)[1]
    assert requests.get(system.url(link), timeout=30).status_code == 200  # the link is a short-lived bearer
    forged = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
    assert requests.get(system.url("/files/" + forged), timeout=30).status_code in (403, 404)


PAGES_ANONYMOUS = ["/login", "/login/form", "/activation", "/merge", "/password/forgot", "/help", "/cgu",
                   "/confidentialite", "/activation/verify", "/password/reset", "/nope"]


def test_security_headers_on_every_page_anonymous_and_logged_in(system, tenant_a, person):
    anonymous = Browser(system, tenant_a)
    logged = Browser(system, tenant_a)
    assert logged.login(person.email, person.password).status_code == 303
    answers = [anonymous.get(p) for p in PAGES_ANONYMOUS]
    answers += [logged.get(p) for p in ("/dashboard", "/profile")]
    answers.append(anonymous.post("/login/form", {"email": "x@example.org", "password": "y"}))
    answers.append(anonymous.post("/login/form", {}, csrf=""))
    for answer in answers:
        h = answer.headers
        where = answer.url
        assert "default-src 'self'" in h["Content-Security-Policy"] and "frame-ancestors 'none'" in \
            h["Content-Security-Policy"], where
        assert "unsafe-inline" not in h["Content-Security-Policy"], where
        assert h["Strict-Transport-Security"].startswith("max-age=31536000"), where
        assert h["X-Content-Type-Options"] == "nosniff", where
        assert h["X-Frame-Options"] == "DENY", where
        assert h["Referrer-Policy"] in ("no-referrer", "strict-origin-when-cross-origin"), where
        assert "no-store" in h["Cache-Control"] or "no-cache" in h["Cache-Control"], where
    token_pages = [a for a in answers if "/activation/verify" in a.url or "/password/reset" in a.url]
    assert all(a.headers["Referrer-Policy"] == "no-referrer" for a in token_pages)
    assert all(a.headers["Cache-Control"] == "no-store" for a in answers if "/dashboard" in a.url)
    api = requests.get(system.url("/api/v1/directory"), timeout=30)
    assert api.status_code == 401 and api.headers["X-Content-Type-Options"] == "nosniff"


def test_cookies_are_httponly_and_samesite(system, tenant_a, person):
    browser = Browser(system, tenant_a)
    answer = browser.login(person.email, person.password)
    cookies = answer.raw.headers.getlist("Set-Cookie")
    assert cookies, answer.headers
    for cookie in cookies:
        lowered = cookie.lower()
        assert "httponly" in lowered and "samesite=lax" in lowered and "path=/" in lowered, cookie


def test_metrics_are_not_served_to_the_public(system):
    assert requests.get(system.url("/metrics"), timeout=30).status_code in (403, 404)


GET_ROUTES = [p for m, p in ROUTES if m == "GET" and p != "/api/v1/{tail}"]


@pytest.mark.parametrize("path", GET_ROUTES, ids=GET_ROUTES)
def test_every_get_route_carries_the_security_headers(system, tenant_a, path):
    target = _path(path) if path != "/static" else "/static/app.css"
    answer = Browser(system, tenant_a).get(target)
    h = answer.headers
    assert answer.status_code < 500, answer.status_code
    assert h["X-Content-Type-Options"] == "nosniff"
    if not target.startswith(NON_PAGE_PREFIXES):
        assert "frame-ancestors 'none'" in h["Content-Security-Policy"]
        assert h["X-Frame-Options"] == "DENY" and h["Strict-Transport-Security"].startswith("max-age=")
        assert h["Referrer-Policy"] in ("no-referrer", "strict-origin-when-cross-origin")
