"""Replicas: round robin, failover to another replica, and the French 503 when none answers."""

from __future__ import annotations

import asyncio

import pytest

from common.testing import free_port
from gateway.app import create_app
from tests.integration.gateway import standins
from tests.integration.gateway.conftest import System, calls, gateway_settings, visible

PASSWORD = "Azerty1*moncompte"


@pytest.fixture
async def hangup_server():
    """A replica that accepts connections and closes them at once (a crashing process)."""

    async def handle(reader, writer):
        await reader.read(1)
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    yield f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
    server.close()
    await server.wait_closed()


async def _system(standin_servers, aiohttp_client, **url_overrides) -> System:
    apps, servers = standin_servers
    urls = {name: str(server.make_url("")).rstrip("/") for name, server in servers.items()}
    urls.update(url_overrides)
    tenant = standins.add_tenant(apps["tenancy"], client="FAIL1", societe="01", name="Agence Résiliente")
    client = await aiohttp_client(create_app(gateway_settings(urls)))
    return System(client, apps["identity"], apps["tenancy"], apps["documents"], tenant, servers)


async def test_a_dead_replica_is_skipped(standin_servers, aiohttp_client):
    _, servers = standin_servers
    dead = f"http://127.0.0.1:{free_port()}"
    live = {name: str(server.make_url("")).rstrip("/") for name, server in servers.items()}
    system = await _system(standin_servers, aiohttp_client, tenancy=f"{dead},{live['tenancy']}",
                           identity=f"{dead},{live['identity']}")
    account = standins.add_account(system.tenancy, system.tenant)
    standins.add_person(system.identity, "failover@example.org", PASSWORD, [account])
    for _ in range(3):  # every call, whichever replica the round robin starts at
        await system.login("failover@example.org", PASSWORD)
        assert (await system.get("/dashboard")).status == 200
    assert len(calls(system.identity, "/v1/login")) == 3


async def test_idempotent_calls_retry_after_a_broken_connection(standin_servers, aiohttp_client, hangup_server):
    _, servers = standin_servers
    live = {name: str(server.make_url("")).rstrip("/") for name, server in servers.items()}
    system = await _system(standin_servers, aiohttp_client, identity=f"{hangup_server},{live['identity']}",
                           tenancy=f"{hangup_server},{live['tenancy']}")
    account = standins.add_account(system.tenancy, system.tenant)
    standins.add_person(system.identity, "broken@example.org", PASSWORD, [account])
    # The resolve GET and the introspection POST (flagged safe) move to the live replica.
    statuses = []
    for _ in range(4):
        response = await system.post("/login/form", {"email": "broken@example.org", "password": PASSWORD})
        statuses.append(response.status)
        if response.status == 303:
            assert (await system.get("/dashboard")).status == 200
    # A login POST is not repeated after a broken connection: when it hit the broken replica the
    # person sees the 503 page, never a double login.
    assert set(statuses) <= {303, 503} and 303 in statuses
    assert len(calls(system.identity, "/v1/login")) == statuses.count(303)


async def test_round_robin_spreads_calls(aiohttp_server, aiohttp_client, standin_servers):
    _apps, servers = standin_servers
    second = await aiohttp_server(standins.identity_app())
    urls = {name: str(server.make_url("")).rstrip("/") for name, server in servers.items()}
    system = await _system(standin_servers, aiohttp_client,
                           identity=f"{urls['identity']},{str(second.make_url('')).rstrip('/')}")
    for _ in range(4):
        await system.post("/password/forgot", {"identifier": "x@example.org"})
    assert len(calls(system.identity, "/v1/password/forgot")) == 2
    assert len(calls(second.app, "/v1/password/forgot")) == 2


async def test_no_replica_answers_gives_the_503_page(standin_servers, aiohttp_client):
    dead = ",".join(f"http://127.0.0.1:{free_port()}" for _ in range(2))
    system = await _system(standin_servers, aiohttp_client, identity=dead)
    response = await system.post("/login/form", {"email": "a@example.org", "password": "x"})
    assert response.status == 503
    html = visible(await response.text())
    assert "Service momentanément indisponible" in html and "Veuillez réessayer dans quelques instants." in html
    assert response.headers["Content-Security-Policy"].startswith("default-src 'self'")
    assert response.headers["Retry-After"] == "5"


async def test_api_gives_a_json_503_when_the_service_is_down(standin_servers, aiohttp_client):
    from tests.integration.gateway.conftest import OPERATOR_TOKEN

    system = await _system(standin_servers, aiohttp_client, documents=f"http://127.0.0.1:{free_port()}")
    response = await system.client.get("/api/v1/documents/x", headers={"Authorization": f"Bearer {OPERATOR_TOKEN}"})
    assert response.status == 503 and (await response.json())["error"] == "service_unavailable"


async def test_api_gets_move_past_dead_and_broken_replicas(standin_servers, aiohttp_client, hangup_server):
    from tests.integration.gateway.conftest import OPERATOR_TOKEN

    _, servers = standin_servers
    live = str(servers["tenancy"].make_url("")).rstrip("/")
    dead = f"http://127.0.0.1:{free_port()}"
    system = await _system(standin_servers, aiohttp_client, tenancy=f"{dead},{hangup_server},{live}")
    for _ in range(4):  # the round robin starts at each replica in turn
        response = await system.client.get("/api/v1/activation-stats",
                                           headers={"Authorization": f"Bearer {OPERATOR_TOKEN}"})
        assert response.status == 200 and (await response.json())["path"] == "/api/v1/activation-stats"
    assert len(calls(system.tenancy, "/api/v1/activation-stats")) == 4


async def test_a_replica_answering_503_is_skipped_for_safe_calls(standin_servers, aiohttp_client, aiohttp_server):
    from aiohttp import web

    unavailable = web.Application()
    hits = []

    async def refuse(request):
        hits.append(request.path)
        return web.json_response({"error": "unavailable"}, status=503)

    unavailable.router.add_route("*", "/{tail:.*}", refuse)
    sick = await aiohttp_server(unavailable)
    _, servers = standin_servers
    live = str(servers["tenancy"].make_url("")).rstrip("/")
    system = await _system(standin_servers, aiohttp_client, tenancy=f"{str(sick.make_url('')).rstrip('/')},{live}")
    assert (await system.get("/login")).status == 200
    assert hits == ["/internal/tenants/resolve"]
