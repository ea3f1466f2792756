"""Every token through the gateway: email verification, password reset, session, activation flow and
CSRF token: reused, tampered, expired, from another person or tenant, used twice in parallel.
ASVS V7 (session management), V6.4 (recovery), V3.5 (CSRF) and V10-like one-time tokens."""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor

from tests.e2e.system import unique_email
from tests.security.conftest import (
    Browser,
    activate,
    directory_of_add,
    identity_sql,
    reset_token,
    verification_token,
)

NEW_PASSWORD = "Nouveau-Mot2passe!"


def _tampered(token: str) -> str:
    """One character changed in the middle of the token.

    Never the last one: in base64 the last character carries padding bits, and changing only
    those decodes to the same bytes (the tamper would go unnoticed one time in a few).
    """
    at = len(token) // 2
    while not token[at].isalnum():
        at += 1
    flipped = "A" if token[at] != "A" else "B"
    return token[:at] + flipped + token[at + 1:]


def _verify(system, tenant, token):
    return Browser(system, tenant).post("/activation/verify", {"token": token}, form_page="/activation/verify")


def _reset(system, tenant, token, password=NEW_PASSWORD):
    return Browser(system, tenant).post("/password/reset", {"token": token, "password": password,
                                                            "confirmation": password},
                                        form_page="/login/form")


def _pending_person(system, tenant):
    ref = f"T{uuid.uuid4().hex[:6].upper()}"
    directory_of_add(tenant, ref, "M. Token")
    return activate(system, tenant, ref, verify=False)


# ---- email verification ----

def test_verification_link_tampered_reused_and_expired(system, tenant_a):
    person = _pending_person(system, tenant_a)
    token = verification_token(system, person.email)
    assert _verify(system, tenant_a, _tampered(token)).status_code == 400
    assert _verify(system, tenant_a, "").status_code == 400
    # a GET (mail scanner prefetch) consumes nothing: the page only offers a button
    page = Browser(system, tenant_a).get("/activation/verify", token=token)
    assert page.status_code == 200 and page.headers["Referrer-Policy"] == "no-referrer"
    assert Browser(system, tenant_a).login(person.email, person.password).status_code == 401
    assert _verify(system, tenant_a, token).status_code == 303
    assert _verify(system, tenant_a, token).status_code == 400  # reused
    assert Browser(system, tenant_a).login(person.email, person.password).status_code == 303

    other = _pending_person(system, tenant_a)
    identity_sql(system, "UPDATE tokens SET expires_at = now() - interval '1 second' WHERE email = $1",
                 other.email)
    assert _verify(system, tenant_a, verification_token(system, other.email)).status_code == 400
    assert Browser(system, tenant_a).login(other.email, other.password).status_code == 401


def test_verification_link_used_twice_in_parallel_succeeds_once(system, tenant_a):
    person = _pending_person(system, tenant_a)
    token = verification_token(system, person.email)
    browsers = [Browser(system, tenant_a) for _ in range(4)]
    csrfs = [b.csrf("/activation/verify") for b in browsers]
    with ThreadPoolExecutor(4) as pool:
        statuses = list(pool.map(lambda bc: bc[0].post("/activation/verify", {"token": token}, csrf=bc[1]).status_code,
                                 zip(browsers, csrfs, strict=True)))
    assert sorted(statuses) == [303, 400, 400, 400], statuses


# ---- password reset ----

def test_reset_link_tampered_reused_superseded_and_expired(system, tenant_a, person):
    browser = Browser(system, tenant_a)
    browser.post("/password/forgot", {"identifier": person.email}, form_page="/password/forgot")
    first = reset_token(system, person.email)
    Browser(system, tenant_a).post("/password/forgot", {"identifier": person.email}, form_page="/password/forgot")
    second = reset_token(system, person.email, count=2)
    assert first != second
    assert Browser(system, tenant_a).get("/password/reset", token=_tampered(second)).status_code == 400
    assert _reset(system, tenant_a, _tampered(second)).status_code == 400
    assert _reset(system, tenant_a, first).status_code == 400, "a superseded link still works"
    assert _reset(system, tenant_a, second).status_code == 303
    assert _reset(system, tenant_a, second, "Encore-Autre3!").status_code == 400  # reused
    assert Browser(system, tenant_a).login(person.email, NEW_PASSWORD).status_code == 303

    Browser(system, tenant_a).post("/password/forgot", {"identifier": person.email}, form_page="/password/forgot")
    third = reset_token(system, person.email, count=3)
    identity_sql(system, "UPDATE tokens SET expires_at = now() - interval '1 second' "
                 "WHERE email = $1 AND used_at IS NULL", person.email)
    assert _reset(system, tenant_a, third, "Expire-Pass4!").status_code == 400
    assert Browser(system, tenant_a).login(person.email, NEW_PASSWORD).status_code == 303


def test_reset_link_used_twice_in_parallel_succeeds_once(system, tenant_a, person):
    Browser(system, tenant_a).post("/password/forgot", {"identifier": person.email}, form_page="/password/forgot")
    token = reset_token(system, person.email)
    browsers = [Browser(system, tenant_a) for _ in range(3)]
    csrfs = [b.csrf() for b in browsers]

    def post(args):
        browser, csrf, password = args
        return browser.post("/password/reset", {"token": token, "password": password, "confirmation": password},
                            csrf=csrf).status_code

    passwords = ["Para-llele1!", "Para-llele2!", "Para-llele3!"]
    with ThreadPoolExecutor(3) as pool:
        statuses = list(pool.map(post, zip(browsers, csrfs, passwords, strict=True)))
    assert sorted(statuses) == [303, 400, 400], statuses
    winner = passwords[statuses.index(303)]
    assert [Browser(system, tenant_a).login(person.email, p).status_code == 303 for p in passwords].count(True) == 1
    assert Browser(system, tenant_a).login(person.email, winner).status_code == 303


