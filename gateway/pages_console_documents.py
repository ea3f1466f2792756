"""The console's documents (``/agence/documents``) and its décret 2019-502 view (``/agence/conformite``).

Like the rest of the console, these pages own no data path: the list and the check are
``GET /api/v1/documents`` and ``GET /api/v1/documents/compliance``, the withdrawal is
``DELETE /api/v1/documents/{id}``, and each uploaded file is one ``POST /api/v1/documents`` (a
``metadata`` JSON part and a ``file`` part), all called as the agency for the staff member.

The upload form is the one page post larger than ``GATEWAY_MAX_FORM_BYTES``: the edge lets it reach
``GATEWAY_MAX_API_BODY_BYTES`` in total (``gateway/edge.py``, ``UPLOAD_PATHS``), its files spooled to
temporary files. Everything that can be checked before a file is sent is checked first (no file, an
empty or oversize one, a missing residence or account, a title too long with a file's name), and
the first file's answer checks the category, the audience and the account ref before anything is
published: a refusal there publishes nothing. A file refused later for its own content (its type)
is reported with those already published.
"""

from __future__ import annotations

import os
from datetime import date
from pathlib import PurePath
from zoneinfo import ZoneInfo

from aiohttp import web

from common.logging import get_logger
from gateway.console import STAFF, agency_call, agency_upload, require_staff
from gateway.context import form_text, now, redirect, render, require_tenant
from gateway.edge import PageError
from gateway.labels import CATEGORY_LABELS
from gateway.paths import is_uuid

__all__ = ["MAX_DOCUMENT_BYTES", "category_groups", "routes"]

log = get_logger(__name__)
routes = web.RouteTableDef()
_PARIS = ZoneInfo("Europe/Paris")
# GATEWAY_MAX_DOCUMENT_BYTES: one document's limit, checked here before any file is sent.
MAX_DOCUMENT_BYTES = web.AppKey("console_max_document_bytes", int)

MAX_FILES = 20
# The longest title documents accepts (services/documents/schemas.py, MetadataIn.title).
MAX_TITLE = 300
_FILTERS = ("q", "category", "residence_ref", "year", "status")
# (code prefix, group label, who its documents go to), in the dashboard's order.
_GROUPS = (
    ("CP_", "Copropriété", "tous les copropriétaires d'une résidence"),
    ("AG_", "Assemblées générales", "tous les copropriétaires d'une résidence"),
    ("LOT_", "Mon lot", "un compte de copropriétaire"),
    ("CS_", "Conseil syndical", "le conseil syndical d'une résidence"),
    ("BAI_", "Propriétaire bailleur", "un compte de propriétaire bailleur"),
    ("LOC_", "Locataire", "un compte de locataire"),
)
GROUP_LABELS = {"copropriete": "Copropriété", "assemblees": "Assemblées générales", "lot": "Mon lot",
                "conseil": "Conseil syndical", "bailleur": "Propriétaire bailleur", "locataire": "Locataire"}
AUDIENCES = {"residence": "Tous les copropriétaires de la résidence",
             "council": "Le conseil syndical de la résidence",
             "account": "Un seul compte (sa référence)"}
STATUS_LABELS = {"present": "Présent", "missing": "Manquant", "incomplete": "Incomplet", "out_of_date": "Pas à jour"}

NO_FILE = "Choisissez au moins un fichier."
TOO_MANY = f"{MAX_FILES} fichiers au plus par envoi."
EMPTY_FILE = "« {name} » est vide."
FILE_TOO_LARGE = "« {name} » dépasse {mb} Mo, la taille maximale d'un document. Rien n'a été publié."
WRONG_TYPE = "« {name} » n'est pas dans un format accepté (PDF, documents bureautiques, images PNG, JPEG, GIF, WebP)."
WRONG_AUDIENCE = "La catégorie « {label} » se publie pour {audience} : changez de catégorie ou de destinataire."
UNKNOWN_ACCOUNT = "Aucun compte actif ne porte la référence « {ref} »."
UNKNOWN_RESIDENCE = "Cette résidence n'est pas connue."
PARTLY_DONE = " {n} document{s} publié{s} avant ce refus ; les fichiers suivants n'ont pas été envoyés."
TITLE_TOO_LONG = ("Avec le nom du fichier « {name} », le titre du document ferait {length} caractères, pour {max} "
                  "au plus : raccourcissez le titre ou le nom du fichier. Rien n'a été publié.")
