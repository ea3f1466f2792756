"""A stand-in for the documents service: listing filtered on the token's accounts, signed links, files."""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid

from aiohttp import web

from common.internal_auth import CLAIMS
from tests.integration.gateway.standins import STATE, _app, _error

LINK_KEY = b"standin-documents-link-key"


def _sign(payload: dict) -> str:
    body = json.dumps(payload, sort_keys=True).encode().hex()
    mac = hmac.new(LINK_KEY, body.encode(), hashlib.sha256).hexdigest()[:32]
    return f"{body}.{mac}"


def _unsign(token: str) -> dict | None:
    body, _, mac = token.partition(".")
    if not hmac.compare_digest(hmac.new(LINK_KEY, body.encode(), hashlib.sha256).hexdigest()[:32], mac):
        return None
    return json.loads(bytes.fromhex(body))


def documents_app() -> web.Application:
    app = _app("documents", open_prefixes=("/health/", "/files/"))
    docs: dict[str, dict] = {}
    app[STATE]["docs"] = docs
    routes = web.RouteTableDef()

    def visible(request, doc):
        mine = {a["account_id"] for a in request[CLAIMS].get("acc", [])}
        return bool(mine & set(doc["account_ids"]))

    @routes.get("/v1/documents")
    async def listing(request):
        q = request.query
        items = [d for d in docs.values() if visible(request, d)
                 and (not q.get("tenant_id") or d["tenant_id"] == q["tenant_id"])
                 and (not q.get("account_id") or q["account_id"] in d["account_ids"])
                 and (not q.get("category") or d["category"] == q["category"])
                 and (not q.get("year") or d["date"].startswith(q["year"]))
                 and (not q.get("q") or q["q"].lower() in d["title"].lower())]
        items.sort(key=lambda d: d["date"], reverse=True)
        items = [{k: v for k, v in d.items() if k not in ("chunk", "chunks")} for d in items]
        facets = {"categories": {}, "years": {}}
        for d in items:
            facets["categories"][d["category"]] = facets["categories"].get(d["category"], 0) + 1
            facets["years"][d["date"][:4]] = facets["years"].get(d["date"][:4], 0) + 1
        return web.json_response({"items": items, "next_cursor": None, "facets": facets})

    @routes.post("/v1/documents/{id}/link")
    async def link(request):
        doc = docs.get(request.match_info["id"])
        if doc is None or not visible(request, doc):
            return _error(404, "not_found")
        return web.json_response({"url": "http://documents.internal/files/" + _sign({"doc": doc["id"]})})

    @routes.post("/v1/archives/link")
    async def archive(request):
        body = await request.json()
        return web.json_response({"url": "/files/" + _sign({"zip": body.get("year"),
                                                             "acc": request[CLAIMS].get("acc", [])})})

    @routes.get("/files/{token}")
    async def files(request):
        payload = _unsign(request.match_info["token"])
        if payload is None:
            return _error(404, "not_found")
        if "doc" in payload:
            doc = docs[payload["doc"]]
            response = web.StreamResponse(headers={"Content-Type": doc["content_type"],
                                                   "Content-Disposition": f'attachment; filename="{doc["filename"]}"'})
            await response.prepare(request)
            for _ in range(doc["chunks"]):
                await response.write(doc["chunk"])
            await response.write_eof()
            return response
        return web.Response(body=b"PK\x05\x06" + b"\0" * 18, content_type="application/zip")

    @routes.get("/internal/openapi.json")
    async def openapi(request):
        return web.json_response({"openapi": "3.1.0", "info": {"title": "documents", "version": "1"},
                                  "paths": {"/api/v1/documents": {"post": {"summary": "Publish"}}},
                                  "components": {"schemas": {"Document": {"type": "object"}}}})

    async def echo(request):
        size = 0
        async for chunk in request.content.iter_any():
            size += len(chunk)
        return web.json_response({"service": "documents", "path": request.path, "claims": dict(request[CLAIMS]),
                                  "body_size": size, "content_type": request.headers.get("Content-Type")},
                                 status=201 if request.method == "POST" else 200)

    app.router.add_routes(routes)
    app.router.add_route("*", "/api/v1/{tail:.*}", echo)
    return app


def add_document(app: web.Application, account: dict, *, title: str, category: str = "AG_PV",
                 group: str = "Assemblées générales", date: str = "2026-06-12",
                 published_at: str = "2026-06-13T08:00:00Z", chunks: int = 4,
                 chunk: bytes = b"%PDF-1.4 " * 512) -> dict:
    doc = {"id": str(uuid.uuid4()), "tenant_id": account["tenant_id"], "account_ids": [account["id"]],
           "category": category, "category_label": category.replace("_", " "), "group": group, "title": title,
           "date": date, "size": chunks * len(chunk), "content_type": "application/pdf",
           "filename": title.replace(" ", "-") + ".pdf", "published_at": published_at, "chunks": chunks,
           "chunk": chunk}
    app[STATE]["docs"][doc["id"]] = doc
    return doc
