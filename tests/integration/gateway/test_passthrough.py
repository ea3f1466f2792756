"""The lean kept connections of forwarded GETs (gateway.passthrough), against real servers on localhost.

Real aiohttp servers answer the ordinary cases; raw asyncio servers play the services that misbehave
(close a kept connection, break an answer, never answer, send garbage).
"""

from __future__ import annotations

import asyncio

import pytest
from aiohttp import web

from common.testing import free_port
from gateway.passthrough import HIGH_WATER, ConnectFailed, Replica, UpstreamBroken, request_head
from gateway.upstream import ServiceUnavailable, Upstream

SECRET = "a-secret-for-the-passthrough-tests"
BIG = bytes(range(256)) * (12 * 1024)  # 3 MiB, every byte value


def _head(path: str = "/thing", **headers: str) -> bytes:
    return request_head("GET", path, "127.0.0.1", {"Accept": "application/json", **headers})


def _replica(port: int, **kwargs) -> Replica:
    return Replica("127.0.0.1", port, connect_timeout=kwargs.pop("connect_timeout", 1.0),
                   read_timeout=kwargs.pop("read_timeout", 2.0), **kwargs)


@pytest.fixture
async def service(aiohttp_server):
    """A real aiohttp service: small JSON, a chunked stream, a large file; it records who called."""
    peers: list = []

    async def small(request: web.Request) -> web.Response:
        peers.append(request.transport.get_extra_info("peername"))
        return web.json_response({"path": request.path_qs, "accept": request.headers.get("Accept"),
                                  "rid": request.headers.get("X-Request-ID")},
                                 headers={"ETag": '"v1"', "X-Internal": "never passed on"})

    async def chunked(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/plain"})
        response.enable_chunked_encoding()
        await response.prepare(request)
        for part in (b"premier ", b"deuxi\xc3\xa8me ", b"troisi\xc3\xa8me"):
            await response.write(part)
            await asyncio.sleep(0.01)
        await response.write_eof()
        return response

    async def big(request: web.Request) -> web.Response:
        return web.Response(body=BIG, content_type="application/octet-stream")

    async def closing(request: web.Request) -> web.Response:
        peers.append(request.transport.get_extra_info("peername"))
        return web.Response(text="bye", headers={"Connection": "close"})

    async def unavailable(request: web.Request) -> web.Response:
        return web.json_response({"error": "service_unavailable"}, status=503)

    app = web.Application()
    app.router.add_get("/thing", small)
    app.router.add_get("/chunked", chunked)
    app.router.add_get("/big", big)
    app.router.add_get("/closing", closing)
    app.router.add_get("/unavailable", unavailable)
    server = await aiohttp_server(app)
    server.peers = peers
    return server


@pytest.fixture
async def raw_server():
    """Start a raw TCP server whose behaviour the test writes; closed at the end."""
    servers = []

    async def start(handle) -> int:
        server = await asyncio.start_server(handle, "127.0.0.1", 0)
        servers.append(server)
        return server.sockets[0].getsockname()[1]

    yield start
    for server in servers:
        server.close()
        await server.wait_closed()


async def _read_request(reader: asyncio.StreamReader) -> bytes:
    return await reader.readuntil(b"\r\n\r\n")


def _answering(raw: bytes, *, then_close: bool = False):
    """A raw server's handler: read one request, write ``raw`` as the answer (and hang up)."""

    async def handle(reader, writer):
        await _read_request(reader)
        writer.write(raw)
        await writer.drain()
        if then_close:
            writer.close()

    return handle


def test_the_request_head_is_the_request_line_host_and_headers():
    assert request_head("GET", "/api/v1/tenants/7?x=1", "tenancy:8002", {"Accept": "*/*"}) == (
        b"GET /api/v1/tenants/7?x=1 HTTP/1.1\r\nHost: tenancy:8002\r\nAccept: */*\r\n\r\n")


@pytest.mark.parametrize("target", ["/a b", "/a\r\nX-Injected: 1", "relative", "/a\tb", "/a\x7f", "/nul\x00"])
def test_a_target_that_could_split_the_request_is_refused(target):
    with pytest.raises(ValueError):
        request_head("GET", target, "h:1", {})


@pytest.mark.parametrize("name", ["Content-Length", "transfer-encoding"])
def test_a_bodiless_head_never_announces_a_body(name):
    with pytest.raises(ValueError):
        request_head("GET", "/", "h:1", {name: "5"})


@pytest.mark.parametrize("value", ["a\r\nX-Injected: 1", "a\nb", "a\rb", "a\x00b"])
def test_a_header_value_with_a_line_break_is_refused(value):
    with pytest.raises(ValueError):
        request_head("GET", "/", "h:1", {"Accept": value})


async def test_a_small_answer_and_the_connection_kept_for_the_next(service):
    replica = _replica(service.port)
    for rid in ("first-request-id", "second-request-id"):
        async with await replica.send(_head("/thing?page=2", **{"X-Request-ID": rid})) as answer:
            assert answer.status == 200
            assert answer.headers["content-type"].startswith("application/json")
            assert answer.headers["ETag"] == '"v1"'
            body = await answer.read()
            assert answer.content_length == len(body)
            assert f'"rid": "{rid}"'.encode() in body and b'"path": "/thing?page=2"' in body
    assert len(service.peers) == 2 and service.peers[0] == service.peers[1]  # one connection, kept
    replica.close()


async def test_the_body_is_read_whole_or_in_pieces(service):
    replica = _replica(service.port)
    async with await replica.send(_head("/thing", **{"X-Request-ID": "abcdefgh-1"})) as answer:
        body = await answer.read()
    assert body == b'{"path": "/thing", "accept": "application/json", "rid": "abcdefgh-1"}'
    async with await replica.send(_head("/chunked")) as answer:
        assert answer.content_length is None
        pieces = [piece async for piece in answer.content.iter_chunked(1024)]
    assert b"".join(pieces).decode() == "premier deuxième troisième"
    replica.close()


async def test_a_large_body_streams_with_bounded_buffering(service):
    replica = _replica(service.port)
    async with await replica.send(_head("/big")) as answer:
        assert answer.content_length == len(BIG)
        received = bytearray()
        most_held = 0
        async for piece in answer.iter_chunked(0):
            received += piece
            await asyncio.sleep(0.005)  # a slow reader: the socket must be paused, not buffered whole
            most_held = max(most_held, answer.buffered)
    assert bytes(received) == BIG
    assert 0 < most_held <= HIGH_WATER + 256 * 1024  # one read past the mark at most
    # The connection is kept after a body read to its end.
    async with await replica.send(_head("/thing")) as answer:
        assert answer.status == 200
    assert len(service.peers) == 1
    replica.close()


async def test_an_answer_released_unread_closes_its_connection(service):
    replica = _replica(service.port)
    async with await replica.send(_head("/big")) as answer:
        assert answer.status == 200  # the body is not read
    async with await replica.send(_head("/thing")) as answer:
        assert (await answer.read()).startswith(b'{"path": "/thing"')  # nothing left over from /big
    replica.close()


async def test_connection_close_is_honoured(service):
    replica = _replica(service.port)
    for _ in range(2):
        async with await replica.send(_head("/closing")) as answer:
            assert await answer.read() == b"bye"
    assert service.peers[0] != service.peers[1]  # a new connection for the second request
    replica.close()


async def test_a_kept_connection_the_service_closed_is_replaced(raw_server):
    """The service answers once, then closes the kept connection when the next request arrives."""
    connections = []

    async def handle(reader, writer):
        connections.append(writer)
        await _read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
        await writer.drain()
        try:
            await _read_request(reader)  # the second request on this connection: hang up unanswered
        finally:
            writer.close()

    replica = _replica(await raw_server(handle))
    for _ in range(3):
        async with await replica.send(_head()) as answer:
            assert await answer.read() == b"ok"
    assert len(connections) == 3  # each retry went to a fresh connection, none failed
    replica.close()


async def test_the_retry_after_a_closed_kept_connection_takes_a_fresh_one(raw_server):
    """Two kept connections the service closed unnoticed: the retry must not take the second one."""
    connections = []
    both_open = asyncio.Event()

    async def handle(reader, writer):
        connections.append(writer)
        if len(connections) == 2:
            both_open.set()
        await _read_request(reader)
        await both_open.wait()  # both first requests in flight at once: two connections kept
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
        await writer.drain()
        try:
            await _read_request(reader)
        finally:
            writer.close()

    replica = _replica(await raw_server(handle))

    async def one():
        async with await replica.send(_head()) as answer:
            return await answer.read()

    assert await asyncio.gather(one(), one()) == [b"ok", b"ok"]
    async with await replica.send(_head()) as answer:  # a stale one, then a fresh one
        assert await answer.read() == b"ok"
    assert len(connections) == 3
    replica.close()


async def test_a_refused_connection_is_connect_failed():
    replica = _replica(free_port())
    with pytest.raises(ConnectFailed):
        await replica.send(_head())


async def test_a_connection_broken_before_the_answer(raw_server):
    async def handle(reader, writer):
        await _read_request(reader)
        writer.close()

    replica = _replica(await raw_server(handle))
    with pytest.raises(UpstreamBroken) as caught:
        await replica.send(_head())
    assert not caught.value.answered


async def test_a_connection_broken_in_the_body(raw_server):
    partial = b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly part of it"
    replica = _replica(await raw_server(_answering(partial, then_close=True)))
    answer = await replica.send(_head())
    with pytest.raises(UpstreamBroken):
        await answer.read()
    answer.release()


async def test_a_malformed_answer_is_refused(raw_server):
    replica = _replica(await raw_server(_answering(b"NOT HTTP AT ALL\r\n\r\n")))
    with pytest.raises(UpstreamBroken) as caught:
        await replica.send(_head())
    assert "malformed" in str(caught.value)


async def test_a_second_answer_to_one_request_is_not_passed_on(raw_server):
    connections = []

    async def handle(reader, writer):
        connections.append(writer)
        await _read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nfirst"
                     b"HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nsecond")
        await writer.drain()
        await reader.read()  # until the gateway hangs up

    replica = _replica(await raw_server(handle))
    for _ in range(2):
        async with await replica.send(_head()) as answer:
            assert await answer.read() == b"first"
    assert len(connections) == 2  # the connection that answered twice was not used again
    replica.close()


