"""The second factor's pure rules: the TOTP window, replay refusal, recovery codes, sealing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pyotp
import pytest

from services.identity.factors import (
    CodeKind,
    SecretBox,
    classify_code,
    generate_recovery_codes,
    new_totp_secret,
    normalise_recovery_code,
    otpauth_uri,
    requirement_applies,
    totp_step,
    verify_totp,
)

NOW = datetime(2026, 12, 3, 10, 0, 15, tzinfo=UTC)


def code_at(secret: str, moment: datetime) -> str:
    return pyotp.TOTP(secret).at(moment)


def test_a_code_of_the_current_step_and_of_one_step_either_side_is_accepted():
    secret = new_totp_secret()
    for offset in (-30, 0, 30):
        step = verify_totp(secret, code_at(secret, NOW + timedelta(seconds=offset)), now=NOW, last_step=None)
        assert step == totp_step(NOW + timedelta(seconds=offset))


def test_a_code_two_steps_away_is_refused():
    secret = new_totp_secret()
    for offset in (-61, 61, -3600):
        assert verify_totp(secret, code_at(secret, NOW + timedelta(seconds=offset)), now=NOW, last_step=None) is None


def test_a_code_is_accepted_once_and_an_older_one_not_after_a_newer():
    secret = new_totp_secret()
    code = code_at(secret, NOW)
    step = verify_totp(secret, code, now=NOW, last_step=None)
    assert step is not None
    # Replay of the same code in the same period, and a few seconds later: refused.
    assert verify_totp(secret, code, now=NOW, last_step=step) is None
    assert verify_totp(secret, code, now=NOW + timedelta(seconds=20), last_step=step) is None
    # The previous period's code, still in the window, after the current one was accepted: refused.
    assert verify_totp(secret, code_at(secret, NOW - timedelta(seconds=30)), now=NOW, last_step=step) is None
    # The next period's code is new: accepted.
    later = NOW + timedelta(seconds=30)
    assert verify_totp(secret, code_at(secret, later), now=later, last_step=step) == step + 1


@pytest.mark.parametrize("code", ["", "12345", "1234567", "abcdef", "12 34 5x"])
def test_malformed_codes_are_refused(code):
    assert verify_totp(new_totp_secret(), code, now=NOW, last_step=None) is None


def test_spaces_inside_a_typed_code_are_ignored():
    secret = new_totp_secret()
    code = code_at(secret, NOW)
    assert verify_totp(secret, f" {code[:3]} {code[3:]} ", now=NOW, last_step=None) is not None


def test_recovery_codes_are_ten_distinct_readable_codes():
    codes = generate_recovery_codes()
    assert len(codes) == 10 and len(set(codes)) == 10
    for code in codes:
        assert len(code) == 11 and code[5] == "-"
        assert not set(code.replace("-", "")) & set("01IOL")
        assert classify_code(code) == CodeKind.RECOVERY
        assert normalise_recovery_code(code.lower().replace("-", " ")) == code.replace("-", "")


def test_codes_are_told_apart():
    assert classify_code("123456") == CodeKind.TOTP
    assert classify_code("123 456") == CodeKind.TOTP
    assert classify_code("ABCDE-FGHJK") == CodeKind.RECOVERY
    assert classify_code("nope") is None


def test_sealed_secrets_open_only_with_the_key_and_for_the_same_person():
    box = SecretBox("a" * 40)
    sealed = box.seal("JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP", person_id="p1")
    assert b"JBSWY3DP" not in sealed
    assert box.open(sealed, person_id="p1") == "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
    assert box.open(sealed, person_id="p2") is None
    assert SecretBox("b" * 40).open(sealed, person_id="p1") is None


def test_the_otpauth_uri_names_the_issuer_and_the_account():
    uri = otpauth_uri("JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP", account="a@exemple.fr", issuer="Mon compte immobilier")
    assert uri.startswith("otpauth://totp/") and "issuer=Mon%20compte%20immobilier" in uri and "a%40exemple.fr" in uri


@pytest.mark.parametrize(("requirement", "council", "expected"), [
    ("none", True, False), (None, True, False), ("council", False, False), ("council", True, True),
    ("all", False, True), ("all", True, True)])
def test_the_agency_requirement(requirement, council, expected):
    assert requirement_applies(requirement, is_council=council) is expected
