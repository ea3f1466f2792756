"""ASVS 6.3.8 (and 6.4.x for password recovery): login, forgotten password and activation answer the
same (status and body, once the visit's CSRF token and the echoed input are masked) whether the
account exists, is unknown, unverified or locked; timing is compared loosely (medians, 3x)."""

from __future__ import annotations

import re
import statistics
import time
import uuid

from tests.e2e.system import unique_email
from tests.security.conftest import PASSWORD, Browser, activate, directory_of_add

TIMING_TRIES = 5
# Loose on purpose (2 shared cores, 8 engineers): an unknown address costs a full dummy argon2id
# verification, so the medians are close; 3x would still catch a missing dummy hash (~50x here).
TIMING_RATIO = 3.0


def _masked(text: str, *inputs: str) -> str:
    text = re.sub(r'name="csrf_token" value="[^"]*"', 'name="csrf_token" value=""', text)
    for value in inputs:
        text = text.replace(value, "<input>")
    return text


def _login_answer(system, tenant, email, password):
    answer = Browser(system, tenant).login(email, password)
    return answer.status_code, _masked(answer.text, email)


def test_login_answers_alike_for_wrong_password_unknown_unverified_and_locked(system, tenant_a, person):
    ref = f"U{uuid.uuid4().hex[:6].upper()}"
    directory_of_add(tenant_a, ref, "M. Unverified")
    unverified = activate(system, tenant_a, ref, verify=False)
    lref = f"K{uuid.uuid4().hex[:6].upper()}"
    directory_of_add(tenant_a, lref, "M. Locked")
    locked = activate(system, tenant_a, lref)
    attacker = Browser(system, tenant_a)
    for _ in range(4):
        attacker.login(locked.email, "Wrong-password-1!")
    time.sleep(1.2)  # the 1 s delay after 4 failures (IDENTITY_LOGIN_MAX_DELAY_SECONDS=1)
    attacker.login(locked.email, "Wrong-password-1!")  # 5th failure: locked for 15 min

    answers = {
        "wrong password": _login_answer(system, tenant_a, person.email, "Wrong-password-1!"),
        "unknown": _login_answer(system, tenant_a, unique_email("nobody"), PASSWORD),
        "unverified (right password)": _login_answer(system, tenant_a, unverified.email, PASSWORD),
        "locked (right password)": _login_answer(system, tenant_a, locked.email, PASSWORD),
    }
    statuses = {k: v[0] for k, v in answers.items()}
    assert set(statuses.values()) == {401}, statuses
    bodies = {v[1] for v in answers.values()}
    assert len(bodies) == 1, "login pages differ between cases"


def test_login_timing_of_unknown_and_existing_addresses_is_comparable(system, tenant_a, person):
    browser = Browser(system, tenant_a)

    def median(email):
        times = []
        for _ in range(TIMING_TRIES):
            csrf = browser.csrf()
            started = time.perf_counter()
            browser.post("/login/form", {"email": email, "password": "Wrong-pass-2!"}, csrf=csrf)
            times.append(time.perf_counter() - started)
        return statistics.median(times)

    # Alternated so that load on the shared machine hits both alike; 4 failures on the person at
    # most (the delay starts after 4: a delayed attempt would be faster, not comparable).
    unknown_times, existing_times = [], []
    for _ in range(2):
        unknown_times.append(median(unique_email("timing")))
        existing_times.append(_one_time(browser, person.email))
        existing_times.append(_one_time(browser, person.email))
    unknown, existing = statistics.median(unknown_times), statistics.median(existing_times)
    assert unknown / existing < TIMING_RATIO and existing / unknown < TIMING_RATIO, (unknown, existing)


def _one_time(browser, email):
    csrf = browser.csrf()
    started = time.perf_counter()
    browser.post("/login/form", {"email": email, "password": "Wrong-pass-2!"}, csrf=csrf)
    return time.perf_counter() - started


def test_forgotten_password_answers_alike_for_every_identifier(system, tenant_a, person):
    ref = f"V{uuid.uuid4().hex[:6].upper()}"
    directory_of_add(tenant_a, ref, "M. Unverified2")
    unverified = activate(system, tenant_a, ref, verify=False)
    cases = {"verified": person.email, "unknown": unique_email("nobody"), "unverified": unverified.email,
             "garbage": "'; drop table person; --"}
    answers = {}
    for name, identifier in cases.items():
        answer = Browser(system, tenant_a).post("/password/forgot", {"identifier": identifier},
                                                form_page="/password/forgot")
        answers[name] = (answer.status_code, answer.headers.get("Location"), answer.text)
    assert len(set(answers.values())) == 1, answers
    assert answers["verified"][0] == 303 and "sent=1" in answers["verified"][1]
    # and only the verified address got a reset link
    system.wait_for_email(person.email, subject="mot de passe")
    assert not [m for m in system.emails_to(unverified.email) if "/password/reset" in m.text()]


def _activation_answer(system, tenant, login, password):
    reply = Browser(system, tenant).post("/activation", {"login": login, "password": password},
                                         form_page="/activation")
    return reply.status_code, _masked(reply.text, login)


