"""What the resilience tests share: a person walking the pages over HTTP, a background event loop for
async fault tools (TCP proxies, a private broker), and the ledger check of the emails.

A :class:`Walker` is one browser without JavaScript: an aiohttp session with its own cookies that
reads the CSRF token from each form and posts like the pages do. Every step records its status and
latency, so a test (or ``bench/soak.py``) can say which step failed and how long each took.
"""

from __future__ import annotations

import asyncio
import re
import threading
import time
import uuid
from collections.abc import Coroutine
from dataclasses import dataclass, field
from html import unescape
from typing import Any
from urllib.parse import urlencode

import aiohttp
import asyncpg

from common.parked import list_parked
from services.notifier import domain as notifier_domain
from tests.e2e.system import System, Tenant, link_in

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
DOC_BUTTON = re.compile(r'name="document_id" value="([^"]+)"')
PASSWORD = "Resil-1!motdepasse"
EMAIL_TYPES = (notifier_domain.EMAIL_VERIFICATION, notifier_domain.PASSWORD_RESET,
               notifier_domain.PASSWORD_CHANGED, notifier_domain.ACCOUNT_LINKED)


class LoopThread:
    """An asyncio loop in a daemon thread, for async tools that must keep running between steps."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self._thread.start()

    def run(self, coro: Coroutine, timeout: float = 120) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(5)


class StepFailed(AssertionError):
    def __init__(self, step: str, status: int, detail: str, headers: dict | None = None) -> None:
        super().__init__(f"{step}: {status} {detail[:300]}")
        self.step, self.status, self.detail, self.headers = step, status, detail, headers or {}


@dataclass
class Walker:
    """One person's browser on the gateway; ``timings`` maps a step to its latencies (seconds)."""

    base: str
    tenant: Tenant
    timings: dict[str, list[float]] = field(default_factory=dict)
    statuses: list[tuple[str, int, float]] = field(default_factory=list)  # (step, status, monotonic time)
    samples: list[tuple[str, float, float]] = field(default_factory=list)  # (step, seconds, monotonic end)

    def __post_init__(self) -> None:
        self.query = urlencode({"client": self.tenant.client_code, "societe": self.tenant.societe_code})
        self.session = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True),
                                             timeout=aiohttp.ClientTimeout(total=30))

    async def close(self) -> None:
        await self.session.close()

    async def _request(self, step: str, method: str, path: str, *, data: dict | None = None,
                       expect: str | None = None) -> tuple[str, str]:
        started = time.perf_counter()
        url = path if path.startswith("http") else f"{self.base}{path}"
        async with self.session.request(method, url, data=data, headers={"Origin": self.base},
                                        allow_redirects=True) as response:
            body = await response.read()
            final = str(response.url)
            headers = dict(response.headers)
        elapsed = time.perf_counter() - started
        self.statuses.append((step, response.status, time.monotonic()))
        text = body.decode(errors="replace") if response.content_type.startswith("text") else ""
        if response.status >= 400:
            raise StepFailed(step, response.status, text, headers)
        if expect is not None and expect not in final:
            raise StepFailed(step, response.status, f"landed on {final}, expected {expect}: {text[:300]}")
        self.timings.setdefault(step, []).append(elapsed)
        self.samples.append((step, elapsed, time.monotonic()))
        return final, text if text else body.decode("latin-1")

    async def _csrf(self, step: str, path: str = "/login/form") -> str:
        _, page = await self._request(step + ".form", "GET", f"{path}?{self.query}")
        return CSRF.search(page).group(1)

    async def post_form(self, step: str, path: str, data: dict, *, form: str = "/login/form",
                        expect: str | None = None) -> tuple[str, str]:
        token = await self._csrf(step, form)
        return await self._request(step, "POST", f"{path}?{self.query}", data={**data, "csrf_token": token},
                                   expect=expect)

    async def activate(self, system: System, login: str, password: str, email: str) -> None:
        """Provisional credentials -> email -> password -> the verification link from the sink."""
        await self.start_activation(login, password, email)
        await self.verify(system, email)

    async def start_activation(self, login: str, password: str, email: str) -> None:
        """Provisional credentials -> email -> password, up to the "email sent" page."""
        await self.post_form("activation", "/activation", {"login": login, "password": password},
                             expect="/activation/email")
        await self.post_form("activation.email", "/activation/email", {"email": email},
                             expect="/activation/password")
        await self.post_form("activation.password", "/activation/password",
                             {"password": PASSWORD, "confirmation": PASSWORD, "accept_terms": "yes"},
                             expect="/activation/pending")

    async def verify(self, system: System, email: str, *, timeout: float = 60) -> None:
        """Open the verification link of the email sent to ``email`` and confirm."""
        mail = await asyncio.to_thread(system.wait_for_email, email, subject="Confirmation", timeout=timeout)
        link = unescape(link_in(mail, "/activation/verify"))
        token = re.search(r"token=([^&]+)", link).group(1)
        await self._request("verify.page", "GET", link)
        await self.post_form("verify", "/activation/verify", {"token": token}, expect="/done/verified")

    async def login(self, email: str, password: str = PASSWORD) -> None:
        await self.post_form("login", "/login/form", {"email": email, "password": password}, expect="/dashboard")

    async def listing(self) -> list[str]:
        """The dashboard; returns the ids of the documents it offers to download."""
        _, page = await self._request("listing", "GET", f"/dashboard?{self.query}", expect="/dashboard")
        if "Mes documents" not in page:
            raise StepFailed("listing", 200, "no document section: " + page[:300])
        return DOC_BUTTON.findall(page)

    async def download(self, document_id: str) -> bytes:
        _, page = await self._request("listing.again", "GET", f"/dashboard?{self.query}")
        token = CSRF.search(page).group(1)
        _final, body = await self._request("download", "POST", f"/documents/download?{self.query}",
                                          data={"document_id": document_id, "csrf_token": token}, expect="/files/")
        return body.encode("latin-1")

    async def logout(self) -> None:
        _, page = await self._request("logout.page", "GET", f"/dashboard?{self.query}")
        token = CSRF.search(page).group(1)
        await self._request("logout", "POST", f"/logout?{self.query}", data={"csrf_token": token})


