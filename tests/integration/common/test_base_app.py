"""What every service gets from create_base_app, checked on a real service app."""

import re
from urllib.parse import urlsplit, urlunsplit

import pytest
from aiohttp import web

from common.db import migrate
from common.errors import Conflict
from common.http import create_base_app
from common.internal_auth import issue_token
from common.service import common_track
from common.testing import TcpProxy, wait_until
from services.identity.app import create_app
from services.identity.settings import IdentitySettings

SECRET = "integration-secret-" + "x" * 24


def through(proxy: TcpProxy, dsn: str) -> str:
    return urlunsplit(urlsplit(dsn)._replace(netloc=f"postgres@127.0.0.1:{proxy.port}"))


@pytest.fixture
async def db_proxy(fresh_database):
    parts = urlsplit(fresh_database)
    proxy = await TcpProxy(parts.hostname, parts.port or 5432).start()
    yield proxy
    await proxy.stop()


async def test_ready_turns_503_naming_the_database_and_back(aiohttp_client, fresh_database, db_proxy, amqp_url):
    await migrate(fresh_database, [common_track()])
    settings = IdentitySettings(database_url=through(db_proxy, fresh_database), amqp_url=amqp_url,
                                internal_auth_secret=SECRET)
    client = await aiohttp_client(create_app(settings))
    assert (await client.get("/health/ready")).status == 200

    await db_proxy.cut()
    response = await client.get("/health/ready")
    assert response.status == 503
    body = await response.json()
    assert body["status"] == "unavailable"
    assert list(body["failing"]) == ["database"]
    assert (await client.get("/health/live")).status == 200  # alive, just not ready

    await db_proxy.restore()

    async def ready_again():
        return (await client.get("/health/ready")).status == 200

    await wait_until(ready_again, timeout=10, message="ready after PostgreSQL came back")


async def test_database_errors_become_clear_answers(aiohttp_client, fresh_database, db_proxy, amqp_url):
    """A NUL in a text value is the caller's error (422); an unreachable database is a 503, not a 500."""
    await migrate(fresh_database, [common_track()])
    settings = IdentitySettings(database_url=through(db_proxy, fresh_database), amqp_url=amqp_url,
                                internal_auth_secret=SECRET)
    app = create_app(settings)

    async def echo_text(request):
        from common.db import POOL

        value = request.query["value"]
        return web.json_response({"stored": await request.app[POOL].fetchval("SELECT $1::text", value)})

    app.router.add_get("/v1/echo", echo_text)
    client = await aiohttp_client(app)
    headers = {"Authorization": "Internal " + issue_token(SECRET, issuer="gateway", audience="identity")}
    ok = await client.get("/v1/echo", params={"value": "Agence"}, headers=headers)
    assert await ok.json() == {"stored": "Agence"}
    nul = await client.get("/v1/echo", params={"value": "Agence\x00Nulle"}, headers=headers)
    assert nul.status == 422
    assert (await nul.json())["error"] == "invalid_characters"
    await db_proxy.cut()
    down = await client.get("/v1/echo", params={"value": "x"}, headers=headers)
    assert down.status == 503
    assert (await down.json())["error"] == "service_unavailable"
    assert down.headers["Retry-After"] == "5"


async def test_internal_routes_refuse_calls_without_a_valid_token(aiohttp_client, fresh_database, amqp_url):
    await migrate(fresh_database, [common_track()])
    settings = IdentitySettings(database_url=fresh_database, amqp_url=amqp_url, internal_auth_secret=SECRET)
    app = create_app(settings)

    async def whoami(request):
        from common.internal_auth import CLAIMS

        return web.json_response({"issuer": request[CLAIMS].issuer})

    app.router.add_get("/v1/whoami", whoami)
    client = await aiohttp_client(app)
    missing = await client.get("/v1/whoami")
    assert missing.status == 401
    assert (await missing.json())["error"] == "unauthorized"
    wrong_audience = issue_token(SECRET, issuer="gateway", audience="documents")
    assert (await client.get("/v1/whoami", headers={"Authorization": f"Internal {wrong_audience}"})).status == 401
    expired = issue_token(SECRET, issuer="gateway", audience="identity", now=1_000_000)
    assert (await client.get("/v1/whoami", headers={"Authorization": f"Internal {expired}"})).status == 401
    bearer = issue_token(SECRET, issuer="gateway", audience="identity")
    assert (await client.get("/v1/whoami", headers={"Authorization": f"Bearer {bearer}"})).status == 401
    ok = await client.get("/v1/whoami", headers={"Authorization": f"Internal {bearer}"})
    assert ok.status == 200
    assert await ok.json() == {"issuer": "gateway"}


