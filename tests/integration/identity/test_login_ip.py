"""Login failures per client IP (the ``ip`` claim of the internal token) answer 429."""

from __future__ import annotations

import pytest

from tests.integration.identity.conftest import unique_email
from tests.integration.identity.test_login import _person, _session


@pytest.fixture
def identity_settings_overrides():
    return {"ip_failure_limit": 3}


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