def directory(tenant: Tenant, count: int, *, prefix: str = "P") -> list[str]:
    """One residence with ``count`` accounts (one lot each); returns the account refs."""
    refs = [f"{prefix}{n}" for n in range(count)]
    tenant.put_directory({
        "residences": [{"ref": "R1", "name": "Résidence de l'Épreuve", "address": "1 rue du Test, 75001 Paris"}],
        "lots": [{"ref": f"L{r}", "residence_ref": "R1", "number": str(n + 1), "kind": "appartement"}
                 for n, r in enumerate(refs)],
        "accounts": [{"ref": r, "role": "coproprietaire", "display_name": f"M. {r}", "lot_refs": [f"L{r}"],
                      "council": False} for r in refs],
    })
    return refs


def unique_email(label: str) -> str:
    return f"{label}-{uuid.uuid4().hex[:10]}@example.org"


def fresh_accounts(system: System, tenant_name: str, count: int):
    """An iterator of (tenant, provisional login, provisional password) for ``count`` fresh accounts."""
    tenant = system.new_tenant(name=tenant_name)
    refs = directory(tenant, count)
    issued = tenant.issue_credentials(*refs)
    return iter([(tenant, issued[r]["login"], issued[r]["password"]) for r in refs])


async def start_activation(system: System, accounts, label: str) -> str:
    """Take the next fresh account and activate it up to the verification email; return the address."""
    tenant, login, password = next(accounts)
    email = unique_email(label)
    walker = Walker(system.base_url, tenant)
    try:
        await walker.start_activation(login, password, email)
    finally:
        await walker.close()
    return email


async def email_events(identity_dsn: str) -> dict[str, dict]:
    """Identity's outbox events that become emails: ``{event id: {type, email, published}}``."""
    conn = await asyncpg.connect(identity_dsn)
    try:
        rows = await conn.fetch("SELECT id, type, payload->>'email' AS email, published_at IS NOT NULL AS published"
                                " FROM outbox WHERE type = ANY($1::text[])", list(EMAIL_TYPES))
    finally:
        await conn.close()
    return {str(r["id"]): {"type": r["type"], "email": (r["email"] or "").lower(), "published": r["published"]}
            for r in rows}


async def deliveries(notifier_dsn: str) -> dict[str, list[dict]]:
    conn = await asyncpg.connect(notifier_dsn)
    try:
        rows = await conn.fetch("SELECT event_id, recipient, status, message_id, last_error FROM deliveries")
    finally:
        await conn.close()
    out: dict[str, list[dict]] = {}
    for r in rows:
        out.setdefault(str(r["event_id"]), []).append(dict(r))
    return out


