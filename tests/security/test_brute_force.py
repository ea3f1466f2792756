"""ASVS 6.3.1 / 6.1.1 (chapter V6 Authentication, anti-automation): per person, per client IP, per
provisional credential and on the password change's old password. The system runs with short limits
(see conftest: lock after 5 failures, 1 s delay cap, 12 failures per IP)."""

from __future__ import annotations

import asyncio
import time
import uuid

import aiohttp

from common.internal_auth import issue_token
from tests.e2e.system import INTERNAL_SECRET, unique_email
from tests.security.conftest import PASSWORD, Browser, directory_of_add, identity_rows, new_ip


def test_a_person_is_locked_after_repeated_failures_even_for_the_right_password(system, tenant_a, person):
    attacker = Browser(system, tenant_a)
    for _ in range(4):
        assert attacker.login(person.email, "Guess-1!aaaa").status_code == 401
    time.sleep(1.2)  # past the 1 s delay: the 5th failure is counted and locks
    assert attacker.login(person.email, "Guess-2!aaaa").status_code == 401
    time.sleep(1.2)  # past any delay: only the lock refuses now
    owner = Browser(system, tenant_a)  # another IP: the lock is the person's, not the attacker's
    assert owner.login(person.email, person.password).status_code == 401
    assert owner.get("/dashboard").status_code in (302, 303)


def test_without_failures_the_same_login_succeeds(system, tenant_a, person):
    # the counter-proof of the lock test: nothing else refuses the right password
    assert Browser(system, tenant_a).login(person.email, person.password).status_code == 303


def test_one_ip_is_limited_across_many_addresses_and_other_ips_are_not(system, tenant_a, person):
    attacker = Browser(system, tenant_a)
    statuses = [attacker.login(unique_email("spray"), "Spray-1!aaaa").status_code for _ in range(12)]
    assert statuses == [401] * 12
    assert attacker.login(unique_email("spray"), "Spray-1!aaaa").status_code == 429
    # even the right password of a real person is refused from that IP now
    assert attacker.login(person.email, person.password).status_code == 429
    assert Browser(system, tenant_a).login(person.email, person.password).status_code == 303


def test_forgotten_password_is_limited_per_ip_silently(system, tenant_a, person):
    attacker = Browser(system, tenant_a)
    for _ in range(5):  # IDENTITY_FORGOT_PER_IP_PER_HOUR=5
        answer = attacker.post("/password/forgot", {"identifier": unique_email("forgot")},
                               form_page="/password/forgot")
        assert answer.status_code == 303
    # the 6th from that IP: the same answer (no enumeration through the limit), but no email
    limited = attacker.post("/password/forgot", {"identifier": person.email}, form_page="/password/forgot")
    assert limited.status_code == 303
    allowed = Browser(system, tenant_a).post("/password/forgot", {"identifier": person.email},
                                             form_page="/password/forgot")
    assert (allowed.status_code, allowed.headers["Location"]) == (303, limited.headers["Location"])
    system.wait_for_email(person.email, subject="mot de passe")
    time.sleep(1.0)  # the limited request was committed first: its email would be out by now
    resets = [m for m in system.emails_to(person.email) if "/password/reset" in m.text()]
    assert len(resets) == 1


def test_a_provisional_credential_locks_after_repeated_failures(system, tenant_a):
    ref = f"P{uuid.uuid4().hex[:6].upper()}"
    directory_of_add(tenant_a, ref, "M. Prov")
    issued = tenant_a.issue_credentials(ref)[ref]
    for _ in range(5):  # from different IPs: the lock is the credential's
        answer = Browser(system, tenant_a).post("/activation", {"login": issued["login"], "password": "nope"},
                                                form_page="/activation")
        assert answer.status_code in (401, 429)
    answer = Browser(system, tenant_a).post("/activation", {"login": issued["login"],
                                                            "password": issued["password"]}, form_page="/activation")
    assert answer.status_code != 303 and "/activation/email" not in answer.headers.get("Location", "")