def test_a_reset_ends_every_session(system, tenant_a, person):
    stolen = Browser(system, tenant_a)
    assert stolen.login(person.email, person.password).status_code == 303
    assert stolen.get("/dashboard").status_code == 200
    Browser(system, tenant_a).post("/password/forgot", {"identifier": person.email}, form_page="/password/forgot")
    assert _reset(system, tenant_a, reset_token(system, person.email)).status_code == 303
    assert stolen.get("/dashboard").status_code in (302, 303)
    # the owner is told (a takeover by reset does not go unnoticed)
    system.wait_for_email(person.email, subject="réinitialisé")


# ---- session ----

def test_session_fixation_a_planted_session_id_is_not_the_one_after_login(system, tenant_a, person):
    browser = Browser(system, tenant_a)
    browser.plant("moncompte_session", "planted-by-the-attacker")
    before_visit = browser.csrf()
    before_cookie = browser.cookie("moncompte_visit")
    assert browser.login(person.email, person.password).status_code == 303
    assert browser.session_cookie() not in (None, "planted-by-the-attacker")
    assert browser.cookie("moncompte_visit") != before_cookie
    assert browser.csrf("/profile") != before_visit
    # the attacker's copy of the pre-login visit cookie has no session
    attacker = Browser(system, tenant_a)
    attacker.plant("moncompte_visit", before_cookie)
    attacker.plant("moncompte_session", "planted-by-the-attacker")
    assert attacker.get("/dashboard").status_code in (302, 303)


def test_session_cookie_tampered_logged_out_and_expired_is_refused(system, tenant_a, person):
    browser = Browser(system, tenant_a)
    assert browser.login(person.email, person.password).status_code == 303
    session = browser.session_cookie()
    thief = Browser(system, tenant_a)
    thief.plant("moncompte_session", _tampered(session))
    assert thief.get("/dashboard").status_code in (302, 303)
    thief.plant("moncompte_session", session)
    assert thief.get("/dashboard").status_code == 200  # a stolen cookie works until it ends...
    assert browser.post("/logout", form_page="/profile").status_code == 303
    assert thief.get("/dashboard").status_code in (302, 303)  # ...and logout ends it server side

    browser = Browser(system, tenant_a)
    assert browser.login(person.email, person.password).status_code == 303
    identity_sql(system, "UPDATE sessions SET last_seen_at = last_seen_at - interval '31 minutes' "
                 "WHERE person_id = (SELECT id FROM persons WHERE email = $1) AND ended_at IS NULL", person.email)
    assert browser.get("/dashboard").status_code in (302, 303)  # idle timeout (30 min)

    browser = Browser(system, tenant_a)
    assert browser.login(person.email, person.password).status_code == 303
    identity_sql(system, "UPDATE sessions SET created_at = created_at - interval '13 hours' "
                 "WHERE person_id = (SELECT id FROM persons WHERE email = $1) AND ended_at IS NULL", person.email)
    assert browser.get("/dashboard").status_code in (302, 303)  # absolute timeout (12 h)


def test_ending_other_sessions_ends_a_stolen_one(system, tenant_a, person):
    owner, thief = Browser(system, tenant_a), Browser(system, tenant_a)
    assert owner.login(person.email, person.password).status_code == 303
    assert thief.login(person.email, person.password).status_code == 303
    assert owner.post("/profile/sessions/end-others", form_page="/profile").status_code == 303
    assert thief.get("/dashboard").status_code in (302, 303)
    assert owner.get("/dashboard").status_code == 200


# ---- activation flow ----

def test_flow_lives_only_in_its_signed_visit_and_expires(system, tenant_a):
    ref = f"F{uuid.uuid4().hex[:6].upper()}"
    directory_of_add(tenant_a, ref, "M. Flow")
    issued = tenant_a.issue_credentials(ref)[ref]
    browser = Browser(system, tenant_a)
    assert browser.post("/activation", {"login": issued["login"], "password": issued["password"]},
                        form_page="/activation").status_code == 303
    visit = browser.cookie("moncompte_visit")
    forged = Browser(system, tenant_a)
    forged.plant("moncompte_visit", _tampered(visit))
    answer = forged.get("/activation/email")
    assert answer.status_code in (302, 303) and "/activation/email" not in answer.headers["Location"]
    assert browser.get("/activation/email").status_code == 200
    identity_sql(system, "UPDATE flows SET last_seen_at = last_seen_at - interval '2 hours', "
                 "created_at = created_at - interval '2 hours'")
    answer = browser.post("/activation/email", {"email": unique_email("late")}, form_page="/activation")
    assert answer.status_code in (302, 303) and "expired" in answer.headers["Location"], answer.headers


# ---- CSRF token ----

def test_csrf_token_of_another_visit_tampered_or_from_before_login_is_refused(system, tenant_a, person):
    browser, other = Browser(system, tenant_a), Browser(system, tenant_a)
    theirs = other.csrf()
    assert browser.post("/login/form", {"email": person.email, "password": person.password},
                        csrf=theirs).status_code == 403
    mine = browser.csrf()
    assert browser.post("/login/form", {"email": person.email, "password": person.password},
                        csrf=_tampered(mine)).status_code == 403
    assert browser.post("/login/form", {"email": person.email, "password": person.password},
                        csrf=mine).status_code == 303
    # the pre-login token no longer works after login (the visit rotated)
    assert browser.post("/profile/sessions/end-others", csrf=mine).status_code == 403
    assert browser.get("/dashboard").status_code == 200
