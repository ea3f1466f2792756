"""Pure rules: identifiers, credential states, flow transitions, tokens, throttling arithmetic."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from services.identity import domain as d

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def test_identifiers_are_short_unambiguous_and_random():
    logins = {d.generate_login() for _ in range(2000)}
    assert len(logins) == 2000
    for login in logins:
        assert len(login) == 8 and not set(login) & set("0O1IlL") - set(d.LOGIN_ALPHABET)
        assert set(login) <= set(d.LOGIN_ALPHABET)
    assert not set(d.LOGIN_ALPHABET) & set("0O1Il")
    assert not set(d.PASSWORD_ALPHABET) & set("0O1Il")


def test_provisional_password_entropy_is_at_least_60_bits():
    import math

    assert d.PASSWORD_LENGTH * math.log2(len(d.PASSWORD_ALPHABET)) >= 60
    password = d.generate_provisional_password()
    assert len(password) == 12 and set(password) <= set(d.PASSWORD_ALPHABET)


def test_login_typed_back_loosely_is_recognised():
    assert d.normalise_login(" k7q2-m9xd ") == "K7Q2M9XD"


@pytest.mark.parametrize(("status", "expires_in", "expected"), [
    ("issued", 1, "issued"), ("issued", 0, "expired"), ("issued", -5, "expired"),
    ("activating", 1, "activating"), ("activating", -1, "expired"),
    ("activated", -1, "activated"), ("merged", -1, "merged"), ("revoked", 1, "revoked"),
])
def test_credential_effective_state(status, expires_in, expected):
    assert d.credential_state(status, NOW + timedelta(seconds=expires_in), NOW) == expected


def test_credential_locks_after_five_failures_for_fifteen_minutes():
    failures, locked = 0, None
    for _ in range(4):
        failures, locked = d.credential_failure(failures, NOW, max_failures=5, lock_seconds=900)
        assert locked is None
    assert failures == 4
    failures, locked = d.credential_failure(failures, NOW, max_failures=5, lock_seconds=900)
    assert failures == 0 and locked == NOW + timedelta(minutes=15)


# ---- flow state machine -----------------------------------------------------------------------

ALL_STEPS = list(d.FlowStep)


@pytest.mark.parametrize("action", sorted(d.ALLOWED_FROM))
@pytest.mark.parametrize("step", ALL_STEPS)
def test_every_transition_allowed_or_refused(action, step):
    allowed = {
        "email": {"email", "password", "merge"},
        "password": {"password"},
        "merge": {"merge"},
        "resend": {"pending_verification"},
        "restart": {"pending_verification", "password", "merge"},
    }[action]
    if step in allowed:
        assert d.require_step(step, action) == step
    else:
        with pytest.raises(d.StepRefused) as info:
            d.require_step(step, action)
        assert info.value.current == step


def test_email_step_goes_to_password_or_merge():
    assert d.step_after_email(email_belongs_to_person=False) == d.FlowStep.PASSWORD
    assert d.step_after_email(email_belongs_to_person=True) == d.FlowStep.MERGE


def test_start_resumes_pending_activation_and_refuses_dead_credentials():
    assert d.step_after_start(d.CredentialStatus.ISSUED) == d.FlowStep.EMAIL
    assert d.step_after_start(d.CredentialStatus.ACTIVATING) == d.FlowStep.PENDING_VERIFICATION
    for dead in ("activated", "merged", "revoked", "expired"):
        with pytest.raises(d.StepRefused):
            d.step_after_start(d.CredentialStatus(dead))


# ---- emails and tokens -------------------------------------------------------------------------

def test_email_normalisation_and_key():
    email = d.normalise_email("  Jean.Dupont@Exemple.FR ")
    assert email == "Jean.Dupont@exemple.fr"
    assert d.email_key(email) == d.email_key("jean.dupont@EXEMPLE.fr".replace("EXEMPLE", "exemple"))
    for bad in ("", "jean", "jean@", "@exemple.fr", "a b@exemple.fr", "x" * 250 + "@exemple.fr"):
        with pytest.raises(d.InvalidEmail):
            d.normalise_email(bad)


def test_secrets_are_long_and_hashed_with_a_key():
    raw = d.new_secret(16)
    assert len(raw) >= 22
    assert d.hash_secret(b"k1", raw) == d.hash_secret(b"k1", raw)
    assert d.hash_secret(b"k1", raw) != d.hash_secret(b"k2", raw)
    assert raw.encode() not in d.hash_secret(b"k1", raw)


def test_provisional_passwords_get_a_keyed_hash_apart_from_tokens():
    password = d.generate_provisional_password()
    stored = d.hash_provisional_password(b"k1", password)
    assert stored.startswith(d.PROVISIONAL_HASH_PREFIX) and d.is_keyed_provisional_hash(stored)
    assert password not in stored and not d.is_keyed_provisional_hash("$argon2id$v=19$m=19456,t=2,p=1$x$y")
    assert d.hash_provisional_password(b"k2", password) != stored
    # Its own derived key: never the hash a token of the same text would get.
    assert bytes.fromhex(stored.removeprefix(d.PROVISIONAL_HASH_PREFIX)) != d.hash_secret(b"k1", password)
    assert d.provisional_password_matches(b"k1", stored, password)
    assert not d.provisional_password_matches(b"k1", stored, password + "x")
    assert not d.provisional_password_matches(b"k2", stored, password)
    assert not d.provisional_password_matches(b"k1", None, password)  # the unknown identifier's dummy


def test_token_single_use_and_expiry():
    assert d.token_usable(expires_at=NOW + timedelta(seconds=1), used_at=None, now=NOW)
    assert not d.token_usable(expires_at=NOW, used_at=None, now=NOW)
    assert not d.token_usable(expires_at=NOW + timedelta(hours=1), used_at=NOW, now=NOW)


# ---- throttling --------------------------------------------------------------------------------

def _gate(failures, last=None, locked=None, now=NOW):
    return d.login_gate(failures=failures, last_failed_at=last, locked_until=locked, now=now, delay_after=5,
                        max_delay=60)


def test_no_delay_before_five_failures():
    assert _gate(4, last=NOW).allowed


def test_delay_grows_from_five_failures():
    for failures, delay in ((5, 1), (6, 2), (7, 4), (8, 8), (9, 16)):
        gate = _gate(failures, last=NOW)
        assert not gate.allowed and gate.retry_after == delay
        assert _gate(failures, last=NOW, now=NOW + timedelta(seconds=delay)).allowed


def test_delay_is_capped():
    assert _gate(30, last=NOW).retry_after == 60


def test_lock_after_ten_failures_then_free_again():
    failures, locked = 0, None
    for _ in range(9):
        failures, locked = d.login_failure(failures=failures, locked_until=locked, now=NOW, lock_after=10,
                                           lock_seconds=900)
    assert failures == 9 and locked is None
    failures, locked = d.login_failure(failures=failures, locked_until=locked, now=NOW, lock_after=10,
                                       lock_seconds=900)
    assert failures == 0 and locked == NOW + timedelta(minutes=15)
    gate = _gate(failures, locked=locked, now=NOW + timedelta(minutes=14, seconds=59))
    assert not gate.allowed and gate.retry_after == 1
    assert _gate(failures, locked=locked, now=NOW + timedelta(minutes=15)).allowed  # never permanent


def test_expired_lock_is_forgotten_on_the_next_failure():
    failures, locked = d.login_failure(failures=0, locked_until=NOW - timedelta(seconds=1), now=NOW,
                                       lock_after=10, lock_seconds=900)
    assert (failures, locked) == (1, None)


def test_fixed_window_counts_until_the_limit_then_reopens():
    window = None
    for _ in range(3):
        window, retry = d.window_hit(window, now=NOW, limit=3, period_seconds=3600)
        assert retry is None
    later = NOW + timedelta(minutes=10)
    refused, retry = d.window_hit(window, now=later, limit=3, period_seconds=3600)
    assert retry == 50 * 60 and refused.count == 3
    window, retry = d.window_hit(window, now=NOW + timedelta(hours=1), limit=3, period_seconds=3600)
    assert retry is None and window.count == 1


def test_resend_available_at_is_the_later_of_the_cooldown_and_the_hourly_limit():
    def at(window, last_at, now):
        return d.resend_available_at(window, last_at=last_at, now=now, cooldown_seconds=60, limit=5,
                                     period_seconds=3600)

    assert at(None, None, NOW) is None
    assert at(d.Window(0, NOW), NOW, NOW) is None  # a window row never hit
    # One email: the cooldown runs from it, then "now".
    assert at(d.Window(1, NOW), NOW, NOW + timedelta(seconds=10)) == NOW + timedelta(seconds=60)
    assert at(d.Window(1, NOW), NOW, NOW + timedelta(seconds=60)) is None
    # Five emails in the window: the window's end, even long after the cooldown.
    last = NOW + timedelta(minutes=20)
    assert at(d.Window(5, NOW), last, last + timedelta(seconds=5)) == NOW + timedelta(hours=1)
    assert at(d.Window(5, NOW), last, NOW + timedelta(hours=1)) is None
    # Below the limit only the cooldown counts.
    assert at(d.Window(4, NOW), last, last + timedelta(seconds=5)) == last + timedelta(seconds=60)
    # Without a cooldown (tests), nothing to wait for below the limit.
    assert d.resend_available_at(d.Window(1, NOW), last_at=NOW, now=NOW, cooldown_seconds=0, limit=5,
                                 period_seconds=3600) is None