async def ledger(system: System, *, timeout: float = 60.0, may_repeat: frozenset[str] = frozenset()) -> dict[str, int]:
    """Every email event identity produced was delivered once or parked with a reason.

    Waits until every such event is published and has a final delivery row (``sent`` or
    ``failed``), then checks: one row per event and recipient, the recipient is the event's
    address, each ``sent`` row's Message-ID is in the SMTP sink exactly once (twice at most for
    the Message-IDs in ``may_repeat``: accepted by the relay when the notifier was killed), each
    ``failed`` row carries its reason and is in the parking queue. Returns counts.
    """
    identity_dsn = system.by_name("identity").database_url
    notifier_dsn = system.by_name("notifier").database_url
    deadline = time.monotonic() + timeout
    while True:
        events = await email_events(identity_dsn)
        rows = await deliveries(notifier_dsn)
        pending = [eid for eid, e in events.items()
                   if not e["published"] or not rows.get(eid) or any(r["status"] == "retrying" for r in rows[eid])]
        if not pending:
            break
        if time.monotonic() > deadline:
            raise AssertionError(f"{len(pending)} of {len(events)} email events not delivered nor parked after "
                                 f"{timeout}s, e.g. {[(p, events[p], rows.get(p)) for p in pending[:3]]}; "
                                 f"dead services: {system.dead_services()}")
        await asyncio.sleep(0.3)
    sink_ids: dict[str, int] = {}
    for mail in list(system.sink.messages):
        mid = str(mail.message["Message-ID"] or "").strip()
        sink_ids[mid] = sink_ids.get(mid, 0) + 1
    parked_ids = {m.message_id: m for m in await list_parked(system.amqp_url, f"{system.exchange}.notifier",
                                                             limit=1000)}
    sent = failed = 0
    for eid, event in events.items():
        event_rows = rows[eid]
        assert len(event_rows) == 1, (eid, event_rows)
        row = event_rows[0]
        assert row["recipient"] == event["email"], (eid, row, event)
        if row["status"] == "sent":
            sent += 1
            allowed = (1, 2) if row["message_id"].strip() in may_repeat else (1,)
            assert sink_ids.get(row["message_id"].strip(), 0) in allowed, (
                f"event {eid} ({event['type']}) is in the sink {sink_ids.get(row['message_id'].strip(), 0)} times")
        else:
            failed += 1
            assert row["status"] == "failed" and row["last_error"], (eid, row)
            assert eid in parked_ids and parked_ids[eid].reason, f"event {eid} failed but is not parked"
    repeated = sum(1 for mid in may_repeat if sink_ids.get(mid, 0) > 1)
    return {"events": len(events), "sent": sent, "parked": failed, "repeated": repeated}


def sink_message_ids(system: System) -> set[str]:
    return {str(m.message["Message-ID"] or "").strip() for m in list(system.sink.messages)}


async def sent_message_ids(system: System) -> set[str]:
    conn = await asyncpg.connect(system.by_name("notifier").database_url)
    try:
        return {r["message_id"].strip() for r in await conn.fetch("SELECT message_id FROM deliveries"
                                                                  " WHERE status = 'sent'")}
    finally:
        await conn.close()


FAST_RETRIES = {
    # Short consumer and digest retry schedules: a test waits seconds, not minutes, for a retry.
    "NOTIFIER_RETRY_DELAYS": "[0.5, 1, 2]",
    "NOTIFIER_DIGEST_RETRY_DELAYS": "[0.5, 1, 2]",
    "NOTIFIER_TENANT_CACHE_SECONDS": "0",
}


class running_system:
    """``with running_system(database_url, amqp_url, workdir, **System kwargs) as system:`` started, always stopped."""

    def __init__(self, database_url: str, amqp_url: str, workdir, **kwargs) -> None:
        extra = {**FAST_RETRIES, **kwargs.pop("extra_env", {})}
        self.system = System(database_url=database_url, amqp_url=amqp_url, workdir=workdir, extra_env=extra,
                             **kwargs)

    def __enter__(self) -> System:
        try:
            self.system.start()
        except Exception:
            self.system.stop()
            raise
        return self.system

    def __exit__(self, *exc) -> None:
        self.system.stop()
