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


async def test_a_public_api_token_reaches_only_public_routes(aiohttp_client):
    from aiohttp import web

    from common.http import create_base_app
    from common.internal_auth import PUBLIC_API, internal_auth_middleware
    from common.settings import ProcessSettings, load_settings

    async def ok(request: web.Request) -> web.Response:
        return web.json_response({"ok": True})

    app = create_base_app(load_settings(ProcessSettings), service="svc",
                          middlewares=[internal_auth_middleware(SECRET, "svc")])
    app.router.add_get("/api/v1/things/{id}", ok)
    app.router.add_get("/internal/things/{id}", ok)
    app.router.add_get("/v1/things", ok)
    client = await aiohttp_client(app)

    def auth(**claims) -> dict:
        return {"Authorization": f"Internal {issue_token(SECRET, issuer='gateway', audience='svc', **claims)}"}

    public = auth(act="agency", tid="t", via=PUBLIC_API)
    assert (await client.get("/api/v1/things/1", headers=public)).status == 200
    for path in ("/internal/things/1", "/v1/things", "/nowhere"):
        response = await client.get(path, headers=public)
        assert response.status == 403 and (await response.json())["error"] == "forbidden", path
    # A service's own call (no "via") is not concerned; an "act" claim alone is not a public call.
    assert (await client.get("/internal/things/1", headers=auth(tid="t"))).status == 200
    assert (await client.get("/internal/things/1", headers=auth(act="operator"))).status == 200
