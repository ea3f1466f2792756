"""PostgreSQL cut for identity alone (a TCP proxy between identity's processes and the real
server, cut and restored by the test) while people use the pages.

What must hold: during the cut the gateway answers the French 503 page (with Retry-After), no
partial state is left (no event, nothing half-written), and once the proxy is back the same
browser resumes its flow and the email goes out once.
"""

from __future__ import annotations

import asyncio
from urllib.parse import urlsplit

import asyncpg
import pytest

from common.testing import TcpProxy, wait_until
from tests.resilience.support import (
    LoopThread,
    StepFailed,
    Walker,
    directory,
    ledger,
    running_system,
    unique_email,
)

UNAVAILABLE = "Service momentanément indisponible"


@pytest.fixture(scope="module")
def loop_thread():
    thread = LoopThread()
    yield thread
    thread.close()


@pytest.fixture(scope="module")
def proxy(database_url, loop_thread):
    target = urlsplit(database_url)
    tcp = TcpProxy(target.hostname or "127.0.0.1", target.port or 5432)
    loop_thread.run(tcp.start())
    yield tcp
    loop_thread.run(tcp.stop())


@pytest.fixture(scope="module")
def system(database_url, amqp_url, proxy, tmp_path_factory):
    with running_system(database_url, amqp_url, tmp_path_factory.mktemp("database"),
                        database_ports={"identity": proxy.port}) as running:
        yield running


async def _events_for(system, email: str) -> int:
    conn = await asyncpg.connect(system.by_name("identity").database_url)  # the real server, not the proxy
    try:
        return await conn.fetchval("SELECT count(*) FROM outbox WHERE lower(payload->>'email') = $1", email)
    finally:
        await conn.close()


async def test_identity_database_cut_shows_503_then_the_flow_resumes(system, proxy, loop_thread):
    tenant = await asyncio.to_thread(system.new_tenant, name="Syndic de la Base Coupée")
    refs = await asyncio.to_thread(directory, tenant, 2)
    issued = await asyncio.to_thread(tenant.issue_credentials, *refs)
    email = unique_email("cut")
    walker = Walker(system.base_url, tenant)
    other = Walker(system.base_url, tenant)
    try:
        await walker.post_form("activation", "/activation",
                               {"login": issued[refs[0]]["login"], "password": issued[refs[0]]["password"]},
                               expect="/activation/email")
        await walker.post_form("activation.email", "/activation/email", {"email": email},
                               expect="/activation/password")
        loop_thread.run(proxy.cut())
        try:
            with pytest.raises(StepFailed) as refused:
                await walker.post_form("activation.password", "/activation/password",
                                       {"password": "Resil-1!motdepasse", "confirmation": "Resil-1!motdepasse",
                                        "accept_terms": "yes"})
            assert refused.value.status == 503 and UNAVAILABLE in refused.value.detail
            with pytest.raises(StepFailed) as login_refused:
                await other.post_form("login", "/login/form", {"email": email, "password": "Resil-1!motdepasse"})
            assert login_refused.value.status == 503 and UNAVAILABLE in login_refused.value.detail
            assert int(login_refused.value.headers.get("Retry-After", "0")) > 0
            # Nothing half-written: no event for this person.
            assert await _events_for(system, email) == 0
        finally:
            loop_thread.run(proxy.restore())

        # The same browser goes on where it was (its flow is intact), once identity reconnects.
        async def password_accepted() -> bool:
            try:
                await walker.post_form("activation.password", "/activation/password",
                                       {"password": "Resil-1!motdepasse", "confirmation": "Resil-1!motdepasse",
                                        "accept_terms": "yes"}, expect="/activation/pending")
                return True
            except StepFailed as exc:
                assert exc.status == 503, exc
                return False

        await wait_until(password_accepted, timeout=60, interval=0.5, message="identity back")
        await walker.verify(system, email)
        await walker.login(email)
        await walker.listing()
    finally:
        await walker.close()
        await other.close()
    assert await _events_for(system, email) >= 1
    counts = await ledger(system)
    assert counts["parked"] == 0, counts
    # One verification email however many attempts (the other one is the "account linked" notice).
    assert len([m for m in system.emails_to(email) if "Confirmation" in m.subject]) == 1
    assert system.dead_services() == []