NOT_PUBLISHED = "Ce document n'a pas pu être publié. Rien n'a été publié."
PUBLISHED = "{n} document{s} publié{s}."
ALREADY = "{n} fichier{s} déjà publié{s} à l'identique pour ces destinataires."
WITHDRAWN = "Document retiré : il n'est plus visible de ses destinataires."


def _plural(n: int) -> str:
    return "s" if n > 1 else ""


def _audience_of(code: str) -> str:
    if code == "AG_VPC":
        return "un compte de copropriétaire"
    return next((who for prefix, _, who in _GROUPS if code.startswith(prefix)), "")


def category_groups() -> list[tuple[str, str, list[tuple[str, str]]]]:
    """(group label, audience, [(code, label)]) for the category select, in the dashboard's order."""
    return [(label, who, [(code, name) for code, name in CATEGORY_LABELS.items() if code.startswith(prefix)])
            for prefix, label, who in _GROUPS]


def _page(request: web.Request, template: str, **context) -> web.Response:
    return render(request, f"console/{template}", staff=request.get(STAFF), **context)


# ---- the list, its filters, the upload form ----------------------------------------------------

async def _documents(request: web.Request, *, status: int = 200, query=None, form: dict | None = None,
                     errors: dict | None = None, form_message: str | None = None,
                     notice: str | None = None) -> web.Response:
    query = request.query if query is None else query
    filters = {k: (query.get(k) or "").strip() or None for k in _FILTERS}
    params = {**filters, "cursor": query.get("cursor") or None, "limit": "50"}
    reply = await agency_call(request, "documents", "GET", "/api/v1/documents", params=params)
    body = reply.body if reply.status == 200 else {}
    list_message = None
    if reply.status != 200:
        list_message = "Ces critères de recherche ne sont pas valides."
        status = max(status, 422)
        fallback = await agency_call(request, "documents", "GET", "/api/v1/documents", params={"limit": "1"})
        body = {"residences": fallback.body.get("residences", [])} if fallback.status == 200 else {}
    residences = body.get("residences", [])
    today = now(request).astimezone(_PARIS).date().isoformat()
    team = await agency_call(request, "identity", "GET", "/api/v1/staff")
    staff_names = {m["id"]: m["display_name"] or m["email"] for m in team.body.get("staff", [])} \
        if team.status == 200 else {}
    return _page(request, "documents.html", status=status, active="documents", items=body.get("items", []),
                 staff_names=staff_names,
                 next_cursor=body.get("next_cursor"), residences=residences,
                 residence_names={r["ref"]: r["name"] for r in residences}, filters=filters,
                 groups=category_groups(), category_labels=CATEGORY_LABELS, audiences=AUDIENCES,
                 form=form or {"audience": "residence", "date": today}, errors=errors or {},
                 form_message=form_message, list_message=list_message, notice=notice)


@routes.get("/agence/documents")
async def documents(request: web.Request) -> web.Response:
    await require_tenant(request)
    await require_staff(request)
    notices = []
    if request.query.get("publies", "").isdigit() and int(request.query["publies"]):
        n = int(request.query["publies"])
        notices.append(PUBLISHED.format(n=n, s=_plural(n)))
    if request.query.get("deja", "").isdigit() and int(request.query["deja"]):
        n = int(request.query["deja"])
        notices.append(ALREADY.format(n=n, s=_plural(n)))
    if request.query.get("retire"):
        notices.append(WITHDRAWN)
    return await _documents(request, notice=" ".join(notices) or None)


def _size(field: web.FileField) -> int:
    handle = field.file
    handle.seek(0, os.SEEK_END)
    size = handle.tell()
    handle.seek(0)
    return size


