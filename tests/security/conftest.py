"""Fixtures of the security tests: the whole system as real processes, attacked through the gateway.

The system is :class:`tests.e2e.system.System` with three changes made for attacks: the gateway
believes ``X-Forwarded-For`` from 127.0.0.1 (so each test is "its own client IP" and the per-IP
limits can be exercised without tests tripping each other), and the identity limits are shortened
(lock after 5 failed logins, 1 s delay cap, 5 forgotten-password requests per IP per hour, IP
failure limit 12) so brute force is observable in a few requests; argon2id runs at its production cost.
"""

from __future__ import annotations

import itertools
import re
import uuid
from dataclasses import dataclass
from html import unescape

import pytest
import requests

from tests.e2e.system import System, Tenant, link_in, unique_email

CSRF_FIELD = re.compile(r'name="csrf_token" value="([^"]+)"')
PASSWORD = "Azerty1*moncompte"
_IPS = itertools.count(1)


class SecuritySystem(System):
    """The e2e system with the gateway behind a trusted proxy (127.0.0.1) and short identity limits."""

    def environment(self) -> dict[str, str]:
        env = super().environment()
        env.update({
            "GATEWAY_TRUSTED_PROXIES": "127.0.0.1/32",
            "IDENTITY_IP_FAILURE_LIMIT": "12",
            "IDENTITY_FORGOT_PER_IP_PER_HOUR": "5",
            "IDENTITY_LOGIN_DELAY_AFTER_FAILURES": "4",
            "IDENTITY_LOGIN_LOCK_AFTER_FAILURES": "5",
            "IDENTITY_LOGIN_MAX_DELAY_SECONDS": "1",
            "IDENTITY_CREDENTIAL_MAX_FAILURES": "5",
            "IDENTITY_TENANT_SETTINGS_CACHE_SECONDS": "0",
            # The production argon2id cost (the e2e run uses a cheap one): the timing comparison of
            # known and unknown addresses is only meaningful with a real hash cost.
            "IDENTITY_ARGON2_MEMORY_KIB": "19456",
            "IDENTITY_ARGON2_TIME_COST": "2",
        })
        return env


@pytest.fixture(scope="package")
def system(database_url, amqp_url, tmp_path_factory):
    running = SecuritySystem(database_url=database_url, amqp_url=amqp_url,
                             workdir=tmp_path_factory.mktemp("security-system"))
    try:
        running.start()
    except Exception:
        running.stop()
        raise
    yield running
    running.stop()


def new_ip() -> str:
    """A client address of its own (believed by the gateway through X-Forwarded-For from 127.0.0.1)."""
    n = next(_IPS)  # distinct within a run (each run has its own databases, hence its own counters)
    return f"10.{(n >> 16) & 255}.{(n >> 8) & 255}.{n & 255}"


class Browser:
    """A browser as an attacker drives it: a cookie jar, a client IP, forms posted with their CSRF token."""

    def __init__(self, system: System, tenant: Tenant, ip: str | None = None) -> None:
        self.system = system
        self.tenant = tenant
        self.ip = ip or new_ip()
        self.http = requests.Session()
        self.http.headers["X-Forwarded-For"] = self.ip

    def url(self, path: str, **params) -> str:
        sep = "&" if "?" in path else "?"
        query = {"client": self.tenant.client_code, "societe": self.tenant.societe_code, **params}
        return self.system.url(path) + sep + "&".join(f"{k}={v}" for k, v in query.items())

    def get(self, path: str, **params) -> requests.Response:
        return self.http.get(self.url(path, **params), allow_redirects=False, timeout=30)

    def csrf(self, path: str = "/login/form") -> str:
        page = self.get(path)
        match = CSRF_FIELD.search(page.text)
        assert match, f"no CSRF token on {path} ({page.status_code})"
        return unescape(match.group(1))

    def post(self, path: str, data: dict | None = None, *, csrf: str | None = None, origin: str | None = "own",
             form_page: str = "/login/form", **params) -> requests.Response:
        form = dict(data or {})
        form["csrf_token"] = self.csrf(form_page) if csrf is None else csrf
        headers = {}
        if origin == "own":
            headers["Origin"] = self.system.base_url
        elif origin is not None:
            headers["Origin"] = origin
        return self.http.post(self.url(path, **params), data=form, headers=headers, allow_redirects=False,
                              timeout=30)

    def login(self, email: str, password: str) -> requests.Response:
        return self.post("/login/form", {"email": email, "password": password})

    def cookie(self, name: str) -> str | None:
        """The cookie's value (the last one set when an attacker planted one beside the server's)."""
        values = [c.value for c in self.http.cookies if c.name == name]
        return values[-1] if values else None

    def session_cookie(self) -> str | None:
        return self.cookie("moncompte_session")

    def plant(self, name: str, value: str) -> None:
        """Set a cookie as the gateway's own would be stored (same domain and path), replacing it."""
        self.get("/login/form")  # the visit cookie tells the jar's domain for the gateway
        domain = next((c.domain for c in self.http.cookies if c.name == "moncompte_visit"), "")
        for cookie in [c for c in self.http.cookies if c.name == name]:
            self.http.cookies.clear(cookie.domain, cookie.path, cookie.name)
        self.http.cookies.set(name, value, domain=domain, path="/")