def test_guessing_the_old_password_on_the_profile_locks_the_person(system, tenant_a, person):
    victim_session = Browser(system, tenant_a)  # a stolen session cookie
    assert victim_session.login(person.email, person.password).status_code == 303
    statuses = []
    for _ in range(4):
        answer = victim_session.post("/profile/password", {"old_password": "Guess-9!aaaa",
                                                           "new_password": "Taken-1!over", "confirmation":
                                                           "Taken-1!over"}, form_page="/profile")
        statuses.append(answer.status_code)
    assert statuses == [401] * 4
    time.sleep(1.2)
    victim_session.post("/profile/password", {"old_password": "Guess-9!aaaa", "new_password": "Taken-1!over",
                                              "confirmation": "Taken-1!over"}, form_page="/profile")
    time.sleep(1.2)
    answer = victim_session.post("/profile/password", {"old_password": person.password,
                                                       "new_password": "Taken-1!over",
                                                       "confirmation": "Taken-1!over"}, form_page="/profile")
    assert answer.status_code == 429, "the right old password is accepted after 5 guesses"
    assert Browser(system, tenant_a).login(person.email, "Taken-1!over").status_code == 401
    assert Browser(system, tenant_a, ip=new_ip()).login(person.email, person.password).status_code == 401


def test_header_spoofing_from_an_untrusted_peer_is_not_believed(system):
    from gateway.edge import client_ip
    from gateway.settings import GatewaySettings

    trusted = GatewaySettings(trusted_proxies="10.0.0.0/8").trusted_networks()
    assert client_ip("203.0.113.9", "1.2.3.4", trusted) == "203.0.113.9"
    assert client_ip("10.0.0.2", "1.2.3.4, 10.0.0.7", trusted) == "1.2.3.4"
    assert client_ip("10.0.0.2", "garbage", trusted) == "10.0.0.2"
    assert client_ip("203.0.113.9", "1.2.3.4", []) == "203.0.113.9"


def test_weak_and_blocklisted_passwords_are_refused_at_activation(system, tenant_a):
    ref = f"Q{uuid.uuid4().hex[:6].upper()}"
    directory_of_add(tenant_a, ref, "M. Pol")
    issued = tenant_a.issue_credentials(ref)[ref]
    browser = Browser(system, tenant_a)
    browser.post("/activation", {"login": issued["login"], "password": issued["password"]}, form_page="/activation")
    browser.post("/activation/email", {"email": unique_email("pol")}, form_page="/activation")
    for weak in ("a", "azerty", "Azerty1*", "abcdefgh"):
        answer = browser.post("/activation/password", {"password": weak, "confirmation": weak, "accept_terms": "on"},
                              form_page="/activation")
        assert answer.status_code == 422, weak
    answer = browser.post("/activation/password", {"password": PASSWORD, "confirmation": PASSWORD,
                                                   "accept_terms": "on"}, form_page="/activation")
    assert answer.status_code == 303



def test_lockout_abuse_the_owner_recovers_by_reset_at_once(system, tenant_a, person):
    from tests.security.conftest import reset_token

    attacker = Browser(system, tenant_a)
    for _ in range(4):
        attacker.login(person.email, "Abuse-1!aaaa")
    time.sleep(1.2)
    attacker.login(person.email, "Abuse-1!aaaa")  # locked for 15 minutes
    owner = Browser(system, tenant_a)
    assert owner.login(person.email, person.password).status_code == 401
    owner.post("/password/forgot", {"identifier": person.email}, form_page="/password/forgot")
    token = reset_token(system, person.email)
    new = "Reprise-Compte7!"
    answer = Browser(system, tenant_a).post("/password/reset", {"token": token, "password": new, "confirmation": new})
    assert answer.status_code == 303
    assert Browser(system, tenant_a).login(person.email, new).status_code == 303  # the reset lifted the lock


