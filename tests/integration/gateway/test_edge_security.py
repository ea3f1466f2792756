"""Refusals at the edge: CSRF, Origin, body size, cookies, headers, forwarded identity."""

from __future__ import annotations

import pytest

from gateway.app import create_app
from tests.integration.gateway import standins
from tests.integration.gateway.conftest import ORIGIN, assert_information, calls, gateway_settings, visible

CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; frame-ancestors 'none'; "
       "form-action 'self'; base-uri 'none'")
PAGES = ["/login", "/login/form", "/activation", "/merge", "/password/forgot", "/help", "/cgu", "/confidentialite",
         "/activation/verify", "/password/reset", "/no-such-page"]


@pytest.mark.parametrize("path", PAGES)
async def test_every_page_carries_the_security_headers(system, path):
    response = await system.get(path, token="t0k3n")
    assert response.headers["Content-Security-Policy"] == CSP
    assert response.headers["Strict-Transport-Security"].startswith("max-age=")
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    token_page = path in ("/activation/verify", "/password/reset")
    assert response.headers["Referrer-Policy"] == ("no-referrer" if token_page else "strict-origin-when-cross-origin")
    if token_page:
        assert response.headers["Cache-Control"] == "no-store"
    html = await response.text()
    assert "<script>" not in html and " style=" not in html and " on" + "click=" not in html


async def test_unknown_page_is_a_french_404(system):
    response = await system.get("/no-such-page")
    assert response.status == 404 and "Page introuvable" in visible(await response.text())


async def _refused(system, response, reason_text="Votre formulaire a expiré"):
    assert response.status == 403
    assert reason_text in visible(await response.text())
    assert calls(system.identity, "/v1/login") == []


async def test_post_without_csrf_token_is_refused(system):
    await system.get("/login/form")
    response = await system.client.post(system.page("/login/form"), data={"email": "a@b.c", "password": "x"},
                                        headers={"Origin": "http://gateway.test"}, allow_redirects=False)
    await _refused(system, response)


async def test_post_with_a_wrong_csrf_token_is_refused(system):
    response = await system.post("/login/form", {"email": "a@b.c", "password": "x"}, csrf="0" * 64)
    await _refused(system, response)


async def test_csrf_token_of_another_visit_is_refused(system, aiohttp_client):
    stolen = await system.csrf()
    system.client.session.cookie_jar.clear()
    await system.get("/login/form")
    response = await system.post("/login/form", {"email": "a@b.c", "password": "x"}, csrf=stolen)
    await _refused(system, response)


@pytest.mark.parametrize("origin", ["http://evil.example", "https://gateway.test", "null"])
async def test_post_from_another_origin_is_refused(system, origin):
    response = await system.post("/login/form", {"email": "a@b.c", "password": "x"}, origin=origin)
    await _refused(system, response)


async def test_post_without_origin_or_referer_is_refused_and_a_good_referer_is_accepted(system):
    csrf = await system.csrf()
    response = await system.post("/login/form", {"email": "a@b.c", "password": "x"}, csrf=csrf, origin=None)
    await _refused(system, response)
    response = await system.client.post(system.page("/login/form"),
                                        data={"email": "a@b.c", "password": "x", "csrf_token": csrf},
                                        headers={"Referer": "http://gateway.test/login/form"}, allow_redirects=False)
    assert response.status == 401


async def test_oversize_form_is_refused_with_413(system):
    csrf = await system.csrf()
    response = await system.client.post(system.page("/login/form"),
                                        data={"email": "a" * 70_000, "password": "x", "csrf_token": csrf},
                                        headers={"Origin": "http://gateway.test"}, allow_redirects=False)
    assert response.status == 413
    assert "trop volumineuses" in visible(await response.text())
    assert calls(system.identity, "/v1/login") == []