async def test_no_answer_in_time_is_a_timeout(raw_server):
    async def handle(reader, writer):
        await _read_request(reader)
        await asyncio.sleep(5)

    replica = _replica(await raw_server(handle), read_timeout=0.2)
    with pytest.raises(TimeoutError):
        await replica.send(_head())


async def test_a_body_that_stops_coming_is_a_timeout(raw_server):
    async def handle(reader, writer):
        await _read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nthe first part")
        await writer.drain()
        await asyncio.sleep(5)

    replica = _replica(await raw_server(handle), read_timeout=0.2)
    async with await replica.send(_head()) as answer:
        with pytest.raises(TimeoutError):
            await answer.read()


async def test_bytes_sent_on_an_idle_connection_get_it_dropped(raw_server):
    connections = []

    async def handle(reader, writer):
        connections.append(writer)
        await _read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
        await writer.drain()
        await asyncio.sleep(0.05)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nstale")  # nobody asked
        await writer.drain()
        await reader.read()

    replica = _replica(await raw_server(handle))
    for _ in range(2):
        async with await replica.send(_head()) as answer:
            assert await answer.read() == b"ok"
        await asyncio.sleep(0.1)  # the unasked-for bytes arrive while the connection is idle
    assert len(connections) == 2  # the second request did not read "stale" as its answer
    replica.close()