def test_activation_answers_alike_for_unknown_login_and_wrong_password(system, tenant_a):
    ref = f"W{uuid.uuid4().hex[:6].upper()}"
    directory_of_add(tenant_a, ref, "M. Provisional")
    issued = tenant_a.issue_credentials(ref)[ref]
    unknown = _activation_answer(system, tenant_a, "ZZ" + uuid.uuid4().hex[:8].upper(), "Wrong-1")
    wrong = _activation_answer(system, tenant_a, issued["login"], "Wrong-1")
    assert unknown[0] == 401
    assert unknown == wrong, "a known provisional login is told apart from an unknown one"


def test_a_locked_provisional_credential_refuses_its_right_password(system, tenant_a):
    ref = f"W{uuid.uuid4().hex[:6].upper()}"
    directory_of_add(tenant_a, ref, "M. Provisional")
    issued = tenant_a.issue_credentials(ref)[ref]
    attacker = Browser(system, tenant_a)
    for _ in range(5):  # IDENTITY_CREDENTIAL_MAX_FAILURES=5
        attacker.post("/activation", {"login": issued["login"], "password": "Wrong-2"}, form_page="/activation")
    locked = _activation_answer(system, tenant_a, issued["login"], issued["password"])
    assert locked[0] in (401, 429), "the right provisional password still opens a locked credential"


def test_hammering_a_known_or_an_unknown_provisional_login_answers_alike(system, tenant_a):
    ref = f"W{uuid.uuid4().hex[:6].upper()}"
    directory_of_add(tenant_a, ref, "M. Provisional")
    issued = tenant_a.issue_credentials(ref)[ref]
    unknown_login = "ZZ" + uuid.uuid4().hex[:8].upper()
    for _ in range(6):
        known = _activation_answer(system, tenant_a, issued["login"], "Wrong-3")
        unknown = _activation_answer(system, tenant_a, unknown_login, "Wrong-3")
    assert known == unknown, (known[0], unknown[0])


def _median_post(browser, path, data, form_page, tries=TIMING_TRIES):
    times = []
    for _ in range(tries):
        csrf = browser.csrf(form_page)
        started = time.perf_counter()
        browser.post(path, data, csrf=csrf)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def _forgot_time(system, tenant, identifier):
    browser = Browser(system, tenant)  # an IP of its own: the per-IP limit stays out of the way
    csrf = browser.csrf("/password/forgot")
    started = time.perf_counter()
    answer = browser.post("/password/forgot", {"identifier": identifier}, csrf=csrf)
    elapsed = time.perf_counter() - started
    assert answer.status_code == 303
    return elapsed


def test_forgotten_password_timing_of_known_and_unknown_addresses_is_comparable(system, tenant_a):
    people = []
    for n in range(3):
        ref = f"G{n}{uuid.uuid4().hex[:5].upper()}"
        directory_of_add(tenant_a, ref, "M. Forgot")
        people.append(activate(system, tenant_a, ref).email)
    known, unknown = [], []
    for email in people:
        for _ in range(3):  # the target limit (3 per hour): all three take the full path
            known.append(_forgot_time(system, tenant_a, email))
            unknown.append(_forgot_time(system, tenant_a, unique_email("t")))
    known_median, unknown_median = statistics.median(known), statistics.median(unknown)
    # These answers take ~5-15 ms, where load noise alone can exceed 3x: the bound is 3x or 10 ms.
    # (Measured quiet: 6.7 vs 6.6 ms, 9.1 vs 10.6 ms, 12.4 vs 12.5 ms.)
    ratio = max(known_median, unknown_median) / min(known_median, unknown_median)
    assert ratio < TIMING_RATIO or abs(known_median - unknown_median) < 0.010, (known_median, unknown_median)


def test_activation_timing_of_known_and_unknown_logins_is_comparable(system, tenant_a):
    ref = f"Y{uuid.uuid4().hex[:6].upper()}"
    directory_of_add(tenant_a, ref, "M. Timing")
    issued = tenant_a.issue_credentials(ref)[ref]
    # Provisional passwords have a keyed hash (microseconds), and an unknown login is checked against a
    # keyed dummy: what this still compares is the rest of each answer (the known login's failure
    # count and audit, the unknown one's throttle window). That the dummy check is done is proved by
    # tests/integration/identity/test_agency.py::test_an_unknown_provisional_identifier_costs_a_dummy_keyed_check.
    # 4 tries on the known login: below its lock (5); another browser (IP) for each side
    known = _median_post(Browser(system, tenant_a), "/activation", {"login": issued["login"], "password": "Wrong-4"},
                         "/activation", tries=4)
    unknown = _median_post(Browser(system, tenant_a), "/activation",
                           {"login": "ZZ" + uuid.uuid4().hex[:8].upper(), "password": "Wrong-4"}, "/activation",
                           tries=4)
    assert known / unknown < TIMING_RATIO and unknown / known < TIMING_RATIO, (known, unknown)
