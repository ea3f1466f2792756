"""The activation pathway as an attacker holding provisional credentials (their own letter) would use
it: the merge step guesses the password of someone else's account, the email step probes which
addresses have an account, and one flow is driven from two browsers at once."""

from __future__ import annotations

import time
import uuid
from concurrent.futures import ThreadPoolExecutor

from tests.e2e.system import unique_email
from tests.security.conftest import PASSWORD, Browser, directory_of_add


def _flow_at_email_step(system, tenant):
    ref = f"M{uuid.uuid4().hex[:6].upper()}"
    directory_of_add(tenant, ref, "M. Attacker")
    issued = tenant.issue_credentials(ref)[ref]
    browser = Browser(system, tenant)
    assert browser.post("/activation", {"login": issued["login"], "password": issued["password"]},
                        form_page="/activation").status_code == 303
    return browser


def test_merge_step_password_guessing_locks_the_targeted_person(system, tenant_a, person):
    attacker = _flow_at_email_step(system, tenant_a)
    answer = attacker.post("/activation/email", {"email": person.email}, form_page="/activation")
    assert answer.status_code == 303 and "/activation/merge" in answer.headers["Location"]
    for _ in range(4):
        answer = attacker.post("/activation/merge", {"password": "Guess-5!aaaa"}, form_page="/activation")
        assert answer.status_code in (401, 422), answer.status_code
    time.sleep(1.2)
    attacker.post("/activation/merge", {"password": "Guess-5!aaaa"}, form_page="/activation")
    time.sleep(1.2)
    answer = attacker.post("/activation/merge", {"password": person.password}, form_page="/activation")
    assert answer.status_code != 303, "the right password merges after 5 guesses"
    assert Browser(system, tenant_a).login(person.email, person.password).status_code == 401  # locked


def test_one_flow_driven_twice_in_parallel_creates_one_account(system, tenant_a):
    browser = _flow_at_email_step(system, tenant_a)
    email = unique_email("race")
    assert browser.post("/activation/email", {"email": email}, form_page="/activation").status_code == 303
    csrf = browser.csrf("/activation")
    clones = []
    for _ in range(3):  # the same visit cookie in three browsers (stolen, or a double click)
        clone = Browser(system, tenant_a, ip=browser.ip)
        clone.plant("moncompte_visit", browser.cookie("moncompte_visit"))
        clones.append(clone)

    def submit(clone):
        return clone.post("/activation/password", {"password": PASSWORD, "confirmation": PASSWORD,
                                                   "accept_terms": "on"}, csrf=csrf)

    with ThreadPoolExecutor(3) as pool:
        answers = list(pool.map(submit, clones))
    assert all(a.status_code < 500 for a in answers), [a.status_code for a in answers]
    pending = [a for a in answers if a.status_code == 303 and "/activation/pending" in a.headers["Location"]]
    assert len(pending) >= 1
    from tests.security.conftest import identity_rows

    rows = identity_rows(system, "SELECT count(*) AS n FROM persons WHERE email = $1", email)
    assert rows[0]["n"] == 1


def test_the_email_step_cannot_be_used_to_probe_addresses_without_limit(system, tenant_a, person):
    attacker = _flow_at_email_step(system, tenant_a)
    outcomes = []
    for n in range(30):
        email = person.email if n % 10 == 9 else unique_email("probe")
        answer = attacker.post("/activation/email", {"email": email}, form_page="/activation")
        outcomes.append((email == person.email, answer.status_code, answer.headers.get("Location", "")))
    told = [o for o in outcomes if o[0] and "/activation/merge" in o[2]]
    assert len(told) <= 1, f"a registered address was told apart {len(told)} times out of 3 probes"


def test_a_letter_holder_cannot_take_a_victims_address_behind_their_back(system, tenant_a):
    """Issue 18: the attacker's pending activation holds the victim's address; the victim's own activation
    says so clearly and changes nothing, and the email the victim receives names the attacker's lot."""
    victim_email = unique_email("victime")
    attacker = _flow_at_email_step(system, tenant_a)
    attacker_lot = str(len(tenant_a._security_accounts))  # directory_of numbers the lots in order
    assert attacker.post("/activation/email", {"email": victim_email}, form_page="/activation").status_code == 303
    answer = attacker.post("/activation/password", {"password": PASSWORD, "confirmation": PASSWORD,
                                                     "accept_terms": "on"}, form_page="/activation")
    assert answer.status_code == 303 and "/activation/pending" in answer.headers["Location"]

    victim = _flow_at_email_step(system, tenant_a)
    answer = victim.post("/activation/email", {"email": victim_email}, form_page="/activation")
    assert answer.status_code == 409
    page = " ".join(answer.text.split())
    assert "Une activation attend déjà la confirmation de cette adresse email." in page
    assert "ne cliquez pas sur ce lien" in page and "(heure de Paris)" in page
    assert f'value="{victim_email}"' in answer.text
    from tests.security.conftest import identity_rows

    assert identity_rows(system, "SELECT count(*) AS n FROM persons WHERE email_key = lower($1)",
                         victim_email)[0]["n"] == 1

    mail = system.wait_for_email(victim_email)
    text = " ".join(mail.text().split())
    assert (f"Cette demande concerne un compte copropriétaire auprès de Agence A : Résidence Sécurité "
            f"(1 rue du Test, 75001 Paris) : lot {attacker_lot}.") in text
    assert "si ce compte n'est pas le vôtre, ne cliquez pas" in text