async def test_secure_cookies_are_host_prefixed_httponly_secure_lax(standin_servers, aiohttp_client):
    apps, servers = standin_servers
    urls = {name: str(server.make_url("")).rstrip("/") for name, server in servers.items()}
    tenant = standins.add_tenant(apps["tenancy"], client="SECURE1", societe="01", name="Agence Sûre")
    client = await aiohttp_client(create_app(gateway_settings(urls, insecure_cookies=False)))
    response = await client.get("/login/form?client=SECURE1&societe=01")
    cookie = response.cookies["__Host-moncompte_visit"]
    assert cookie["secure"] and cookie["httponly"] and cookie["samesite"] == "Lax" and cookie["path"] == "/"
    assert not cookie["domain"]
    person = standins.add_account(apps["tenancy"], tenant)
    standins.add_person(apps["identity"], "secure@example.org", "Azerty1*x", [person])
    import re
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', await response.text()).group(1)
    response = await client.post("/login/form?client=SECURE1&societe=01",
                                 data={"email": "secure@example.org", "password": "Azerty1*x", "csrf_token": csrf},
                                 headers={"Origin": "http://gateway.test",
                                          "Cookie": "__Host-moncompte_visit=" + cookie.value},
                                 allow_redirects=False)
    assert response.status == 303
    session = response.cookies["__Host-moncompte_session"]
    assert session["secure"] and session["httponly"] and session["samesite"] == "Lax" and session["path"] == "/"


async def test_login_errors_are_french_and_by_the_field(system):
    response = await system.post("/login/form", {"email": "nobody@example.org", "password": "Wrong-1!"})
    html = await response.text()
    assert response.status == 401
    assert "Adresse mail ou mot de passe incorrect." in visible(html)
    assert 'role="alert"' in html and 'aria-describedby="f-password-error"' in html
    response = await system.post("/login/form", {"email": "throttled@example.org", "password": "x"})
    assert response.status == 429
    html = await response.text()
    assert ("Par sécurité, après plusieurs essais, la connexion est suspendue pour un moment. "
            "Vous pourrez réessayer à partir de 14 h 35.") in visible(html)
    assert_information(html)
    response = await system.post("/login/form", {"email": standins.BUSY, "password": "x"})
    assert response.status == 429
    assert ("Le service est très sollicité en ce moment. Veuillez réessayer dans quelques instants."
            in visible(await response.text()))


async def test_login_gives_a_new_visit_id_and_the_ip_from_the_peer(system):
    account = standins.add_account(system.tenancy, system.tenant)
    standins.add_person(system.identity, "ip@example.org", "Azerty1*x", [account])
    before = await system.csrf()
    response = await system.client.post(system.page("/login/form"),
                                        data={"email": "ip@example.org", "password": "Azerty1*x",
                                              "csrf_token": before},
                                        headers={"Origin": "http://gateway.test", "X-Forwarded-For": "6.6.6.6",
                                                 "X-Person-Id": "someone-else"},
                                        allow_redirects=False)
    assert response.status == 303 and response.headers["Location"].startswith("/dashboard?client=")
    assert "moncompte_session" in response.cookies
    assert await system.csrf() != before
    _, _, claims, headers = calls(system.identity, "/v1/login")[0]
    assert claims["ip"] == "127.0.0.1"  # no trusted proxy configured: X-Forwarded-For is ignored
    assert claims["tid"] == system.tenant["id"] and claims["tcc"] == system.tenant["client_code"]
    assert "X-Person-Id" not in headers and "X-Forwarded-For" not in headers


async def test_forwarded_for_is_believed_only_from_a_trusted_proxy(standin_servers, aiohttp_client):
    apps, servers = standin_servers
    urls = {name: str(server.make_url("")).rstrip("/") for name, server in servers.items()}
    standins.add_tenant(apps["tenancy"], client="PROXY1", societe="01", name="Agence Proxy")
    client = await aiohttp_client(create_app(gateway_settings(urls, trusted_proxies="127.0.0.0/8")))
    await client.get("/password/forgot?client=PROXY1&societe=01")
    page = await client.get("/password/forgot?client=PROXY1&societe=01")
    import re
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', await page.text()).group(1)
    await client.post("/password/forgot?client=PROXY1&societe=01", data={"identifier": "x", "csrf_token": csrf},
                      headers={"Origin": "http://gateway.test", "X-Forwarded-For": "203.0.113.9, 127.0.0.2"},
                      allow_redirects=False)
    assert calls(apps["identity"], "/v1/password/forgot")[0][2]["ip"] == "203.0.113.9"


