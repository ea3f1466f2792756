"""Stateful property tests (Hypothesis ``RuleBasedStateMachine``) of identity's activation and
password-reset state machines, against the real identity process of the running system (its
HTTP API, called as the gateway would, with internal tokens; links read from its outbox).

Random sequences of issue / start / choose email / choose password / resend / restart / verify /
login / forgot / reset steps are run against a model of what the design allows; each step's
answer must match the model. What must never happen, whatever the sequence:

- a provisional credential working after it was used to activate, or after a newer one was issued;
- a person whose email is not verified logging in;
- a verification link working twice, or after a newer one (resend, restart);
- a reset link working after a newer one, after it was used, or after the password changed.
"""

from __future__ import annotations

import asyncio
import json
import urllib.error
import urllib.request
import uuid
from typing import ClassVar
from urllib.parse import parse_qs, urlsplit

import asyncpg
import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    consumes,
    initialize,
    multiple,
    precondition,
    rule,
)

from common.internal_auth import issue_token
from tests.e2e.system import INTERNAL_SECRET

PASSWORDS = ("Etat-1!premier", "Etat-2!second", "Etat-3!troisieme")


class Identity:
    """identity's API as the gateway calls it for one tenant."""

    def __init__(self, system, tenant) -> None:
        self.url = system.by_name("identity").url
        self.dsn = system.by_name("identity").database_url
        self.tenant = tenant

    def call(self, path: str, body: dict | None = None, *, method: str = "POST", **claims) -> tuple[int, dict]:
        claims = {"tid": self.tenant.id, "tcc": self.tenant.client_code, "tsc": self.tenant.societe_code,
                  "ip": "127.0.0.1", **claims}
        token = issue_token(INTERNAL_SECRET, issuer="gateway", audience="identity", **claims)
        request = urllib.request.Request(self.url + path, method=method,  # noqa: S310 - loopback test server
                                         data=None if body is None else json.dumps(body).encode(),
                                         headers={"Authorization": f"Internal {token}",
                                                  "Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
                raw = response.read()
                return response.status, json.loads(raw) if raw else {}
        except urllib.error.HTTPError as exc:
            raw = exc.read()
            return exc.code, json.loads(raw) if raw else {}

    def issue(self, account_id: str) -> dict:
        status, body = self.call("/internal/provisional-credentials", {
            "tenant_id": self.tenant.id, "ttl_days": 30, "reset": True,
            "accounts": [{"account_id": account_id, "role": "coproprietaire", "display_name": "M. Etat",
                          "suggested_email": None}]}, act="operator")
        assert status == 201, body
        return body["credentials"][0]

    def latest_token(self, event_type: str, email: str, url_key: str) -> str | None:
        async def fetch():
            conn = await asyncpg.connect(self.dsn)
            try:
                return await conn.fetchval(
                    "SELECT payload->>$3 FROM outbox WHERE type = $1 AND lower(payload->>'email') = $2"
                    " ORDER BY created_at DESC, occurred_at DESC LIMIT 1", event_type, email.lower(), url_key)
            finally:
                await conn.close()

        url = asyncio.run(fetch())
        return parse_qs(urlsplit(url).query)["token"][0] if url else None


class ActivationMachine(RuleBasedStateMachine):
    """Credentials, flows and verification links for a few accounts of one tenant."""

    identity: Identity  # set by the test
    reached: ClassVar[dict[str, int]] = {"verified": 0, "refused_credential": 0, "unverified_login": 0,
                                         "verified_login": 0}

    credentials = Bundle("credentials")
    flows = Bundle("flows")
    links = Bundle("links")

    def __init__(self) -> None:
        super().__init__()
        self.accounts = [str(uuid.uuid4()) for _ in range(2)]
        self.latest: dict[str, str] = {}  # account -> login of its newest credential
        self.activated: set[str] = set()  # logins used to create a verified person
        self.flow_state: dict[str, dict] = {}  # flow id -> {account, login, step, email}
        self.latest_link: dict[str, str] = {}  # email -> newest verification token
        self.used_links: set[str] = set()
        self.verified: set[str] = set()
        self.passwords: dict[str, str] = {}  # email -> password chosen

    @initialize(target=credentials)
    def issue_all(self):
        return multiple(*(self.issue(n) for n in range(len(self.accounts))))

    @rule(target=flows, credential=credentials)
    def start_and_choose(self, credential):
        """The common path in one step, so that sequences reach verification often."""
        flow = self.start(credential)
        if isinstance(flow, str):
            self.choose_email_and_password(flow)
            return flow
        return multiple()

    @rule(target=credentials, n=st.integers(0, 1))
    def issue(self, n):
        account = self.accounts[n]
        issued = self.identity.issue(account)
        self.latest[account] = issued["login"]
        return (account, issued["login"], issued["password"])

    @rule(target=flows, credential=credentials)
    def start(self, credential):
        account, login, password = credential
        status, body = self.identity.call("/v1/activation/start",
                                          {"login": login, "password": password, "intent": "activate"})
        usable = self.latest.get(account) == login and login not in self.activated
        if not usable:
            assert status == 401, f"a used or superseded credential was accepted: {status} {body}"
            self.reached["refused_credential"] += 1
            return multiple()
        assert status == 200, body
        assert body["step"] in ("email", "pending_verification"), body
        self.flow_state[body["flow_id"]] = {"account": account, "login": login, "step": body["step"],
                                            "email": body.get("email")}
        return body["flow_id"]

    @rule(flow=flows)
    def choose_email_and_password(self, flow):
        state = self.flow_state[flow]
        email = f"etat-{uuid.uuid4().hex[:10]}@example.org"
        status, body = self.identity.call(f"/v1/activation/{flow}/email", {"email": email})
        # "gone": a flow whose credential another flow used; choosing an email there is harmless, the
        # password step is what refuses it (checked below).
        if state["step"] not in ("email", "password", "merge", "gone"):
            assert status in (404, 409), (status, body)
            return
        if status == 404:  # the flow ended (its credential was superseded or used)
            return
        assert status == 200 and body["step"] == "password", (status, body)
        password = PASSWORDS[len(self.passwords) % len(PASSWORDS)]
        status, body = self.identity.call(f"/v1/activation/{flow}/password",
                                          {"password": password, "confirmation": password, "accept_terms": True})
        if status == 404:
            # Allowed only when another flow of the same credential got there first (the account is linked).
            assert any(other["login"] == state["login"] and other["step"] in ("pending_verification", "done")
                       for fid, other in self.flow_state.items() if fid != flow), (status, body)
            state.update(step="gone")
            return
        assert status == 200 and body["step"] == "pending_verification", (status, body)
        state.update(step="pending_verification", email=email)
        self.passwords[email] = password
        self.latest_link[email] = self.identity.latest_token("identity.email_verification_requested", email,
                                                             "verification_url")

    @rule(target=links, flow=flows)
    def take_link(self, flow):
        email = self.flow_state[flow]["email"]
        if not email or email not in self.latest_link:
            return multiple()
        return (email, self.latest_link[email])

    @rule(flow=flows)
    def verify_newest(self, flow):
        """Open the newest link of the flow's email (the common path; stale links come from ``links``)."""
        email = self.flow_state[flow]["email"]
        if email and email in self.latest_link:
            self.verify((email, self.latest_link[email]))

    @rule(flow=flows)
    def resend(self, flow):
        state = self.flow_state[flow]
        status, _body = self.identity.call(f"/v1/activation/{flow}/resend")
        if state["step"] == "pending_verification" and status == 200 and state["email"] not in self.verified:
            self.latest_link[state["email"]] = self.identity.latest_token(
                "identity.email_verification_requested", state["email"], "verification_url")

    @rule(flow=flows)
    def restart(self, flow):
        state = self.flow_state[flow]
        status, body = self.identity.call(f"/v1/activation/{flow}/restart")
        if status == 200:
            assert state["step"] != "done", body
            if state["email"]:
                self.latest_link.pop(state["email"], None)  # the pending link is killed
            state.update(step=body["step"])

    @rule(link=links)
    def verify(self, link):
        email, token = link
        status, body = self.identity.call("/v1/email/verify", {"token": token})
        should_work = token == self.latest_link.get(email) and token not in self.used_links
        if status == 200:
            assert should_work, f"a used or superseded verification link worked for {email}"
            logins = {state["login"] for state in self.flow_state.values() if state["email"] == email}
            assert not logins & self.activated, f"a provisional credential created a second person ({email})"
            self.used_links.add(token)
            self.verified.add(email)
            self.reached["verified"] += 1
            for state in self.flow_state.values():
                if state["email"] == email:
                    state["step"] = "done"
                    self.activated.add(state["login"])
        else:
            assert status == 400, (status, body)
            self.used_links.add(token)  # a refused link must stay refused

    @precondition(lambda self: self.verified)
    @rule(data=st.data())
    def login_verified(self, data):
        """Offered as soon as someone is verified, so that sequences reach it often."""
        self.login_as(data.draw(st.sampled_from(sorted(self.verified))))

    @precondition(lambda self: self.passwords)
    @rule(data=st.data())
    def login(self, data):
        self.login_as(data.draw(st.sampled_from(sorted(self.passwords))))

    def login_as(self, email: str) -> None:
        status, body = self.identity.call("/v1/login", {"email": email, "password": self.passwords[email]})
        if email in self.verified:
            assert status == 200, (status, body)
            self.reached["verified_login"] += 1
        else:
            assert status == 401, f"an unverified person logged in: {status} {body}"
            self.reached["unverified_login"] += 1



class ResetMachine(RuleBasedStateMachine):
    """One verified person: forgot-password links, resets and logins."""

    identity: Identity

    tokens = Bundle("tokens")

    def __init__(self) -> None:
        super().__init__()
        self.email, self.password = verified_person(self.identity)
        self.newest: str | None = None
        self.dead: set[str] = set()

    @rule(target=tokens)
    def forgot(self):
        status, _ = self.identity.call("/v1/password/forgot", {"identifier": self.email})
        assert status == 202
        token = self.identity.latest_token("identity.password_reset_requested", self.email, "reset_url")
        assert token and token != self.newest
        if self.newest:
            self.dead.add(self.newest)  # superseded
        self.newest = token
        return token

    @rule(token=tokens)
    def check(self, token):
        status, _ = self.identity.call("/v1/password/reset/check", {"token": token})
        assert status == (200 if token == self.newest and token not in self.dead else 400)

    @rule(token=consumes(tokens), n=st.integers(0, len(PASSWORDS) - 1))
    def reset(self, token, n):
        new = PASSWORDS[n]
        status, body = self.identity.call("/v1/password/reset", {"token": token, "password": new,
                                                                 "confirmation": new})
        if token == self.newest and token not in self.dead:
            assert status == 200, (status, body)
            self.password = new
            self.dead.add(token)
            self.newest = None  # a password change kills every pending reset link
        else:
            assert status == 400, f"a superseded, used or outdated reset link worked: {status} {body}"

    @rule()
    def login(self):
        status, body = self.identity.call("/v1/login", {"email": self.email, "password": self.password})
        assert status == 200, (status, body)
        for other in PASSWORDS:
            if other != self.password:
                status, _ = self.identity.call("/v1/login", {"email": self.email, "password": other})
                assert status == 401, "an old password still works"
                break


def verified_person(identity: Identity) -> tuple[str, str]:
    """A person activated through the real flow (credential, email, password, link): (email, password)."""
    issued = identity.issue(str(uuid.uuid4()))
    status, flow = identity.call("/v1/activation/start", {"login": issued["login"], "password": issued["password"],
                                                          "intent": "activate"})
    assert status == 200, flow
    email = f"reset-{uuid.uuid4().hex[:10]}@example.org"
    assert identity.call(f"/v1/activation/{flow['flow_id']}/email", {"email": email})[0] == 200
    status, _ = identity.call(f"/v1/activation/{flow['flow_id']}/password",
                              {"password": PASSWORDS[0], "confirmation": PASSWORDS[0], "accept_terms": True})
    assert status == 200
    token = identity.latest_token("identity.email_verification_requested", email, "verification_url")
    assert identity.call("/v1/email/verify", {"token": token})[0] == 200
    return email, PASSWORDS[0]


STATE_SETTINGS = settings(max_examples=15, stateful_step_count=12, derandomize=True, deadline=None,
                          database=None, suppress_health_check=list(HealthCheck))


@pytest.fixture(scope="module")
def identity(system):
    return Identity(system, system.new_tenant(name="Syndic des États"))


def test_activation_state_machine(identity):
    ActivationMachine.identity = identity
    ActivationMachine.TestCase.settings = settings(STATE_SETTINGS, max_examples=40, stateful_step_count=25)
    ActivationMachine.TestCase().runTest()
    # The sequences did reach the states the properties are about (not only early refusals).
    assert all(ActivationMachine.reached.values()), ActivationMachine.reached


def test_reset_state_machine(identity):
    ResetMachine.identity = identity
    ResetMachine.TestCase.settings = STATE_SETTINGS
    ResetMachine.TestCase().runTest()
