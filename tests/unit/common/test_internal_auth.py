"""Internal tokens: only a fresh token signed with the deployment secret for this service passes."""

import time

import jwt
import pytest

from common.errors import Unauthorized
from common.internal_auth import issue_token, verify_token

SECRET = "s" * 40


def test_valid_token_carries_its_claims():
    token = issue_token(SECRET, issuer="gateway", audience="identity", request_id="req-12345678",
                        tid="t-1", acc=[{"tenant_id": "t-1", "account_id": "a-1", "role": "locataire"}], pid=None)
    claims = verify_token(SECRET, token, audience="identity")
    assert claims.issuer == "gateway"
    assert claims.request_id == "req-12345678"
    assert claims.tenant_id == "t-1"
    assert claims.accounts[0]["account_id"] == "a-1"
    assert "pid" not in claims  # None claims are dropped, not sent as null


def test_expired_token_is_refused():
    token = issue_token(SECRET, issuer="gateway", audience="identity", now=time.time() - 3600)
    with pytest.raises(Unauthorized) as err:
        verify_token(SECRET, token, audience="identity")
    assert err.value.extra["reason"] == "ExpiredSignatureError"


def test_expiry_uses_the_injected_clock():
    token = issue_token(SECRET, issuer="gateway", audience="identity", now=1_000_000, ttl_seconds=60)
    assert verify_token(SECRET, token, audience="identity", now=1_000_030).issuer == "gateway"
    with pytest.raises(Unauthorized):
        verify_token(SECRET, token, audience="identity", now=1_000_100)


def test_token_for_another_service_is_refused():
    token = issue_token(SECRET, issuer="gateway", audience="documents")
    with pytest.raises(Unauthorized) as err:
        verify_token(SECRET, token, audience="identity")
    assert err.value.extra["reason"] == "InvalidAudienceError"


def test_tampered_token_is_refused():
    token = issue_token(SECRET, issuer="gateway", audience="identity", pid="person-a")
    header, _payload, signature = token.split(".")
    forged_payload = jwt.encode({"iss": "gateway", "aud": "identity", "iat": 1, "exp": 2**40, "pid": "person-b"},
                                "other-secret-of-some-length-other-secret", algorithm="HS256").split(".")[1]
    with pytest.raises(Unauthorized):
        verify_token(SECRET, f"{header}.{forged_payload}.{signature}", audience="identity")


def test_token_signed_with_another_secret_is_refused():
    token = issue_token("another-secret-another-secret-another!!", issuer="gateway", audience="identity")
    with pytest.raises(Unauthorized):
        verify_token(SECRET, token, audience="identity")


def test_unsigned_token_is_refused():
    token = jwt.encode({"iss": "gateway", "aud": "identity", "iat": int(time.time()), "exp": int(time.time()) + 60},
                       None, algorithm="none")
    with pytest.raises(Unauthorized):
        verify_token(SECRET, token, audience="identity")