@dataclass
class Person:
    email: str
    password: str
    ref: str
    display_name: str


def directory_of(tenant: Tenant, *accounts: tuple[str, str]) -> dict:
    """One residence, one lot per ``(ref, display_name)`` account, put through the agency API."""
    directory = {"residences": [{"ref": "R1", "name": "Résidence Sécurité", "address": "1 rue du Test, 75001 Paris"}],
                 "lots": [], "accounts": []}
    for number, (ref, name) in enumerate(accounts, start=1):
        directory["lots"].append({"ref": f"L{number}", "residence_ref": "R1", "number": str(number),
                                  "kind": "appartement"})
        directory["accounts"].append({"ref": ref, "role": "coproprietaire", "display_name": name,
                                      "lot_refs": [f"L{number}"], "council": False})
    tenant.put_directory(directory)
    return directory


def activate(system: System, tenant: Tenant, ref: str, *, email: str | None = None, password: str = PASSWORD,
             verify: bool = True, display_name: str = "") -> Person:
    """Provisional credentials -> email -> password (-> verification link) through the gateway pages."""
    email = email or unique_email("sec")
    issued = tenant.issue_credentials(ref)[ref]
    browser = Browser(system, tenant)
    answer = browser.post("/activation", {"login": issued["login"], "password": issued["password"]},
                          form_page="/activation")
    assert answer.status_code == 303, answer.text
    answer = browser.post("/activation/email", {"email": email}, form_page="/activation")
    assert answer.status_code == 303, answer.text
    answer = browser.post("/activation/password", {"password": password, "confirmation": password,
                                                   "accept_terms": "on"}, form_page="/activation")
    assert answer.status_code == 303 and "/activation/pending" in answer.headers["Location"], answer.text
    if verify:
        verify_email(system, tenant, email)
    return Person(email, password, ref, display_name)


def verification_token(system: System, email: str, count: int = 1) -> str:
    link = link_in(system.wait_for_email(email, count=count), "/activation/verify")
    return re.search(r"token=([^&]+)", link).group(1)


def verify_email(system: System, tenant: Tenant, email: str) -> None:
    token = verification_token(system, email)
    browser = Browser(system, tenant)
    answer = browser.post("/activation/verify", {"token": token}, form_page="/activation/verify")
    assert answer.status_code == 303, answer.text


@pytest.fixture(scope="package")
def tenant_a(system) -> Tenant:
    return system.new_tenant(name="Agence A")


@pytest.fixture(scope="package")
def tenant_b(system) -> Tenant:
    return system.new_tenant(name="Agence B")


_REFS = itertools.count(1)


@pytest.fixture
def person(system, tenant_a) -> Person:
    """A verified person of tenant A with one account of its own (unique ref)."""
    ref = f"S{next(_REFS)}{uuid.uuid4().hex[:6].upper()}"
    name = f"M. {ref}"
    directory_of_add(tenant_a, ref, name)
    return activate(system, tenant_a, ref, display_name=name)


def directory_of_add(tenant: Tenant, ref: str, name: str) -> None:
    """Add one account to the tenant's directory (the directory PUT replaces: keep what is there)."""
    known = getattr(tenant, "_security_accounts", [])
    known.append((ref, name))
    tenant._security_accounts = known
    directory_of(tenant, *known)


def identity_sql(system: System, statement: str, *args) -> str:
    """Run one statement on identity's database (to age a token or a session: time passing, not a fake)."""
    import asyncio

    import asyncpg

    async def run() -> str:
        conn = await asyncpg.connect(system.by_name("identity").database_url)
        try:
            return await conn.execute(statement, *args)
        finally:
            await conn.close()

    return asyncio.run(run())


def reset_token(system: System, email: str, count: int = 1) -> str:
    """The token of the ``count``-th password reset link sent to ``email``."""
    from common.testing import wait_until

    def links():
        return [m for m in system.emails_to(email) if "/password/reset" in m.html() + m.text()]

    import asyncio

    asyncio.run(wait_until(lambda: len(links()) >= count, timeout=30))
    return re.search(r"token=([^&]+)", link_in(links()[count - 1], "/password/reset")).group(1)


def identity_rows(system: System, query: str, *args) -> list[dict]:
    """Rows of a query on identity's database (the audit trail)."""
    import asyncio

    import asyncpg

    async def run() -> list[dict]:
        conn = await asyncpg.connect(system.by_name("identity").database_url)
        try:
            return [dict(r) for r in await conn.fetch(query, *args)]
        finally:
            await conn.close()

    return asyncio.run(run())
