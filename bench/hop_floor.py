"""The floors under the gateway hop: what one more process on the path costs on this host.

    .venv/bin/python bench/hop_floor.py relay   --port P --upstream 127.0.0.1:Q
    .venv/bin/python bench/hop_floor.py aiohttp --port P --upstream 127.0.0.1:Q

Started by ``bench/gateway.py --floors`` beside the real gateway, both on uvloop like the gateway:

- ``relay``: bytes copied between the client's connection and one connection to the service, no
  HTTP understood. What the kernel and the event loop charge for a hop, and no more.
- ``aiohttp``: an aiohttp server with no middleware whose one route forwards a GET over the
  gateway's own kept connections (``gateway.passthrough``) and answers with the service's status,
  body and ``Content-Type``. What any aiohttp proxy pays, before authentication, routing, tokens,
  access log, metrics and the response guarantees the gateway adds.

Neither is a product: both pass the client's ``Authorization`` (the bench's own internal token) on
as it came, check nothing and log nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

import uvloop
from aiohttp import web

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gateway.passthrough import Replica, request_head


class _Pipe(asyncio.Protocol):
    """One direction of the relay: what arrives here is written to ``peer``."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.peer: asyncio.Transport | None = None
        self.pending: list[bytes] = []
        self.connecting: asyncio.Task | None = None  # kept: a task only weakly held may vanish

    def connection_made(self, transport) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        if self.peer is None:
            self.pending.append(data)  # the service's connection is still being opened
        else:
            self.peer.write(data)

    def connection_lost(self, exc) -> None:
        if self.peer is not None:
            self.peer.close()


async def relay(port: int, upstream_host: str, upstream_port: int) -> None:
    loop = asyncio.get_running_loop()

    def client_side() -> _Pipe:
        client = _Pipe()

        async def connect() -> None:
            _, service = await loop.create_connection(_Pipe, upstream_host, upstream_port)
            service.peer = client.transport
            client.peer = service.transport
            for data in client.pending:
                service.transport.write(data)
            client.pending.clear()

        client.connecting = loop.create_task(connect())
        return client

    server = await loop.create_server(client_side, "127.0.0.1", port)
    async with server:
        await server.serve_forever()


def bare_proxy(port: int, upstream_host: str, upstream_port: int) -> None:
    replica = Replica(upstream_host, upstream_port, connect_timeout=2.0, read_timeout=15.0)

    async def forward(request: web.Request) -> web.Response:
        head = request_head("GET", request.rel_url.raw_path_qs, replica.host_header,
                            {"Authorization": request.headers.get("Authorization", "")})
        async with await replica.send(head) as answer:
            body = await answer.read()
            return web.Response(status=answer.status, body=body,
                                headers={"Content-Type": answer.headers.get("Content-Type", "application/json")})

    app = web.Application()
    app.router.add_get("/{tail:.*}", forward)
    web.run_app(app, host="127.0.0.1", port=port, access_log=None, print=None)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("kind", choices=("relay", "aiohttp"))
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--upstream", required=True, help="host:port of the service")
    args = parser.parse_args()
    host, _, upstream_port = args.upstream.rpartition(":")
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    if args.kind == "relay":
        asyncio.run(relay(args.port, host, int(upstream_port)))
    else:
        bare_proxy(args.port, host, int(upstream_port))


if __name__ == "__main__":
    main()
