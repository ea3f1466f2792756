"""Settings that refuse unsafe values, and the bounded hashing pool."""

from __future__ import annotations

import asyncio

import pytest

from common.settings import SettingsError, load_settings
from services.identity.hashing import Hasher, HasherBusy
from services.identity.settings import IdentitySettings

STRONG = "k" * 40


def test_production_refuses_the_development_token_key():
    with pytest.raises(SettingsError, match="IDENTITY_TOKEN_HASH_KEY"):
        load_settings(IdentitySettings, environment="production", internal_auth_secret=STRONG)
    # The key sealing the authenticator secrets (issue 15) is refused as a placeholder alike.
    with pytest.raises(SettingsError, match="IDENTITY_MFA_KEY"):
        load_settings(IdentitySettings, environment="production", internal_auth_secret=STRONG,
                      token_hash_key="a-real-random-key-of-enough-length")
    settings = load_settings(IdentitySettings, environment="production", internal_auth_secret=STRONG,
                             token_hash_key="a-real-random-key-of-enough-length",
                             mfa_key="another-real-random-key-of-enough-length")
    assert "a-real" not in repr(settings) and "another-real" not in repr(settings)  # SecretStr never printed


def test_defaults_are_owasp_argon2_and_the_guides_durations():
    settings = IdentitySettings()
    assert (settings.argon2_memory_kib, settings.argon2_time_cost, settings.argon2_parallelism) == (19456, 2, 1)
    assert settings.session_idle_seconds == 1800 and settings.session_absolute_seconds == 12 * 3600
    assert settings.verification_token_ttl_seconds == 86400 and settings.reset_token_ttl_seconds == 3600
    assert settings.password_min_length == 6 and settings.credential_ttl_days == 60


def test_incoherent_throttling_refused():
    with pytest.raises(SettingsError):
        load_settings(IdentitySettings, login_delay_after_failures=10, login_lock_after_failures=5)


async def test_hasher_round_trip_and_rehash_detection():
    cheap = Hasher(memory_kib=1024, time_cost=1, parallelism=1, workers=1)
    stronger = Hasher(memory_kib=1024, time_cost=2, parallelism=1, workers=1)
    try:
        stored = await cheap.hash("Vue-sur-mer-42")
        assert stored.startswith("$argon2id$") and "m=1024,t=1,p=1" in stored
        assert await cheap.verify(stored, "Vue-sur-mer-42") == (True, False)
        assert await cheap.verify(stored, "Vue-sur-mer-43") == (False, False)
        assert await stronger.verify(stored, "Vue-sur-mer-42") == (True, True)
        assert await cheap.verify(None, "anything") == (False, False)
        assert await cheap.verify("not-a-hash", "anything") == (False, False)
    finally:
        cheap.close()
        stronger.close()


async def test_hasher_refuses_beyond_its_bounded_queue():
    hasher = Hasher(memory_kib=4096, time_cost=3, parallelism=1, workers=1, queue_per_worker=1)
    try:
        stored = await hasher.hash("Vue-sur-mer-42")
        results = await asyncio.gather(*(hasher.verify(stored, "Vue-sur-mer-42") for _ in range(6)),
                                       return_exceptions=True)
        busy = [r for r in results if isinstance(r, HasherBusy)]
        assert len(busy) == 4 and results[:2] == [(True, False), (True, False)]
        assert await hasher.verify(stored, "Vue-sur-mer-42") == (True, False)  # free again afterwards
    finally:
        hasher.close()


async def test_hashing_is_bounded_like_verifying():
    # A batch of hashes (bulk issuance did this) must not queue without limit ahead of logins.
    hasher = Hasher(memory_kib=4096, time_cost=3, parallelism=1, workers=1, queue_per_worker=1)
    try:
        results = await asyncio.gather(*(hasher.hash("Vue-sur-mer-42") for _ in range(6)), return_exceptions=True)
        assert sum(isinstance(r, HasherBusy) for r in results) == 4
    finally:
        hasher.close()


async def test_hashing_threads_run_at_a_lower_priority():
    import os
    import threading

    base = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    hasher = Hasher(memory_kib=1024, time_cost=1, parallelism=1, workers=1, nice=7)
    try:
        thread_nice = await asyncio.get_running_loop().run_in_executor(
            hasher._pool, lambda: os.getpriority(os.PRIO_PROCESS, threading.get_native_id()))
        assert thread_nice == min(19, base + 7)
        assert os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) == base  # the event loop keeps its own
    finally:
        hasher.close()


async def test_hashing_threads_run_under_sched_idle_when_asked_and_the_event_loop_does_not():
    import os
    import threading

    def policy() -> int:
        return os.sched_getscheduler(threading.get_native_id())

    loop = asyncio.get_running_loop()
    idle = Hasher(memory_kib=1024, time_cost=1, parallelism=1, workers=1, nice=3, idle=True)
    plain = Hasher(memory_kib=1024, time_cost=1, parallelism=1, workers=1, nice=3)
    try:
        assert await loop.run_in_executor(idle._pool, policy) == os.SCHED_IDLE
        assert await loop.run_in_executor(plain._pool, policy) == os.SCHED_OTHER
        assert policy() == os.SCHED_OTHER  # the event loop keeps its own
        stored = await idle.hash("Vue-sur-mer-42")
        assert await idle.verify(stored, "Vue-sur-mer-42") == (True, False)  # and hashing still runs
    finally:
        idle.close()
        plain.close()
