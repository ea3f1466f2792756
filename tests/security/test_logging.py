"""Security logging through the gateway (ASVS V16): authentication successes and failures, locks and
refused CSRF are recorded with who, when, where (the client IP the gateway resolved), and no password
or token ever reaches a log line."""

from __future__ import annotations

import time

from tests.security.conftest import Browser, identity_rows


def _audit(system, email):
    return identity_rows(system, "SELECT kind, ip, tenant_id::text AS tenant_id, at, detail FROM audit "
                         "WHERE person_id = (SELECT id FROM persons WHERE email = $1) ORDER BY id", email)


def test_login_failures_and_successes_are_audited_with_the_client_ip_and_tenant(system, tenant_a, person):
    attacker, owner = Browser(system, tenant_a), Browser(system, tenant_a)
    assert attacker.login(person.email, "Secret-guess-42!").status_code == 401
    assert owner.login(person.email, person.password).status_code == 303
    rows = _audit(system, person.email)
    failed = [r for r in rows if r["kind"] == "login_failed"]
    assert failed and failed[-1]["ip"] == attacker.ip and failed[-1]["tenant_id"] == tenant_a.id
    assert failed[-1]["at"] is not None and "wrong_password" in str(failed[-1]["detail"])
    sessions = identity_rows(system, "SELECT ip FROM sessions WHERE person_id = (SELECT id FROM persons "
                             "WHERE email = $1)", person.email)
    assert owner.ip in {s["ip"] for s in sessions}


def test_no_password_or_token_in_any_log(system, tenant_a, person):
    marker = "Leak-check-" + str(time.time_ns()) + "!"
    browser = Browser(system, tenant_a)
    browser.login(person.email, marker)
    assert browser.login(person.email, person.password).status_code == 303
    session = browser.session_cookie()
    browser.post("/password/forgot", {"identifier": person.email}, form_page="/password/forgot")
    time.sleep(0.5)  # the processes write their logs asynchronously
    for service in system.services:
        text = service.log_path.read_text(errors="replace")
        assert marker not in text, service.name
        assert person.password not in text, service.name
        assert session not in text, service.name


def test_a_refused_csrf_is_logged_by_the_gateway(system, tenant_a):
    browser = Browser(system, tenant_a)
    path = "/password/forgot"
    assert browser.post(path, {"identifier": "x@example.org"}, csrf="forged").status_code == 403
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        if any('"page.csrf_refused"' in line and browser.ip in line
               for line in system.gateway.log_path.read_text(errors="replace").splitlines()):
            return
        time.sleep(0.1)
    raise AssertionError("no page.csrf_refused line with the client IP in the gateway log")