async def test_service_down_gives_the_french_503_page(standin_servers, aiohttp_client):
    _apps, servers = standin_servers
    urls = {name: str(server.make_url("")).rstrip("/") for name, server in servers.items()}
    urls["tenancy"] = "http://127.0.0.1:9"  # nothing listens there
    client = await aiohttp_client(create_app(gateway_settings(urls)))
    response = await client.get("/login?client=DOWN1&societe=01")
    assert response.status == 503
    assert "Service momentanément indisponible" in visible(await response.text())


async def test_an_unexpected_answer_gives_a_french_error_page(system):
    response = await system.post("/login/form", {"email": "malformed@example.org", "password": "x"})
    assert response.status == 500
    assert response.headers["Content-Type"].startswith("text/html")
    assert "Une erreur est survenue" in visible(await response.text())
    assert response.headers["Content-Security-Policy"] == CSP
    assert "moncompte_session" not in response.cookies


async def test_the_console_upload_form_may_pass_the_form_limit_up_to_the_api_body_limit(standin_servers,
                                                                                       aiohttp_client):
    import re

    import aiohttp

    apps, servers = standin_servers
    urls = {name: str(server.make_url("")).rstrip("/") for name, server in servers.items()}
    standins.add_tenant(apps["tenancy"], client="UPLOAD1", societe="01", name="Agence Envoi")
    client = await aiohttp_client(create_app(gateway_settings(urls, max_api_body_bytes=3 * 1024 * 1024)))
    page = await client.get("/agence/connexion?client=UPLOAD1&societe=01")
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', await page.text()).group(1)

    def form(size: int) -> aiohttp.FormData:
        data = aiohttp.FormData()
        data.add_field("csrf_token", csrf)
        data.add_field("files", b"%PDF-1.7\n" + b"x" * size, filename="big.pdf", content_type="application/pdf")
        return data

    target = "/agence/documents/envoi?client=UPLOAD1&societe=01"
    # 2 MB, past the 64 KB form limit, without a staff session: the console's login, the body unread.
    response = await client.post(target, data=form(2 * 1024 * 1024), headers={"Origin": "http://gateway.test"},
                                 allow_redirects=False)
    assert response.status == 303 and "/agence/connexion" in response.headers["Location"]
    # Past the upload limit: a French refusal that says nothing was published, before any service call.
    response = await client.post(target, data=form(4 * 1024 * 1024), headers={"Origin": "http://gateway.test"},
                                 allow_redirects=False)
    assert response.status == 413
    assert "dépassent 3 Mo au total : rien n'a été publié" in visible(await response.text())
    assert calls(apps["documents"]) == []
    # Any other page keeps the form limit.
    response = await client.post("/agence/equipe?client=UPLOAD1&societe=01", data=form(200_000),
                                 headers={"Origin": "http://gateway.test"}, allow_redirects=False)
    assert response.status == 413


async def _answer_while_sending(client, target: str, headers: dict, first: bytes, declared: int) -> tuple[str, str]:
    """Declare a ``declared``-byte body, send only ``first``, and wait for the answer: (status line, head).

    An answer that comes while most of the body is still unsent was given without reading it; a
    gateway that reads the body first never answers here (the test's 5 s pass)."""
    import asyncio

    reader, writer = await asyncio.open_connection(client.host, client.port)
    try:
        head = "".join(f"{name}: {value}\r\n" for name, value in
                       {"Host": "gateway.test", "Content-Length": str(declared), **headers}.items())
        writer.write(f"POST {target} HTTP/1.1\r\n{head}\r\n".encode() + first)
        await writer.drain()
        answer = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout=5)
    finally:
        writer.close()
    status, _, rest = answer.decode("latin-1").partition("\r\n")
    return status, rest


