"""The console's directory import (``/agence/import``): the agency's CSV or JSON file, as the public API takes it.

A CSV (``ref;role;display_name;email;lot_refs;council``) goes to ``PUT /api/v1/directory/accounts``,
a JSON directory (residences, lots, accounts) to ``PUT /api/v1/directory``, as the agency. The
service validates the whole file first: one bad row and nothing is applied, every problem listed.
"""

from __future__ import annotations

import re

from aiohttp import web

from common.logging import get_logger
from gateway.console import STAFF, agency_put_file, require_staff
from gateway.context import redirect, render, require_tenant

__all__ = ["routes"]

log = get_logger(__name__)
routes = web.RouteTableDef()

KINDS = {".csv": ("text/csv", "/api/v1/directory/accounts"), ".json": ("application/json", "/api/v1/directory")}
NO_FILE = "Choisissez le fichier de l'annuaire (CSV ou JSON)."
WRONG_KIND = "Ce fichier n'est ni un CSV (.csv) ni un annuaire JSON (.json)."
INVALID = "Le fichier n'a pas été importé : corrigez {count} et envoyez-le de nouveau. Rien n'a été modifié."
TOO_LARGE = "Le fichier est trop volumineux pour un import : découpez-le ou utilisez l'API."
IMPORTED = "Annuaire importé{counts}."
_LINE = re.compile(r"^line (\d+)\.?(.*)$")
# (redirect parameter, the service's key, the label) of each kind of row an import counts.
_GROUPS = (("comptes", "accounts", "comptes"), ("lots", "lots", "lots"), ("residences", "residences", "résidences"))
_COUNTS = re.compile(r"^([0-9]{1,9}),([0-9]{1,9}),([0-9]{1,9})$")


def _where(path: str) -> str:
    """``line 3.role`` -> ``ligne 3, role``; ``accounts[2].email`` stays as the API says it."""
    match = _LINE.match(path)
    if match:
        return f"ligne {match.group(1)}" + (f", {match.group(2)}" if match.group(2) else "")
    return path


def _counts_query(result: dict) -> dict:
    """The import's counts for the redirect, numbers only: ``comptes=1,0,2`` (created, updated, unchanged)."""
    query = {}
    for param, key, _ in _GROUPS:
        counts = result.get(key)
        if isinstance(counts, dict) and counts:
            query[param] = ",".join(str(int(counts.get(name) or 0)) for name in ("created", "updated", "unchanged"))
    return query


def _imported_notice(query) -> str | None:
    """The sentence after an import, built here from the redirect's numbers.

    The address bar is anyone's: a link to this page must not make the console show a sentence of its
    author's as an official notice. Anything but the page's own numbers shows no notice."""
    if query.get("importe") != "1":
        return None
    parts = []
    for param, _, label in _GROUPS:
        value = query.get(param)
        if value is None:
            continue
        match = _COUNTS.match(value)
        if match is None:
            return None
        created, updated, unchanged = (int(n) for n in match.groups())
        parts.append(f"{label} : {created} créé(s), {updated} modifié(s), {unchanged} inchangé(s)")
    return IMPORTED.format(counts=" : " + " ; ".join(parts) if parts else "")


def _page(request: web.Request, *, status: int = 200, **context) -> web.Response:
    return render(request, "console/import.html", status=status, staff=request.get(STAFF), active="annuaire",
                  **context)


@routes.get("/agence/import")
async def import_form(request: web.Request) -> web.Response:
    await require_tenant(request)
    await require_staff(request)
    return _page(request, notice=_imported_notice(request.query), problems=[])


@routes.post("/agence/import")
async def import_file(request: web.Request) -> web.Response:
    await require_tenant(request)
    await require_staff(request)
    form = await request.post()
    upload = form.get("file")
    if not isinstance(upload, web.FileField) or not upload.filename:
        return _page(request, status=422, form_message=NO_FILE, problems=[])
    suffix = "." + upload.filename.rsplit(".", 1)[-1].lower() if "." in upload.filename else ""
    if suffix not in KINDS:
        return _page(request, status=422, form_message=WRONG_KIND, problems=[])
    content_type, path = KINDS[suffix]
    reply = await agency_put_file(request, "tenancy", path, content_type=content_type, file=upload)
    if reply.status == 200:
        log.info("console.directory_imported", kind=suffix)
        return redirect(request, "/agence/import", importe="1", **_counts_query(reply.body))
    if reply.status == 413:
        return _page(request, status=413, form_message=TOO_LARGE, problems=[])
    errors = reply.body.get("errors", []) if isinstance(reply.body, dict) else []
    total = reply.body.get("error_count", len(errors)) if isinstance(reply.body, dict) else 0
    if reply.status in (400, 422):
        count = f"{total} erreur" + ("s" if total > 1 else "") if total else "le fichier (il n'est pas lisible)"
        problems = [{"where": _where(e.get("path", "")), "message": e.get("message", "")} for e in errors[:200]]
        return _page(request, status=422, form_message=INVALID.format(count=count), problems=problems)
    return _page(request, status=reply.status, form_message="L'import n'a pas pu être fait.", problems=[])
