"""The agency console's "Réglages" (administrators): help contact, colour, the second-factor
requirement of its persons (issue 15), API key, and the history of these changes.

Split from ``gateway/pages_console.py`` when the requirement made that module pass 400 lines.
"""

from __future__ import annotations

from aiohttp import web

from gateway import messages
from gateway.console import STAFF, agency_call, require_admin, require_staff
from gateway.context import TENANT, TENANTS, VERIFIED_KEYS, form_text, redirect, render, require_tenant
from gateway.edge import NO_STORE

__all__ = ["routes"]

routes = web.RouteTableDef()


def _page(request: web.Request, template: str, **context) -> web.Response:
    return render(request, f"console/{template}", staff=request.get(STAFF), **context)


# ---- settings (administrators): help contact, colour, API key -------------------------------------

SETTINGS_SAVED = "Réglages enregistrés."
HISTORY_LABELS = {"agency_updated": "Contact d'aide ou couleur modifiés", "api_key_rotated": "Nouvelle clé d'API",
                  "tenant_updated": "Réglages modifiés par le prestataire"}
# The agency's second-factor requirement (issue 15), as the form and the history say it.
MFA_REQUIREMENTS = {"none": "Facultative pour tous", "council": "Exigée des membres du conseil syndical",
                    "all": "Exigée de toutes les personnes"}
MFA_SAVED = "Exigence de double authentification enregistrée."


def _history_label(item: dict) -> str:
    changed = (item.get("detail") or {}).get("changed") or {}
    if item["kind"] == "agency_updated" and set(changed) == {"mfa_requirement"}:
        after = (changed["mfa_requirement"] or {}).get("after")
        return f"Double authentification : {MFA_REQUIREMENTS.get(after, after)}"
    return HISTORY_LABELS.get(item["kind"], item["kind"])
_SETTINGS_FIELDS = {"support_email": ("support", "email"), "support_phone": ("support", "phone"),
                    "support_hours": ("support", "hours"), "primary_color": ("branding", "primary_color")}


async def _settings_page(request: web.Request, *, status: int = 200, form: dict | None = None, **context):
    agency = await agency_call(request, "tenancy", "GET", "/api/v1/agency")
    audit = await agency_call(request, "tenancy", "GET", "/api/v1/agency/audit")
    staff_names = {m["id"]: m["display_name"] or m["email"] for m in
                   (await agency_call(request, "identity", "GET", "/api/v1/staff")).body.get("staff", [])}
    if form is None:
        body = agency.body if agency.status == 200 else {}
        form = {name: (body.get(group) or {}).get(key) or "" for name, (group, key) in _SETTINGS_FIELDS.items()}
    history = [{"at": h["at"], "what": _history_label(h),
                "who": staff_names.get(h["staff_id"], "Logiciel de l'agence") if h["actor"] == "agency"
                else "Prestataire"} for h in (audit.body.get("items", []) if audit.status == 200 else [])
               if h["kind"] in HISTORY_LABELS]  # the settings' history; directory changes are audited too
    context.setdefault("errors", {})
    requirement = ((agency.body.get("settings") or {}).get("mfa_requirement") if agency.status == 200 else None)
    return _page(request, "settings.html", status=status, active="reglages", form=form, history=history,
                 mfa_requirement=requirement or "none", mfa_requirements=MFA_REQUIREMENTS, **context)


@routes.get("/agence/reglages")
async def settings_page(request: web.Request) -> web.Response:
    await require_tenant(request)
    require_admin(await require_staff(request))
    notice = SETTINGS_SAVED if request.query.get("ok") else MFA_SAVED if request.query.get("mfa") else None
    return await _settings_page(request, notice=notice)


@routes.post("/agence/reglages/double-authentification")
async def save_mfa_requirement(request: web.Request) -> web.Response:
    await require_tenant(request)
    require_admin(await require_staff(request))
    value = form_text(await request.post(), "mfa_requirement")
    if value not in MFA_REQUIREMENTS:
        return await _settings_page(request, status=422, form_message="Choisissez une des trois possibilités.")
    reply = await agency_call(request, "tenancy", "PATCH", "/api/v1/agency",
                              json={"settings": {"mfa_requirement": value}})
    if reply.status != 200:
        return await _settings_page(request, status=reply.status if reply.status >= 400 else 503,
                                    form_message="L'exigence n'a pas pu être enregistrée.")
    return redirect(request, "/agence/reglages", mfa="1")


@routes.post("/agence/reglages")
async def save_settings(request: web.Request) -> web.Response:
    await require_tenant(request)
    require_admin(await require_staff(request))
    raw = await request.post()
    form = {name: form_text(raw, name).strip() for name in _SETTINGS_FIELDS}
    patch: dict = {"support": {"email": form["support_email"] or None, "phone": form["support_phone"] or None,
                               "hours": form["support_hours"] or None},
                   "branding": {"primary_color": form["primary_color"] or None}}
    reply = await agency_call(request, "tenancy", "PATCH", "/api/v1/agency", json=patch)
    if reply.status == 200:
        request.app[TENANTS].forget(request[TENANT])  # the pages show the new contact and colour at once
        return redirect(request, "/agence/reglages", ok="1")
    errors = {}
    for error in reply.body.get("errors", []) if isinstance(reply.body, dict) else []:
        path = error.get("path", "")
        for name, (group, key) in _SETTINGS_FIELDS.items():
            if path.startswith(f"{group}.{key}"):
                errors[name] = SETTINGS_ERRORS[name]
    return await _settings_page(request, status=422, form=form, errors=errors,
                                form_message=None if errors else "Les réglages n'ont pas pu être enregistrés.")


SETTINGS_ERRORS = {"support_email": messages.EMAIL_INVALID, "support_phone": "40 caractères au plus.",
                   "support_hours": "200 caractères au plus.",
                   "primary_color": "Choisissez une couleur au format #RRGGBB."}


@routes.post("/agence/reglages/cle")
async def new_api_key(request: web.Request) -> web.Response:
    await require_tenant(request)
    require_admin(await require_staff(request))
    reply = await agency_call(request, "tenancy", "POST", "/api/v1/agency/api-keys")
    if reply.status != 201:
        return await _settings_page(request, status=503, form_message="La clé n'a pas pu être créée.")
    request.app[VERIFIED_KEYS].forget_all()  # the old key stops at once on this process
    request[NO_STORE] = True  # the key is shown once
    return await _settings_page(request, status=201, api_key=reply.body["api_key"])