def _read_form(raw) -> tuple[dict, list[web.FileField], dict]:
    """The upload form's fields, its files (a field without a chosen file is not one) and its errors."""
    form = {name: form_text(raw, name).strip()
            for name in ("category", "audience", "residence_ref", "account_ref", "title", "date")}
    files = [f for f in raw.getall("files", []) if isinstance(f, web.FileField) and f.filename]
    errors = {}
    if form["category"] not in CATEGORY_LABELS:
        errors["category"] = "Choisissez une catégorie."
    if form["audience"] not in AUDIENCES:
        errors["audience"] = "Choisissez les destinataires."
    elif form["audience"] == "account" and not form["account_ref"]:
        errors["account_ref"] = "Indiquez la référence du compte."
    elif form["audience"] != "account" and not form["residence_ref"]:
        errors["residence_ref"] = "Choisissez la résidence."
    try:
        date.fromisoformat(form["date"])
    except ValueError:
        errors["date"] = "Indiquez la date du document (jj/mm/aaaa)."
    if len(form["title"]) > 250:
        errors["title"] = "250 caractères au plus."
    return form, files, errors


def _metadata(form: dict, field: web.FileField, several: bool) -> dict:
    stem = PurePath(field.filename.replace("\\", "/")).stem[:200] or "Document"
    title = form["title"] or stem
    if form["title"] and several:
        title = f"{form['title']} – {stem}"
    if form["audience"] == "account":
        audience: dict = {"account_ref": form["account_ref"]}
    else:
        audience = {"residence_ref": form["residence_ref"]}
        if form["audience"] == "council":
            audience["council_only"] = True
    return {"category": form["category"], "title": title, "date": form["date"], "audience": audience}


def _title_errors(form: dict, files: list[web.FileField]) -> dict:
    """Several files under one title are published as « title – file name »: every such title must fit
    documents' limit, checked before any file is sent (else the batch would stop halfway through)."""
    several = len(files) > 1
    for field in files:
        length = len(_metadata(form, field, several)["title"].strip())  # documents strips it too
        if length > MAX_TITLE:
            return {"title": TITLE_TOO_LONG.format(name=field.filename, length=length, max=MAX_TITLE)}
    return {}


def _refusal(reply, form: dict, name: str, max_mb: int) -> tuple[dict, str | None]:
    """A service refusal of one file as (field errors, form message), in French."""
    if reply.status == 413:
        return {"files": FILE_TOO_LARGE.format(name=name, mb=max_mb)}, None
    if reply.status == 415:
        return {"files": WRONG_TYPE.format(name=name)}, None
    paths = {e.get("path") for e in (reply.body or {}).get("errors", []) if isinstance(e, dict)}
    if "metadata.audience.account_ref" in paths:
        return {"account_ref": UNKNOWN_ACCOUNT.format(ref=form["account_ref"])}, None
    if "metadata.audience.residence_ref" in paths:
        return {"residence_ref": UNKNOWN_RESIDENCE}, None
    if "metadata.audience" in paths:
        label = CATEGORY_LABELS.get(form["category"], form["category"])
        return {"category": WRONG_AUDIENCE.format(label=label, audience=_audience_of(form["category"]))}, None
    if "metadata.category" in paths:
        return {"category": "Choisissez une catégorie."}, None
    return {}, NOT_PUBLISHED