@pytest.fixture
def bare_app():
    settings = IdentitySettings(internal_auth_secret=SECRET)
    app = create_base_app(settings, service="demo")

    async def conflict(request):
        raise Conflict("That code is taken")

    async def boom(request):
        raise RuntimeError("database password is hunter2")

    async def echo(request):
        return web.json_response(await request.json())

    app.router.add_get("/conflict", conflict)
    app.router.add_get("/boom", boom)
    app.router.add_post("/echo", echo)
    return app


async def test_errors_are_json_with_their_status_and_never_a_trace(aiohttp_client, bare_app):
    client = await aiohttp_client(bare_app)
    conflict = await client.get("/conflict")
    assert conflict.status == 409
    assert await conflict.json() == {"error": "conflict", "detail": "That code is taken"}
    boom = await client.get("/boom")
    assert boom.status == 500
    text = await boom.text()
    assert "hunter2" not in text and "Traceback" not in text
    assert await boom.json() == {"error": "internal_error", "detail": "An unexpected error occurred"}
    missing = await client.get("/nowhere")
    assert missing.status == 404
    assert (await missing.json())["error"] == "not_found"
    wrong_method = await client.delete("/conflict")
    assert wrong_method.status == 405
    too_big = await client.post("/echo", data=b"x" * (1024 * 1024 + 10), headers={"Content-Type": "application/json"})
    assert too_big.status == 413
    assert (await too_big.json())["error"] == "request_entity_too_large"


async def test_request_id_is_kept_when_valid_and_generated_otherwise(aiohttp_client, bare_app):
    client = await aiohttp_client(bare_app)
    kept = await client.get("/health/live", headers={"X-Request-ID": "gw-0123456789abcdef"})
    assert kept.headers["X-Request-ID"] == "gw-0123456789abcdef"
    replaced = await client.get("/health/live", headers={"X-Request-ID": "bad id <script>"})
    assert replaced.headers["X-Request-ID"] != "bad id <script>"
    assert len(replaced.headers["X-Request-ID"]) == 32
    generated = await client.get("/conflict")
    assert re.fullmatch(r"[0-9a-f]{32}", generated.headers["X-Request-ID"])
    assert generated.headers["X-Request-ID"] != (await client.get("/conflict")).headers["X-Request-ID"]


async def test_metrics_count_requests_by_route_and_status(aiohttp_client, bare_app):
    client = await aiohttp_client(bare_app)
    for _ in range(3):
        await client.get("/conflict")
    await client.get("/boom")
    metrics = await (await client.get("/metrics")).text()
    assert 'http_requests_total{method="GET",route="/conflict",status="409"} 3.0' in metrics
    assert 'http_requests_total{method="GET",route="/boom",status="500"} 1.0' in metrics
    assert "http_request_duration_seconds_bucket" in metrics
    assert 'http_request_duration_seconds_count{method="GET",route="/conflict",status="409"} 3.0' in metrics


async def test_metrics_do_not_grow_with_invented_methods(aiohttp_client, bare_app):
    client = await aiohttp_client(bare_app)
    for method in ("PROPFIND", "MKCOL", "LOCK"):  # methods the HTTP parser knows and no route takes
        assert (await client.request(method, "/conflict")).status == 405
    metrics = await (await client.get("/metrics")).text()
    assert 'http_requests_total{method="OTHER",route="unmatched",status="405"} 3.0' in metrics
    assert "PROPFIND" not in metrics and "MKCOL" not in metrics


async def test_one_access_line_per_request_written_once_answered(aiohttp_client, bare_app):
    """The canonical line comes last, carries the request id the caller got, the route and the status."""
    import structlog

    from common.logging import get_logger

    async def logged(request):
        get_logger("demo").info("handler.done")
        return web.json_response({})

    bare_app.router.add_get("/logged", logged)
    client = await aiohttp_client(bare_app)
    with structlog.testing.capture_logs(processors=[structlog.contextvars.merge_contextvars]) as lines:
        answers = [await client.get("/logged"), await client.get("/conflict"), await client.get("/boom"),
                   await client.get("/nowhere")]
        await client.get("/health/live")  # probes are counted, not logged
    access = [line for line in lines if line["event"] == "http.request"]
    assert [(line["route"], line["status"]) for line in access] == [
        ("/logged", 200), ("/conflict", 409), ("/boom", 500), ("unmatched", 404)]
    assert [line["request_id"] for line in access] == [answer.headers["X-Request-ID"] for answer in answers]
    assert all(line["method"] == "GET" and line["duration_ms"] >= 0 for line in access)
    events = [line["event"] for line in lines]
    assert events.index("handler.done") < events.index("http.request")
