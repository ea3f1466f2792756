"""``/files/<token>``: signed download links forwarded to documents, streamed both ways.

No internal token is attached: the signed link is the authority, and documents checks it. In
production the ingress should route this path straight to documents (ARCHITECTURE.md §9); locally
the gateway forwards it without buffering.
"""

from __future__ import annotations

import re

from aiohttp import web

from common.http import REQUEST_ID
from gateway.context import UPSTREAMS
from gateway.upstream import ServiceUnavailable

__all__ = ["forward_response", "routes"]

routes = web.RouteTableDef()
_TOKEN = re.compile(r"^[A-Za-z0-9._~-]{1,4096}$")
CHUNK = 256 * 1024
SMALL_BODY = 64 * 1024
# Headers of the upstream answer worth passing on (hop-by-hop ones never are).
PASSED_RESPONSE_HEADERS = ("Content-Type", "Content-Length", "Content-Disposition", "Content-Range", "Accept-Ranges",
                           "ETag", "Last-Modified", "Cache-Control", "Content-Encoding", "Retry-After", "Location")
PASSED_FILE_REQUEST_HEADERS = ("Range", "If-None-Match", "If-Modified-Since", "If-Range")


async def forward_response(request: web.Request, upstream_response, *, extra_headers: dict | None = None
                           ) -> web.StreamResponse:
    """Stream an upstream answer to the client, chunk by chunk.

    An answer of known small length (most JSON) is passed in one piece: one write instead of
    several, and nothing larger than one chunk is ever held.
    """
    headers = {h: upstream_response.headers[h] for h in PASSED_RESPONSE_HEADERS if h in upstream_response.headers}
    headers["X-Content-Type-Options"] = "nosniff"
    headers.update(extra_headers or {})
    length = upstream_response.content_length
    if length is not None and length <= SMALL_BODY and request.method != "HEAD":
        headers.pop("Content-Length", None)
        body = await upstream_response.read()
        return web.Response(status=upstream_response.status, body=body, headers=headers)
    if REQUEST_ID in request:  # set before prepare: the common middleware comes too late for a stream
        headers["X-Request-ID"] = request[REQUEST_ID]
    response = web.StreamResponse(status=upstream_response.status, headers=headers)
    if "Content-Length" not in headers:
        response.enable_chunked_encoding()
    await response.prepare(request)
    if request.method != "HEAD":
        async for chunk in upstream_response.content.iter_chunked(CHUNK):
            await response.write(chunk)
    await response.write_eof()
    return response


@routes.get("/files/{token}")
async def files(request: web.Request) -> web.StreamResponse:
    token = request.match_info["token"]
    if not _TOKEN.match(token):
        return _not_found()
    headers = {h: request.headers[h] for h in PASSED_FILE_REQUEST_HEADERS if h in request.headers}
    try:
        upstream = await request.app[UPSTREAMS]["documents"].open(request.method, "/files/" + token, claims=None,
                                                                  headers=headers)
    except ServiceUnavailable:
        return web.Response(status=503, text="Service momentanément indisponible.", content_type="text/plain",
                            charset="utf-8", headers={"Retry-After": "5"})
    async with upstream:
        if upstream.status == 404:
            return _not_found()
        return await forward_response(request, upstream, extra_headers={"Referrer-Policy": "no-referrer"})


def _not_found() -> web.Response:
    return web.Response(status=404, text="Ce lien de téléchargement a expiré ou n'est pas valide.",
                        content_type="text/plain", charset="utf-8")