def _login_burst(system, tenant, attempts: list[tuple[str, str, str]]) -> list[tuple[int, dict]]:
    """``(email, password, ip)`` posted to identity's /v1/login all at once, as the gateway would
    forward simultaneous form posts: ``(status, body)`` in the same order."""
    url = system.by_name("identity").url + "/v1/login"

    async def one(http, email, password, ip):
        token = issue_token(INTERNAL_SECRET, issuer="gateway", audience="identity", tid=tenant.id,
                            tcc=tenant.client_code, tsc=tenant.societe_code, ip=ip)
        async with http.post(url, json={"email": email, "password": password},
                             headers={"Authorization": f"Internal {token}"}) as response:
            return response.status, await response.json()

    async def burst():
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as http:
            return await asyncio.gather(*(one(http, *attempt) for attempt in attempts))

    return asyncio.run(burst())


def _wrong_passwords_tried(system, email: str) -> int:
    rows = identity_rows(system, "SELECT count(*) AS n FROM audit a JOIN persons p ON p.id = a.person_id"
                                 " WHERE p.email = $1 AND a.kind = 'login_failed'"
                                 " AND a.detail->>'reason' = 'wrong_password'", email)
    return rows[0]["n"]


def test_a_simultaneous_burst_gets_no_more_tries_than_the_lock_and_no_session_after_it(system, tenant_a, person):
    for _ in range(4):  # one failure short of the lock (conftest: lock after 5)
        assert Browser(system, tenant_a).login(person.email, "Guess-0!aaaa").status_code == 401
    time.sleep(1.2)  # past the growing delay: exactly one more try is allowed, and it locks if wrong
    before = _wrong_passwords_tried(system, person.email)
    attempts = [(person.email, f"Guess-{n}!burst", new_ip()) for n in range(12)]
    attempts.append((person.email, person.password, new_ip()))
    answers = _login_burst(system, tenant_a, attempts)
    assert {status for status, _ in answers} <= {200, 401}, answers
    sessions = [body for status, body in answers if status == 200]
    tried = _wrong_passwords_tried(system, person.email) - before
    # Whichever came first was the one try left: a wrong one locks (and the right one is then
    # refused like any locked login), or the right one opens the only session and no guess was tried.
    assert len(sessions) + tried == 1, (len(sessions), tried)
    if tried:
        assert Browser(system, tenant_a).login(person.email, person.password).status_code == 401


def test_a_simultaneous_burst_from_one_ip_gets_no_more_tries_than_its_limit(system, tenant_a):
    ip = new_ip()
    answers = _login_burst(system, tenant_a, [(unique_email("burst"), "Spray-1!aaaa", ip) for _ in range(16)])
    statuses = sorted(status for status, _ in answers)
    assert statuses == [401] * 12 + [429] * 4, statuses  # conftest: 12 failures per IP
    assert all(body["error"] == "too_many_requests" for status, body in answers if status == 429)



def test_wrong_merge_passwords_count_against_the_ip_like_logins(system, tenant_a, person):
    ref = f"M{uuid.uuid4().hex[:6].upper()}"
    directory_of_add(tenant_a, ref, "M. Fusion")
    issued = tenant_a.issue_credentials(ref)[ref]
    attacker = Browser(system, tenant_a)
    assert attacker.post("/activation", {"login": issued["login"], "password": issued["password"]},
                         form_page="/activation").status_code == 303
    answer = attacker.post("/activation/email", {"email": person.email}, form_page="/activation")
    assert answer.status_code == 303 and "/activation/merge" in answer.headers["Location"]
    for _ in range(4):  # below the person's delay and lock: only the IP's window can refuse later
        assert attacker.post("/activation/merge", {"password": "Guess-5!merge"},
                             form_page="/activation").status_code == 401
    for _ in range(8):  # 4 + 8 = the IP's 12 failures
        assert attacker.login(unique_email("merge-ip"), "Spray-1!aaaa").status_code == 401
    assert attacker.login(unique_email("merge-ip"), "Spray-1!aaaa").status_code == 429
