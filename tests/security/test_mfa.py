"""ASVS 6.5 / 6.3 (V6, multi-factor, issue 15) through the gateway as an attacker drives it:
a code replayed, codes guessed (the person locks as for passwords), a recovery code reused or
spent twice in parallel, and the emailed reset link without the second factor. The system runs with
short limits (conftest: delay after 4 failures, lock after 5, 1 s delay cap)."""

from __future__ import annotations

import re
import time
from concurrent.futures import ThreadPoolExecutor
from html import unescape

import pyotp

from tests.security.conftest import Browser, identity_rows, reset_token

_SECRET = re.compile(r'id="totp-secret">([A-Z2-7 ]+)<')
_CODE = re.compile(r"<li><code>([A-Z0-9-]+)</code></li>")


class App:
    """The person's authenticator app: never the same time step twice (identity refuses a replay)."""

    def __init__(self, secret: str) -> None:
        self.totp = pyotp.TOTP(secret)
        self.last = 0

    def code(self) -> str:
        step = max(int(time.time()) // 30, self.last + 1)
        while step > int(time.time()) // 30 + 1:
            time.sleep(1)
        self.last = step
        return self.totp.generate_otp(step)


def enrol(system, tenant, person) -> tuple[App, list[str]]:
    owner = Browser(system, tenant)
    assert owner.login(person.email, person.password).status_code == 303
    page = owner.post("/profile/mfa/totp", form_page="/profile")
    assert page.status_code == 200, page.status_code
    secret = _SECRET.search(page.text).group(1).replace(" ", "")
    uri = unescape(re.search(r'name="uri" value="([^"]+)"', page.text).group(1))
    app = App(secret)
    done = owner.post("/profile/mfa/totp/confirm", {"code": app.code(), "secret": secret, "uri": uri},
                      form_page="/profile")
    assert done.status_code == 200, done.status_code
    codes = _CODE.findall(done.text)
    assert len(codes) == 10
    return app, codes


def second_step(browser: Browser, person, code: str):
    assert browser.login(person.email, person.password).status_code == 303  # to /login/code
    return browser.post("/login/code", {"code": code}, form_page="/login/code")


def logged_in(browser: Browser) -> bool:
    return browser.get("/dashboard").status_code == 200


def test_the_password_alone_opens_no_session(system, tenant_a, person):
    enrol(system, tenant_a, person)
    attacker = Browser(system, tenant_a)
    answer = attacker.login(person.email, person.password)
    assert answer.status_code == 303 and "/login/code" in answer.headers["Location"]
    assert attacker.session_cookie() is None
    assert not logged_in(attacker)


def test_a_code_is_refused_when_replayed(system, tenant_a, person):
    app, _ = enrol(system, tenant_a, person)
    owner = Browser(system, tenant_a)
    code = app.code()
    assert second_step(owner, person, code).status_code == 303
    assert logged_in(owner)
    attacker = Browser(system, tenant_a)  # saw the code (shoulder, phishing relay): too late
    assert second_step(attacker, person, code).status_code == 401
    assert not logged_in(attacker)


def test_guessing_codes_locks_the_person_like_guessing_passwords(system, tenant_a, person):
    app, _ = enrol(system, tenant_a, person)
    attacker = Browser(system, tenant_a)  # has the password, not the phone
    assert attacker.login(person.email, person.password).status_code == 303
    for guess in range(4):
        assert attacker.post("/login/code", {"code": f"{guess:06d}"}, form_page="/login/code").status_code == 401
    time.sleep(1.2)  # past the 1 s delay: the 5th failure is counted, kills the step and locks the person
    assert attacker.post("/login/code", {"code": "999999"}, form_page="/login/code").status_code in (401, 429)
    time.sleep(1.2)
    # Locked: the owner's right password and code do not open a session until the lock ends.
    owner = Browser(system, tenant_a)
    assert owner.login(person.email, person.password).status_code == 401
    assert not logged_in(owner)
    [row] = identity_rows(system, "SELECT locked_until FROM persons WHERE email = $1", person.email)
    assert row["locked_until"] is not None
    assert app.totp  # the owner's app is untouched


def test_a_recovery_code_works_once_even_in_parallel(system, tenant_a, person):
    _, codes = enrol(system, tenant_a, person)
    browsers = [Browser(system, tenant_a) for _ in range(4)]
    for browser in browsers:
        assert browser.login(person.email, person.password).status_code == 303

    def use(browser: Browser) -> int:
        return browser.post("/login/code", {"code": codes[0]}, form_page="/login/code").status_code

    with ThreadPoolExecutor(4) as pool:
        statuses = list(pool.map(use, browsers))
    assert sorted(statuses) == [303, 401, 401, 401], statuses
    # And later: still refused.
    assert second_step(Browser(system, tenant_a), person, codes[0]).status_code == 401
    [row] = identity_rows(system, "SELECT count(*) AS n FROM mfa_recovery_codes c JOIN persons p ON p.id = "
                          "c.person_id WHERE p.email = $1 AND c.used_at IS NOT NULL", person.email)
    assert row["n"] == 1


def test_the_reset_link_alone_does_not_bypass_the_second_factor(system, tenant_a, person):
    enrol(system, tenant_a, person)
    attacker = Browser(system, tenant_a)  # reads the mailbox, has not the phone nor the codes
    attacker.post("/password/forgot", {"identifier": person.email}, form_page="/password/forgot")
    token = reset_token(system, person.email)
    form = {"token": token, "password": "Pris-Le-Mail-77", "confirmation": "Pris-Le-Mail-77"}
    # Even leaving out the form's "mfa" flag: identity requires the code.
    answer = attacker.post("/password/reset", form, form_page=f"/password/reset?token={token}")
    assert answer.status_code == 401
    answer = attacker.post("/password/reset", {**form, "mfa": "1", "code": "123456"},
                           form_page=f"/password/reset?token={token}")
    assert answer.status_code == 401
    assert Browser(system, tenant_a).login(person.email, "Pris-Le-Mail-77").status_code == 401
    assert Browser(system, tenant_a).login(person.email, person.password).status_code == 303