@pytest.mark.parametrize("path", ["/agence/import", "/agence/documents/envoi"])
async def test_an_upload_body_is_not_read_before_the_staff_session_is_checked(system, path):
    target = system.page(path)
    declared = 50 * 1024 * 1024  # under the 60 MB upload limit: only the missing session can refuse it
    urlencoded = {"Origin": ORIGIN, "Content-Type": "application/x-www-form-urlencoded"}
    multipart = {"Origin": ORIGIN, "Content-Type": "multipart/form-data; boundary=b"}
    part = b'--b\r\nContent-Disposition: form-data; name="note"\r\n\r\n' + b"x" * 65536
    # Anonymous, url-encoded (the body aiohttp would hold in memory) or multipart, or with a staff cookie
    # identity does not know: the console's login, at once.
    for headers, first in ((urlencoded, b"a=" + b"x" * 65536), (multipart, part),
                           ({**multipart, "Cookie": "moncompte_staff=forged-session-id"}, part)):
        status, head = await _answer_while_sending(system.client, target, headers, first, declared)
        assert status == "HTTP/1.1 303 See Other" and "Location: /agence/connexion?" in head, (headers, head)
    # A live staff session of another agency opens nothing here either.
    other = standins.add_tenant(system.tenancy, client="OTHER" + system.tenant["client_code"][1:], societe="01",
                                name="Autre agence")
    elsewhere = standins.add_staff_session(system.identity, other)
    status, head = await _answer_while_sending(system.client, target, {**multipart,
                                                                       "Cookie": f"moncompte_staff={elsewhere}"},
                                               part, declared)
    assert status == "HTTP/1.1 303 See Other" and "Location: /agence/connexion?" in head
    # Logged in, the url-encoded body is still refused unread (only multipart is spooled to disk).
    session = standins.add_staff_session(system.identity, system.tenant)
    status, _ = await _answer_while_sending(system.client, target, {**urlencoded,
                                                                    "Cookie": f"moncompte_staff={session}"},
                                            b"a=" + b"x" * 65536, declared)
    assert status == "HTTP/1.1 415 Unsupported Media Type"
    assert calls(system.tenancy, "/api/v1/directory") == [] and calls(system.documents, "/api/v1") == []


async def test_a_staff_member_still_imports_past_the_form_limit(system):
    import aiohttp

    session = standins.add_staff_session(system.identity, system.tenant)
    system.client.session.cookie_jar.update_cookies({"moncompte_staff": session})
    csrf = await system.csrf("/agence/import")
    form = aiohttp.FormData()
    form.add_field("csrf_token", csrf)
    form.add_field("file", b"ref;role;display_name;email;lot_refs;council\n" + b"x" * 200_000, filename="a.csv",
                   content_type="text/csv")
    response = await system.client.post(system.page("/agence/import"), data=form, headers={"Origin": ORIGIN},
                                        allow_redirects=False)
    assert response.status == 303 and response.headers["Location"].startswith("/agence/import?"), response.status
    [put] = calls(system.tenancy, "/api/v1/directory/accounts")
    assert put[0] == "PUT" and put[2]["sid"] == system.identity[standins.STATE]["staff_sessions"][session]["staff_id"]
    response = await system.client.post(system.page("/agence/import"), data={"csrf_token": csrf, "file": "x"},
                                        headers={"Origin": ORIGIN}, allow_redirects=False)
    assert response.status == 415
    assert "rien n'a été importé" in visible(await response.text())
    # Read once admitted, the body's CSRF token is checked as on every form.
    form = aiohttp.FormData()
    form.add_field("csrf_token", "0" * 64)
    form.add_field("file", b"ref;role\n", filename="b.csv", content_type="text/csv")
    response = await system.client.post(system.page("/agence/import"), data=form, headers={"Origin": ORIGIN},
                                        allow_redirects=False)
    assert response.status == 403 and len(calls(system.tenancy, "/api/v1/directory/accounts")) == 1
