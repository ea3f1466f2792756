"""Login failures per client IP (the ``ip`` claim of the internal token) answer 429."""

from __future__ import annotations

import pytest

from tests.integration.identity.conftest import unique_email
from tests.integration.identity.test_login import _person, _session


@pytest.fixture
def identity_settings_overrides():
    return {"ip_failure_limit": 3, "forgot_per_ip_per_hour": 2}


async def test_failures_per_ip_answer_429(identity):
    email, _ = await _person(identity)
    for _ in range(3):
        assert (await identity.login(unique_email(), "x", ip="198.51.100.1")).status == 401
    response = await identity.login(email, ip="198.51.100.1")
    body = await response.json()
    assert response.status == 429 and body["retry_after"] > 0
    await _session(identity, email, ip="198.51.100.2")  # another IP is not affected
    identity.clock.advance(minutes=15)
    await _session(identity, email, ip="198.51.100.1")


async def test_forgot_is_rate_limited_per_ip(identity):
    emails = [(await _person(identity))[0] for _ in range(3)]
    for email in emails:
        response = await identity.post("/v1/password/forgot", {"identifier": email}, ip="198.51.100.9")
        assert response.status == 202
    sent = [e["email"] for e in await identity.events("identity.password_reset_requested")]
    assert sent == emails[:2]
    await identity.post("/v1/password/forgot", {"identifier": emails[2]}, ip="198.51.100.10")
    assert len(await identity.events("identity.password_reset_requested")) == 3
