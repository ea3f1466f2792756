"""The console's legal proofs (issue 14): proofs of availability (one document's, one account's, as a
page, a PDF or a CSV) and the register of consents to electronic notification of a residence. The
pages read ``GET /api/v1/documents/{id}/proof``, ``GET /api/v1/documents/proof?account_ref=`` and
``GET /api/v1/consents`` as the agency, like every console page."""

from __future__ import annotations

import re
from datetime import date

from aiohttp import web

from common.logging import get_logger
from gateway.console import STAFF, agency_call, agency_file, require_staff
from gateway.context import render, require_tenant
from gateway.edge import PageError
from gateway.paths import is_uuid

__all__ = ["routes"]

log = get_logger(__name__)
routes = web.RouteTableDef()

KIND_LABELS = {"view": "Consultation", "download": "Téléchargement", "archive": "Téléchargement (archive ZIP)"}
FORMATS = {"pdf": "application/pdf", "csv": "text/csv"}
_REF = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$")


def _page(request: web.Request, template: str, **context) -> web.Response:
    context.setdefault("active", "documents")
    return render(request, f"console/{template}", staff=request.get(STAFF), kind_labels=KIND_LABELS, **context)


async def _file(request: web.Request, path: str, params: dict, fmt: str, filename: str) -> web.Response:
    reply = await agency_file(request, "documents", "GET", path, accept=FORMATS[fmt],
                              params={**params, "format": fmt}, ok=200)
    if reply.status != 200 or not reply.body:
        raise PageError(404, "not_found.html")
    log.info("console.proof_exported", format=fmt)
    return web.Response(body=reply.body, content_type=FORMATS[fmt], headers={
        "Cache-Control": "no-store", "Content-Disposition": f'attachment; filename="{filename}.{fmt}"'})


@routes.get("/agence/documents/{document_id:[^/]+}/preuve")
async def document_proof(request: web.Request) -> web.Response:
    await require_tenant(request)
    await require_staff(request)  # first: an anonymous visitor is sent to the login, whatever the id
    document_id = request.match_info["document_id"]
    if not is_uuid(document_id):
        raise PageError(404, "not_found.html")
    fmt = request.query.get("format", "")
    if fmt in FORMATS:
        return await _file(request, f"/api/v1/documents/{document_id}/proof", {}, fmt, f"preuve-{document_id}")
    reply = await agency_call(request, "documents", "GET", f"/api/v1/documents/{document_id}/proof")
    if reply.status != 200:
        raise PageError(404, "not_found.html")
    return _page(request, "proof.html", proof=reply.body, document_id=document_id)


@routes.get("/agence/preuves")
async def account_proof(request: web.Request) -> web.Response:
    await require_tenant(request)
    await require_staff(request)
    ref = (request.query.get("account_ref") or "").strip()
    if not ref:
        return _page(request, "account_proof.html", proof=None, account_ref="", error_message=None)
    if not _REF.match(ref):
        return _page(request, "account_proof.html", status=422, proof=None, account_ref=ref,
                     error_message="Cette référence de compte n'est pas valide.")
    fmt = request.query.get("format", "")
    if fmt in FORMATS:
        return await _file(request, "/api/v1/documents/proof", {"account_ref": ref}, fmt, f"preuve-compte-{ref}")
    reply = await agency_call(request, "documents", "GET", "/api/v1/documents/proof", params={"account_ref": ref})
    if reply.status != 200:
        return _page(request, "account_proof.html", status=422, proof=None, account_ref=ref,
                     error_message="Aucun compte ne porte cette référence.")
    return _page(request, "account_proof.html", proof=reply.body, account_ref=ref, error_message=None)


REGISTER_FILES = {"csv": ("text/csv", "csv"), "json": ("application/json", "json")}


@routes.get("/agence/consentements")
async def consent_register(request: web.Request) -> web.Response:
    await require_tenant(request)
    await require_staff(request)
    listing = await agency_call(request, "documents", "GET", "/api/v1/documents", params={"limit": "1"})
    choices = listing.body.get("residences", []) if listing.status == 200 else []
    ref = (request.query.get("residence_ref") or "").strip()
    at = (request.query.get("at") or "").strip()
    context = {"choices": choices, "residence_ref": ref, "at": at, "register": None, "error_message": None,
               "active": "consentements"}
    if not ref:
        return _page(request, "consents.html", **context)
    try:
        date.fromisoformat(at) if at else None
    except ValueError:
        return _page(request, "consents.html", status=422,
                     **{**context, "error_message": "Cette date n'est pas valide (format attendu : JJ/MM/AAAA)."})
    params = {"residence_ref": ref, "at": at or None}
    fmt = request.query.get("format", "")
    if fmt in REGISTER_FILES:
        media_type, extension = REGISTER_FILES[fmt]
        view = "state" if request.query.get("view") == "state" else "changes"
        reply = await agency_file(request, "documents", "GET", "/api/v1/consents", accept=media_type,
                                  params={k: v for k, v in {**params, "format": fmt, "view": view}.items() if v},
                                  ok=200)
        if reply.status != 200 or not reply.body:
            raise PageError(404, "not_found.html")
        name = f"registre-consentements-{ref}-{at or 'aujourdhui'}-{view if fmt == 'csv' else 'complet'}"
        return web.Response(body=reply.body, content_type=media_type, headers={
            "Cache-Control": "no-store", "Content-Disposition": f'attachment; filename="{name}.{extension}"'})
    reply = await agency_call(request, "documents", "GET", "/api/v1/consents", params=params)
    if reply.status != 200:
        return _page(request, "consents.html", status=422,
                     **{**context, "error_message": "Cette résidence n'est pas connue."})
    return _page(request, "consents.html", **{**context, "register": reply.body})