@routes.post("/agence/documents/envoi")
async def upload(request: web.Request) -> web.Response:
    await require_tenant(request)
    await require_staff(request)
    form, files, errors = _read_form(await request.post())
    max_bytes = request.app[MAX_DOCUMENT_BYTES]
    max_mb = max_bytes // (1024 * 1024)
    status = 422
    if not files:
        errors["files"] = NO_FILE
    elif len(files) > MAX_FILES:
        errors["files"] = TOO_MANY
    else:
        sizes = [(field.filename, _size(field)) for field in files]
        empty = [name for name, size in sizes if size == 0]
        oversize = [name for name, size in sizes if size > max_bytes]
        if oversize:
            status, errors["files"] = 413, FILE_TOO_LARGE.format(name=oversize[0], mb=max_mb)
        elif empty:
            errors["files"] = EMPTY_FILE.format(name=empty[0])
    if not errors:
        errors = _title_errors(form, files)
    if errors:
        return await _documents(request, status=status, query={}, form=form, errors=errors)
    created = already = 0
    for field in files:
        reply = await agency_upload(request, "documents", "/api/v1/documents",
                                    metadata=_metadata(form, field, len(files) > 1), file=field)
        if reply.status in (200, 201):
            created, already = created + (reply.status == 201), already + (reply.status == 200)
            continue
        errors, message = _refusal(reply, form, field.filename, max_mb)
        done = created + already
        if done:  # say what was published before this refusal (the first file's answer published nothing)
            suffix = PARTLY_DONE.format(n=done, s=_plural(done))
            errors = {k: v.removesuffix(" Rien n'a été publié.") + suffix for k, v in errors.items()}
            message = message.removesuffix(" Rien n'a été publié.") + suffix if message else None
        log.info("console.documents_refused", status=reply.status, published=done)
        return await _documents(request, status=reply.status if reply.status in (413, 415) else 422, query={},
                                form=form, errors=errors, form_message=message)
    log.info("console.documents_published", created=created, already=already)
    return redirect(request, "/agence/documents", publies=str(created), deja=str(already) if already else None)


@routes.get("/agence/documents/{document_id:[^/]+}/retrait")
async def withdraw_form(request: web.Request) -> web.Response:
    """Withdrawing ends the document's availability to its recipients: the staff member confirms
    it on a page of its own (no script), seeing what and whom it concerns."""
    await require_tenant(request)
    await require_staff(request)  # first: an anonymous visitor is sent to the login, whatever the id
    document_id = request.match_info["document_id"]
    if not is_uuid(document_id):
        raise PageError(404, "not_found.html")
    reply = await agency_call(request, "documents", "GET", f"/api/v1/documents/{document_id}/proof")
    if reply.status != 200:
        raise PageError(404, "not_found.html")
    return _page(request, "withdraw.html", active="documents", document=reply.body["document"],
                 summary=reply.body["summary"])




@routes.post("/agence/documents/{document_id:[0-9a-fA-F-]{36}}/retrait")
async def withdraw(request: web.Request) -> web.Response:
    await require_tenant(request)
    await require_staff(request)
    reply = await agency_call(request, "documents", "DELETE", f"/api/v1/documents/{request.match_info['document_id']}")
    if reply.status == 204:
        log.info("console.document_withdrawn")
        return redirect(request, "/agence/documents", retire="1")
    raise PageError(404, "not_found.html")


# ---- décret 2019-502 ---------------------------------------------------------------------------

def _detail(item: dict) -> str:
    count, expected = item["count"], item.get("expected")
    if item["category"] == "AG_PV":
        return f"{count} procès-verbal{'' if count < 2 else 'x'} sur les 3 dernières AG"
    if expected is not None:  # one per coproprietaire account
        if expected == 0:
            return "Aucun copropriétaire dans la résidence"
        return f"{count} compte{_plural(count)} à jour sur {expected}"
    return f"{count} document{_plural(count)}" if count else "Aucun document"


@routes.get("/agence/conformite")
async def compliance(request: web.Request) -> web.Response:
    await require_tenant(request)
    await require_staff(request)
    residence_ref = (request.query.get("residence_ref") or "").strip() or None
    reply = await agency_call(request, "documents", "GET", "/api/v1/documents/compliance",
                              params={"residence_ref": residence_ref})
    listing = await agency_call(request, "documents", "GET", "/api/v1/documents", params={"limit": "1"})
    status, error_message = 200, None
    if reply.status != 200:
        status, error_message = 422, "Cette résidence n'est pas connue."
    residences = reply.body.get("residences", []) if reply.status == 200 else []
    for residence in residences:
        for item in residence["items"]:
            item["status_label"] = STATUS_LABELS[item["status"]]
            item["group_label"] = GROUP_LABELS.get(item["group"], item["group"])
            item["detail"] = _detail(item)
    return _page(request, "compliance.html", status=status, active="conformite", residences=residences,
                 choices=listing.body.get("residences", []) if listing.status == 200 else [],
                 residence_ref=residence_ref, error_message=error_message, status_labels=STATUS_LABELS)

