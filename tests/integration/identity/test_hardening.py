"""Saturation answers 429, hashes follow parameter changes, the tenant's minimum length applies."""

from __future__ import annotations

import asyncio

from aiohttp import web

from common.internal_auth import verify_token
from services.identity.hashing import Hasher
from services.identity.routes import DEPS
from services.identity.tenants import TenantPolicy
from tests.integration.identity.conftest import STRONG_PASSWORD, unique_email


async def test_login_beyond_hashing_saturation_answers_429(identity):
    email = unique_email()
    await identity.activate(await identity.issue(), email)
    deps = identity.client.app[DEPS]
    deps.hasher.close()
    deps.hasher = Hasher(memory_kib=16384, time_cost=8, parallelism=1, workers=1, queue_per_worker=1)  # ~0.1 s
    responses = await asyncio.gather(*(identity.login(email, ip=f"192.0.2.{i}") for i in range(8)))
    statuses = sorted(r.status for r in responses)
    assert statuses.count(200) >= 2 and statuses.count(429) >= 3, statuses
    busy = [await r.json() for r in responses if r.status == 429]
    assert all(b["error"] == "busy" and b["retry_after"] >= 1 for b in busy)


async def test_login_rehashes_when_parameters_change(identity):
    email = unique_email()
    await identity.activate(await identity.issue(), email)
    [before] = await identity.sql("SELECT password_hash FROM persons WHERE email = $1", email)
    assert "t=1" in before["password_hash"]
    deps = identity.client.app[DEPS]
    deps.hasher = Hasher(memory_kib=1024, time_cost=2, parallelism=1, workers=1)
    assert (await identity.login(email)).status == 200
    [after] = await identity.sql("SELECT password_hash FROM persons WHERE email = $1", email)
    assert "t=2" in after["password_hash"]
    assert (await identity.login(email)).status == 200


async def test_tenant_minimum_length_from_tenancy_with_fallback(identity, aiohttp_server):
    secret = identity.settings.internal_auth_secret.get_secret_value()
    seen = []

    async def tenant(request: web.Request) -> web.Response:
        claims = verify_token(secret, request.headers["Authorization"].split(" ", 1)[1], audience="tenancy")
        seen.append((claims["iss"], request.match_info["id"]))
        return web.json_response({"id": request.match_info["id"],
                                  "settings": {"password_min_length": 10, "credential_ttl_days": 60}})

    app = web.Application()
    app.router.add_get("/internal/tenants/{id}", tenant)
    server = await aiohttp_server(app)
    deps = identity.client.app[DEPS]
    deps.tenants = TenantPolicy(tenancy_url=str(server.make_url("")), secret=secret, default_min_length=6)
    try:
        for _ in range(2):
            body = await (await identity.post("/v1/password/policy", {"password": "Court-1!"})).json()
            assert body["criteria"][0] == {"code": "min_length", "label": "Au moins 10 caractères", "ok": False}
        assert seen == [("identity", identity.tenant.id)]  # cached
        # The activation form enforces the same minimum.
        cred = await identity.issue()
        flow = await identity.start(cred)
        await identity.post(f"/v1/activation/{flow['flow_id']}/email", {"email": unique_email()})
        response = await identity.post(f"/v1/activation/{flow['flow_id']}/password",
                                       {"password": "Court-1!", "confirmation": "Court-1!", "accept_terms": True})
        assert response.status == 422
        response = await identity.post(f"/v1/activation/{flow['flow_id']}/password",
                                       {"password": STRONG_PASSWORD, "confirmation": STRONG_PASSWORD,
                                        "accept_terms": True})
        assert response.status == 200
    finally:
        await deps.tenants.close()
    url = str(server.make_url(""))
    await server.close()
    deps.tenants = TenantPolicy(tenancy_url=url, secret=secret, default_min_length=6)
    try:
        body = await (await identity.post("/v1/password/policy", {"password": "Court-1!"})).json()
        assert body["ok"] is True  # tenancy unreachable: the deployment minimum applies
    finally:
        await deps.tenants.close()


async def test_login_outcomes_are_counted_in_the_metrics(identity):
    email = unique_email()
    await identity.activate(await identity.issue(), email)
    await identity.login(email)
    await identity.login(email, "Mauvais-1")
    await identity.login("inconnu@exemple.fr")
    text = await (await identity.client.get("/metrics")).text()
    assert 'identity_logins_total{outcome="success"} 1.0' in text
    assert 'identity_logins_total{outcome="invalid"} 2.0' in text