async def test_an_interim_answer_is_skipped(raw_server):
    raw = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 4\r\n\r\ndone"
    replica = _replica(await raw_server(_answering(raw)))
    async with await replica.send(_head()) as answer:
        assert answer.status == 201
        assert await answer.read() == b"done"
    replica.close()


async def test_at_most_limit_requests_at_once(raw_server):
    in_flight = []
    most = 0

    async def handle(reader, writer):
        nonlocal most
        while True:
            try:
                await _read_request(reader)
            except asyncio.IncompleteReadError:
                return
            in_flight.append(1)
            most = max(most, len(in_flight))
            await asyncio.sleep(0.02)
            in_flight.pop()
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
            await writer.drain()

    replica = _replica(await raw_server(handle), limit=2)

    async def one():
        async with await replica.send(_head()) as answer:
            return await answer.read()

    assert await asyncio.gather(*(one() for _ in range(6))) == [b""] * 6
    assert most == 2
    replica.close()


async def _upstream(*urls: str, read_timeout: float = 2.0) -> Upstream:
    return Upstream("tenancy", list(urls), secret=SECRET, session_ref=lambda: None, connect_timeout=1.0,
                    read_timeout=read_timeout)


async def test_get_moves_to_the_next_replica_when_one_is_down_broken_or_unavailable(service, raw_server):
    async def hang_up(reader, writer):
        await _read_request(reader)
        writer.close()

    live = f"http://127.0.0.1:{service.port}"
    dead = f"http://127.0.0.1:{free_port()}"
    broken = f"http://127.0.0.1:{await raw_server(hang_up)}"
    upstream = await _upstream(dead, broken, live)
    for _ in range(3):  # the round robin starts at each replica in turn
        async with await upstream.get("/thing", claims={"act": "operator"}, request_id="rid-12345678") as answer:
            assert answer.status == 200
            assert b'"rid": "rid-12345678"' in await answer.read()
    upstream.close()

    upstream = await _upstream(dead, live)
    with pytest.raises(ServiceUnavailable):  # 503 from the live one too: no replica could serve it
        await upstream.get("/unavailable", claims={})
    upstream.close()


async def test_get_gives_up_when_no_replica_answers(raw_server):
    async def silent(reader, writer):
        await _read_request(reader)
        await asyncio.sleep(5)

    upstream = await _upstream(f"http://127.0.0.1:{free_port()}")
    with pytest.raises(ServiceUnavailable):
        await upstream.get("/thing", claims={})
    upstream = await _upstream(f"http://127.0.0.1:{await raw_server(silent)}", read_timeout=0.2)
    with pytest.raises(ServiceUnavailable):  # a timeout is not sent again: the service may still be working
        await upstream.get("/thing", claims={})


async def test_get_refuses_an_unsafe_path():
    upstream = await _upstream("http://127.0.0.1:1")
    with pytest.raises(ValueError):
        await upstream.get("/api/v1/../internal/x", claims={})
