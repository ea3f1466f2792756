"""One running system (tests/e2e/system.py) for the fuzz package: the OpenAPI fuzzing and the
state machines each use their own tenant. Throttles that a generated sequence would trip on
purpose-free (login delays, forgot and resend quotas) are raised: they have their own tests."""

from __future__ import annotations

import pytest

from tests.resilience.support import running_system

FUZZ_ENV = {
    "IDENTITY_LOGIN_DELAY_AFTER_FAILURES": "1000",
    "IDENTITY_LOGIN_LOCK_AFTER_FAILURES": "2000",
    "IDENTITY_FORGOT_PER_TARGET_PER_HOUR": "100000",
    "IDENTITY_RESEND_PER_HOUR": "100000",
    "IDENTITY_CREDENTIAL_MAX_FAILURES": "100000",
    "IDENTITY_EMAIL_CHOICES_PER_HOUR": "100000",
}


@pytest.fixture(scope="package")
def system(database_url, amqp_url, tmp_path_factory):
    with running_system(database_url, amqp_url, tmp_path_factory.mktemp("fuzz"), extra_env=FUZZ_ENV) as running:
        yield running
