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


def test_token_signer_matches_pyjwt_encode_byte_for_byte():
    from common.internal_auth import TokenSigner

    SECRET = "an-internal-secret-of-32-bytes-or-more"
    claims = {"tid": "t-1", "tcc": "ADB01", "tsc": "01", "ip": "203.0.113.9", "pid": None,
              "acc": [{"tenant_id": "t-1", "account_id": "a-1", "role": "locataire"}], "sref": "s"}
    now = int(time.time())
    mine = TokenSigner(SECRET, issuer="gateway").sign(audience="documents", request_id="rid-12345678", claims=claims,
                                                      now=now)
    body = {"iss": "gateway", "aud": "documents", "iat": now, "exp": now + 60, "rid": "rid-12345678",
            **{k: v for k, v in claims.items() if v is not None}}
    assert mine == jwt.encode(body, SECRET, algorithm="HS256")
    assert issue_token(SECRET, issuer="gateway", audience="documents", request_id="rid-12345678", now=now,
                       **claims) == mine
    verified = verify_token(SECRET, mine, audience="documents")
    assert verified.accounts == claims["acc"] and verified.issuer == "gateway" and "pid" not in verified


# -- the fast path for our issuers' tokens (common.internal_auth._accept_common_token) -------------

def _sign(header: bytes, payload: bytes, secret: str = SECRET) -> str:
    """A compact JWS over exactly these segments (already base64url), signed with ``secret``."""
    import base64
    import hashlib
    import hmac

    signing_input = header + b"." + payload
    signature = base64.urlsafe_b64encode(hmac.new(secret.encode(), signing_input, hashlib.sha256).digest()).rstrip(b"=")
    return (signing_input + b"." + signature).decode()


def _b64(data: bytes) -> bytes:
    import base64

    return base64.urlsafe_b64encode(data).rstrip(b"=")


def _outcome(verify, token: str, now: float | None):
    try:
        return ("accepted", dict(verify(SECRET, token, audience="identity", now=now)))
    except Unauthorized as exc:
        return ("refused", exc.extra.get("reason"))


def _token_corpus() -> list[str]:
    """Valid tokens, every one-character change of one, other headers, and every unusual claim."""
    import json

    from common.internal_auth import TokenSigner

    now = int(time.time())
    header = _b64(b'{"alg":"HS256","typ":"JWT"}')
    base = {"iss": "gateway", "aud": "identity", "iat": now, "exp": now + 60, "rid": "r-12345678"}
    valid = issue_token(SECRET, issuer="gateway", audience="identity", request_id="r-12345678", tid="t-1")
    signed_by_the_gateway = TokenSigner(SECRET, issuer="gateway").sign(audience="identity", request_id="r-1",
                                                                       claims={"via": "public-api"})
    corpus = [valid, signed_by_the_gateway]
    for position in range(len(valid)):
        for replacement in ("A", "_", "."):
            if valid[position] != replacement:
                corpus.append(valid[:position] + replacement + valid[position + 1:])
    corpus += [valid + "=", valid.replace(".", "..", 1), valid + ".x", "", ".", "..", "é" + valid]
    for other_header in (b'{"alg":"HS256"}', b'{"typ":"JWT","alg":"HS256"}', b'{"alg":"HS256","typ":"JWT","kid":1}',
                         b'{"alg":"HS256","typ":"JWT","crit":["x"]}', b'{"alg":"none","typ":"JWT"}',
                         b'{"alg":"HS384","typ":"JWT"}', b'[]'):
        corpus.append(_sign(_b64(other_header), _b64(json.dumps(base).encode())))
    variants = [
        {}, {"exp": now - 3600}, {"exp": now - 4}, {"exp": now - 6}, {"exp": float(now + 60)}, {"exp": str(now + 60)},
        {"exp": True}, {"exp": None}, {"iat": now + 4}, {"iat": now + 60}, {"iat": float(now)}, {"iat": str(now)},
        {"iat": None}, {"aud": ["identity"]}, {"aud": "documents"}, {"aud": ""}, {"aud": 1}, {"aud": None},
        {"iss": None}, {"iss": 7}, {"nbf": now + 60}, {"nbf": now - 60}, {"sub": 1}, {"sub": "x"}, {"jti": 2},
    ]
    for change in variants:
        claims = {**base, **change}
        corpus.append(_sign(header, _b64(json.dumps({k: v for k, v in claims.items() if v is not None}).encode())))
        corpus.append(_sign(header, _b64(json.dumps(claims).encode())))
    for name in ("exp", "iat", "iss", "aud"):
        corpus.append(_sign(header, _b64(json.dumps({k: v for k, v in base.items() if k != name}).encode())))
    payload = _b64(json.dumps(base).encode())
    corpus += [_sign(header, _b64(b"[1, 2]")), _sign(header, _b64(b"not json")), _sign(header, _b64(b'"text"')),
               _sign(header, payload + b"="), _sign(header, payload + b"!"), _sign(header, b""),
               _sign(header, payload, secret="another-secret-another-secret-another!!")]
    # The same claims in a non-canonical base64 form: a length whose last character has unused bits,
    # and those bits set (the decoded bytes are the same, the segment is not the one PyJWT makes).
    canonical = next(encoded for pad in range(4)
                     if len(encoded := _b64(json.dumps({**base, "x": "a" * pad}).encode())) % 4 in (2, 3))
    alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    last = alphabet.index(canonical[-1:])
    corpus.append(_sign(header, canonical[:-1] + alphabet[last + 1:last + 2]))
    return corpus


@pytest.mark.parametrize("now", [None, "inside", "past expiry"])
def test_the_fast_path_decides_every_token_as_pyjwt_does(now):
    from common.internal_auth import _verify_with_pyjwt

    clock = {None: None, "inside": time.time() + 30, "past expiry": time.time() + 600}[now]
    corpus = _token_corpus()
    assert len(corpus) > 500
    differences = [(token, mine, reference) for token in corpus
                   if (mine := _outcome(verify_token, token, clock))
                   != (reference := _outcome(_verify_with_pyjwt, token, clock))]
    assert differences == []
    accepted = sum(_outcome(verify_token, token, clock)[0] == "accepted" for token in corpus)
    if now == "past expiry":
        assert accepted == 0  # every token of the corpus expires within a minute
    else:
        assert accepted >= 10  # the corpus holds both outcomes


def test_our_issuers_tokens_take_the_fast_path():
    """Without this, a fast path that always fell back would pass every test above, only slower."""
    from common.internal_auth import TokenSigner, _accept_common_token

    for token in (issue_token(SECRET, issuer="gateway", audience="identity", tid="t-1", acc=[{"a": 1}]),
                  issue_token(SECRET, issuer="documents", audience="identity", request_id="r-12345678"),
                  TokenSigner(SECRET, issuer="gateway").sign(audience="identity", request_id="r-1",
                                                             claims={"via": "public-api"})):
        claims = _accept_common_token(SECRET, token, audience="identity", now=None)
        assert claims is not None and claims["aud"] == "identity"
    tampered = issue_token(SECRET, issuer="gateway", audience="identity")[:-2] + "AA"
    assert _accept_common_token(SECRET, tampered, audience="identity", now=None) is None
