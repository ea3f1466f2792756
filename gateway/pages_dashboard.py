"""After login: the dashboard of linked accounts and their documents, downloads, ZIP of a year.

Documents are listed by the documents service, filtered on the accounts of the internal token
(``acc``, from the session identity introspected): the gateway never decides visibility itself.
Downloads go through a signed link that documents issues, then a 303 to ``/files/<token>``.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections import OrderedDict
from urllib.parse import urlsplit

from aiohttp import web

from gateway.context import TENANTS, call, form_text, page_url, render, require_session, require_tenant
from gateway.edge import PageError
from gateway.labels import GROUP_ORDER, category_label, role_label
from gateway.paths import is_uuid

__all__ = ["ACCOUNTS", "AccountCache", "linked_accounts", "routes"]

routes = web.RouteTableDef()
_FILE_TOKEN = re.compile(r"^[A-Za-z0-9._~-]{1,4096}$")
_YEAR = re.compile(r"^(19|20)\d\d$")
_CATEGORY = re.compile(r"^[A-Z_]{2,32}$")
PAGE_SIZE = 50


class AccountCache:
    """Account details (name, lots, residence) by the set of ids, kept ``ttl`` seconds.

    Only what the page shows is cached: which accounts a person holds comes from identity's
    introspection on every request, and documents filters on those, so access is never stale.
    """

    def __init__(self, ttl: float = 30.0, max_entries: int = 10_000, clock=time.monotonic) -> None:
        self.ttl, self.max_entries, self.clock = ttl, max_entries, clock
        self._entries: dict[tuple, tuple[float, dict]] = {}

    def get(self, key: tuple) -> dict | None:
        entry = self._entries.get(key)
        return entry[1] if entry and entry[0] > self.clock() else None

    def put(self, key: tuple, details: dict) -> None:
        if len(self._entries) >= self.max_entries:
            self._entries.clear()
        self._entries[key] = (self.clock() + self.ttl, details)


ACCOUNTS = web.AppKey("account_cache", AccountCache)


async def _account_details(request: web.Request, account_ids: list[str]) -> dict:
    key = tuple(sorted(account_ids))
    cache = request.app[ACCOUNTS]
    details = cache.get(key)
    if details is None:
        reply = await call(request, "tenancy", "POST", "/internal/accounts/lookup",
                           json={"account_ids": account_ids}, safe=True)
        details = {a["id"]: a for a in (reply.body.get("accounts", []) if reply.status == 200 else [])}
        if reply.status == 200:
            cache.put(key, details)
    return details


async def linked_accounts(request: web.Request, session: dict) -> list[dict]:
    """The person's accounts grouped by agency: ``[{"tenant", "accounts": [Account + role_label]}]``."""
    linked = session.get("accounts") or []
    if not linked:
        return []
    details = await _account_details(request, [a["account_id"] for a in linked])
    groups: OrderedDict[str, dict] = OrderedDict()
    for link in linked:
        tenant_id = link["tenant_id"]
        if tenant_id not in groups:
            tenant = await request.app[TENANTS].by_id(tenant_id)
            groups[tenant_id] = {"tenant": tenant or {"id": tenant_id, "name": "Agence"}, "accounts": []}
        account = details.get(link["account_id"], {"id": link["account_id"], "lots": []})
        groups[tenant_id]["accounts"].append({**account, "role": link["role"], "role_label": role_label(link["role"])})
    return list(groups.values())


def _filters(request: web.Request) -> dict:
    q = request.query
    year = q.get("year", "")
    category = q.get("category", "")
    return {
        "year": year if _YEAR.match(year) else "",
        "category": category if _CATEGORY.match(category) else "",
        "q": q.get("q", "").strip()[:100],
        "cursor": q.get("cursor", "")[:512],
    }


def _grouped(items: list[dict], previous_login_at: str | None) -> list[tuple[str, list[dict]]]:
    groups: dict[str, list[dict]] = {}
    for doc in items:
        doc = dict(doc)
        published = doc.get("published_at") or ""
        doc["is_new"] = bool(previous_login_at) and published > previous_login_at
        groups.setdefault(doc.get("group") or "Autres documents", []).append(doc)
    order = [g for g in GROUP_ORDER if g in groups] + sorted(g for g in groups if g not in GROUP_ORDER)
    return [(g, groups[g]) for g in order]


@routes.get("/dashboard")
async def dashboard(request: web.Request) -> web.Response:
    await require_tenant(request)
    session = await require_session(request)
    if not session.get("accounts"):
        return render(request, "dashboard.html", active="dashboard", agencies=[], groups=[], filters={},
                      facets={}, session=session)
    filters = _filters(request)
    # The accounts (tenancy) and the listing (documents) do not depend on each other: ask both at once.
    agencies, reply = await asyncio.gather(
        linked_accounts(request, session),
        call(request, "documents", "GET", "/v1/documents",
             params={"year": filters["year"], "category": filters["category"], "q": filters["q"],
                     "cursor": filters["cursor"], "limit": PAGE_SIZE}))
    body = reply.body if reply.status == 200 else {"items": [], "facets": {}}
    facets = body.get("facets") or {}
    categories = sorted(((code, category_label(code), n) for code, n in (facets.get("categories") or {}).items()),
                        key=lambda c: c[1])
    years = sorted((facets.get("years") or {}).keys(), reverse=True)
    next_cursor = body.get("next_cursor")
    more_url = None
    if next_cursor:
        more_url = page_url(request, "/dashboard", year=filters["year"] or None,
                            category=filters["category"] or None, q=filters["q"] or None, cursor=next_cursor)
    return render(request, "dashboard.html", active="dashboard", agencies=agencies,
                  groups=_grouped(body.get("items", []), session.get("previous_login_at")), filters=filters,
                  categories=categories, years=years, more_url=more_url, session=session,
                  count=len(body.get("items", [])))


def _file_redirect(url: str) -> web.Response:
    """303 to our own ``/files/<token>`` (whatever host documents wrote in its link: no open redirect)."""
    path = urlsplit(url).path
    _, found, token = path.rpartition("/files/")
    if not found or not _FILE_TOKEN.match(token):
        raise PageError(404, "not_found.html")
    return web.Response(status=303, headers={"Location": "/files/" + token, "Cache-Control": "no-store"})


@routes.post("/documents/download")
@routes.post("/documents/{document_id}/download")
async def download(request: web.Request) -> web.Response:
    await require_tenant(request)
    await require_session(request)
    document_id = request.match_info.get("document_id") or form_text(await request.post(), "document_id")
    if not is_uuid(document_id):
        raise PageError(404, "not_found.html")
    reply = await call(request, "documents", "POST", f"/v1/documents/{document_id}/link", safe=True)
    if reply.status != 200 or not isinstance(reply.body.get("url"), str):
        raise PageError(404, "not_found.html")
    return _file_redirect(reply.body["url"])


@routes.post("/documents/archive")
async def archive(request: web.Request) -> web.Response:
    await require_tenant(request)
    await require_session(request)
    form = await request.post()
    year = form_text(form, "year")
    body = {}
    if _YEAR.match(year):
        body["year"] = int(year)
    category = form_text(form, "category")
    if _CATEGORY.match(category):
        body["category"] = category
    reply = await call(request, "documents", "POST", "/v1/archives/link", json=body, safe=True)
    if reply.status != 200 or not isinstance(reply.body.get("url"), str):
        raise PageError(404, "not_found.html")
    return _file_redirect(reply.body["url"])
