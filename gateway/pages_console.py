"""The agency console (``/agence``): staff login, invitation, directory, team.

Staff reach it at ``/agence?client=C&societe=S``; its session and its CSRF scope are its own
(``gateway/console.py``, ``gateway/visit.py``). What it shows and changes goes through the public
API's routes, as the agency, on behalf of the staff member.
"""

from __future__ import annotations

import re

from aiohttp import web

from common.logging import get_logger
from gateway import messages
from gateway.console import STAFF, STAFF_SESSION, agency_call, agency_file, optional_staff, require_admin, require_staff
from gateway.context import LETTERS_TIMEOUT, call, end_session_of, form_text, now, redirect, render, require_tenant
from gateway.edge import EDGE, TOKEN_PAGE, VISIT, PageError
from gateway.labels import ROLE_LABELS
from gateway.pages_activation import password_criteria

__all__ = ["ACCESS_LABELS", "routes"]

log = get_logger(__name__)
routes = web.RouteTableDef()

ACCESS_LABELS = {"none": "Sans identifiants", "credentials_issued": "Identifiants provisoires remis",
                 "expired": "Identifiants expirés", "pending_verification": "Email à vérifier",
                 "activated": "Activé", "merged": "Activé (compte fusionné)"}
STAFF_ROLE_LABELS = {"admin": "Administrateur", "gestionnaire": "Gestionnaire"}
STAFF_STATUS_LABELS = {"invited": "Invitation envoyée", "active": "Actif", "disabled": "Désactivé"}
STAFF_EMAIL_TAKEN = "Cette adresse est déjà celle d'un collaborateur de l'agence."
INVITATION_SENT = "Invitation envoyée à {email}. Le lien est valable 7 jours."
# Identity limits invitations (each one an email): one per address per few minutes, so many per agency per hour.
INVITE_ADDRESS_WAIT = ("Une invitation vient d'être envoyée à cette adresse. "
                       "Vous pourrez en envoyer une nouvelle {when}.")
INVITE_AGENCY_WAIT = ("Par sécurité, le nombre d'invitations envoyées par heure est limité. "
                      "Vous pourrez en envoyer de nouvelles {when}.")
ACCESS_READY = "Votre accès est prêt : connectez-vous avec votre adresse mail et votre mot de passe."
_LISTING_FILTERS = ("q", "residence_ref", "role", "access")


def _page(request: web.Request, template: str, **context) -> web.Response:
    return render(request, f"console/{template}", staff=request.get(STAFF), **context)


@routes.get("/agence")
async def home(request: web.Request) -> web.Response:
    await require_tenant(request)
    staff = await optional_staff(request)
    return redirect(request, "/agence/annuaire" if staff else "/agence/connexion")


@routes.get("/agence/connexion")
async def login_form(request: web.Request) -> web.Response:
    await require_tenant(request)
    notice = ACCESS_READY if request.query.get("pret") else (
        messages.SESSION_EXPIRED if request.query.get("expired") else None)
    return _page(request, "login.html", errors={}, notice=notice)


@routes.post("/agence/connexion")
async def login(request: web.Request) -> web.Response:
    await require_tenant(request)
    form = await request.post()
    email, password = form_text(form, "email").strip(), form_text(form, "password")
    errors = {name: messages.REQUIRED for name, value in (("email", email), ("password", password)) if not value}
    if errors:
        return _page(request, "login.html", status=422, errors=errors, email=email)
    reply = await call(request, "identity", "POST", "/v1/staff/login", json={"email": email, "password": password})
    if reply.status == 429:
        return _page(request, "login.html", status=429, errors={}, email=email,
                     wait_message=messages.wait_message(reply, messages.LOGIN_WAIT, now=now(request)))
    if reply.status != 200:
        return _page(request, "login.html", status=401, email=email, errors={"password": messages.LOGIN_INVALID})
    request[VISIT].rotate()  # a new visit id (and CSRF tokens) with the new session
    edge = request.app[EDGE]
    response = redirect(request, "/agence/annuaire")
    response.set_cookie(edge.staff_cookie, reply.body["session_id"], **edge.cookie_options(None))
    log.info("console.login_succeeded")
    return response


@routes.post("/agence/deconnexion")
async def logout(request: web.Request) -> web.Response:
    await require_tenant(request)
    return await end_session_of(request, STAFF_SESSION, then="/agence/connexion")


# ---- invitation: the first password ------------------------------------------------------------

async def _invited(request: web.Request, token: str) -> dict:
    request[TOKEN_PAGE] = True  # no-referrer, no-store: the URL holds a secret
    if not token:
        raise PageError(400, "console/invitation_invalid.html")
    reply = await call(request, "identity", "POST", "/v1/staff/invitations/check", json={"token": token}, safe=True)
    if reply.status != 200:
        raise PageError(400, "console/invitation_invalid.html")
    return reply.body


@routes.get("/agence/invitation")
async def invitation_form(request: web.Request) -> web.Response:
    await require_tenant(request)
    token = request.query.get("token", "")
    invited = await _invited(request, token)
    criteria, _ = await password_criteria(request, email=invited["email"])
    return _page(request, "invitation.html", invited=invited, token=token, errors={}, criteria=criteria,
                 problems=[], role_label=STAFF_ROLE_LABELS[invited["role"]].lower())


@routes.post("/agence/invitation")
async def invitation_accept(request: web.Request) -> web.Response:
    await require_tenant(request)
    form = await request.post()
    token, password = form_text(form, "token"), form_text(form, "password")
    confirmation = form_text(form, "confirmation")
    invited = await _invited(request, token)
    reply = await call(request, "identity", "POST", "/v1/staff/invitations/accept",
                       json={"token": token, "password": password, "confirmation": confirmation})
    if reply.status == 200:
        return redirect(request, "/agence/connexion", pret="1")
    if reply.error == "invalid_token":
        raise PageError(400, "console/invitation_invalid.html")
    errors = {}
    if reply.error == "password_policy":
        criteria, problems = reply.body.get("criteria", []), reply.body.get("problems", [])
        errors["password"] = messages.POLICY_FAILED
    else:
        criteria, problems = await password_criteria(request, password, confirmation=confirmation)
    if reply.error == "confirmation_mismatch":
        errors["confirmation"] = messages.CONFIRMATION_MISMATCH
    wait = messages.wait_message(reply, messages.OTHER_WAIT, now=now(request)) if reply.status == 429 else None
    if not errors and wait is None:
        errors["password"] = messages.POLICY_FAILED
    return _page(request, "invitation.html", status=429 if wait else 422, invited=invited, token=token,
                 errors=errors, criteria=criteria, problems=problems, wait_message=wait,
                 role_label=STAFF_ROLE_LABELS[invited["role"]].lower())


# ---- directory ----------------------------------------------------------------------------------

async def _directory(request: web.Request, *, status: int = 200, error_message: str | None = None,
                     query=None, notice: str | None = None) -> web.Response:
    query = request.query if query is None else query
    filters = {k: query.get(k) or None for k in _LISTING_FILTERS}
    params = {**filters, "cursor": query.get("cursor") or None, "limit": "50"}
    reply = await agency_call(request, "tenancy", "GET", "/api/v1/directory/accounts", params=params)
    body = reply.body if reply.status == 200 else {}
    if reply.status != 200:
        status, error_message = 422, "Ces critères de recherche ne sont pas valides."
    return _page(request, "directory.html", status=status, active="annuaire",
                 accounts=body.get("accounts", []), next_cursor=body.get("next_cursor"),
                 residences=body.get("residences", []), filters=filters, role_labels=ROLE_LABELS,
                 access_labels=ACCESS_LABELS, error_message=error_message, notice=notice)


@routes.get("/agence/annuaire")
async def directory(request: web.Request) -> web.Response:
    await require_tenant(request)
    await require_staff(request)
    unlinked = request.query.get("delie", "")
    return await _directory(request, notice=UNLINKED.format(ref=unlinked) if _REF.match(unlinked) else None)


# ---- provisional credentials: the letters (PDF) or the mail-merge file (CSV) ---------------------

LETTER_TYPES = {"pdf": "application/pdf", "csv": "text/csv"}
NOTHING_SELECTED = "Sélectionnez au moins un compte, ou choisissez « pour tous les comptes sans accès »."
ALL_REFUSED = ("Ces comptes ont déjà un accès activé : de nouveaux identifiants ne leur servent pas. "
               "Comptes concernés : {refs}.")
NOBODY_WITHOUT_ACCESS = "Tous les comptes ont déjà un accès ou des identifiants en cours de validité."


@routes.post("/agence/identifiants")
async def issue_letters(request: web.Request) -> web.StreamResponse:
    await require_tenant(request)
    await require_staff(request)
    form = await request.post()
    letter_format = form_text(form, "format", "pdf")
    media_type = LETTER_TYPES.get(letter_format, "application/pdf")
    if form_text(form, "scope") == "all":
        body: dict = {"all_without_access": True}
    else:
        refs = [r for r in form.getall("refs", []) if isinstance(r, str) and r]
        if not refs:
            return await _directory(request, status=422, error_message=NOTHING_SELECTED, query={})
        body = {"account_refs": refs}
    reply = await agency_file(request, "tenancy", "POST", "/api/v1/provisional-credentials", json=body,
                              accept=media_type, timeout=request.app[LETTERS_TIMEOUT])
    if reply.status == 201 and reply.body:
        log.info("console.credentials_issued", format=letter_format,
                 refused=reply.headers.get("X-Refused-Count", "0"))
        headers = {"Cache-Control": "no-store", "Content-Disposition": reply.headers.get("Content-Disposition") or
                   'attachment; filename="identifiants-provisoires.csv"'}
        return web.Response(body=reply.body, content_type=media_type, headers=headers)
    if reply.status == 201:  # nothing to issue: every account has its access or live credentials
        return await _directory(request, status=200, error_message=NOBODY_WITHOUT_ACCESS, query={})
    if reply.status == 409:
        refs = ", ".join(item.get("account_ref", "?") for item in (reply.json or {}).get("refused", []))
        return await _directory(request, status=409, error_message=ALL_REFUSED.format(refs=refs), query={})
    return await _directory(request, status=422, error_message="Ces comptes n'ont pas pu recevoir d'identifiants.",
                            query={})


# ---- unlink an account from its person ------------------------------------------------------------

UNLINK_REASONS = {"sold": "Lot vendu", "wrong_merge": "Fusion ou rattachement erroné", "other": "Autre motif"}
UNLINKED = "Le compte {ref} n'est plus rattaché à son titulaire ; il en a été informé par email."
NOT_LINKED = "Ce compte n'est rattaché à aucun accès extranet : il n'y a rien à délier."
# An agency ref (services/tenancy/domain.py REF_PATTERN): checked before it becomes a path segment.
_REF = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$")


async def _account(request: web.Request, ref: str) -> dict:
    if not _REF.match(ref):
        raise PageError(404, "not_found.html")
    reply = await agency_call(request, "tenancy", "GET", "/api/v1/directory/accounts", params={"ref": ref})
    found = reply.body.get("accounts", []) if reply.status == 200 else []
    if not found:
        raise PageError(404, "not_found.html")
    return found[0]


async def _unlink_page(request: web.Request, account: dict, *, status: int = 200, **context) -> web.Response:
    return _page(request, "unlink.html", status=status, active="annuaire", account=account, reasons=UNLINK_REASONS,
                 role_labels=ROLE_LABELS, access_labels=ACCESS_LABELS, **context)


@routes.get("/agence/delier")
async def unlink_form(request: web.Request) -> web.Response:
    await require_tenant(request)
    await require_staff(request)
    return await _unlink_page(request, await _account(request, request.query.get("ref", "")), form={})


@routes.post("/agence/delier")
async def unlink(request: web.Request) -> web.Response:
    await require_tenant(request)
    await require_staff(request)
    form = await request.post()
    account = await _account(request, form_text(form, "ref"))
    values = {"reason": form_text(form, "reason"), "note": form_text(form, "note").strip()}
    if values["reason"] not in UNLINK_REASONS:
        return await _unlink_page(request, account, status=422, form=values,
                                  errors={"reason": "Choisissez le motif."})
    if len(values["note"]) > 500:
        return await _unlink_page(request, account, status=422, form=values,
                                  errors={"note": "500 caractères au plus."})
    reply = await agency_call(request, "tenancy", "POST", f"/api/v1/directory/accounts/{account['ref']}/unlink",
                              json=values)
    if reply.status == 200:
        return redirect(request, "/agence/annuaire", delie=account["ref"])
    if reply.error == "account_not_linked":
        return await _unlink_page(request, account, status=409, form=values, form_message=NOT_LINKED)
    return await _unlink_page(request, account, status=503, form=values,
                              form_message="Le compte n'a pas pu être délié. Réessayez dans quelques instants.")


# ---- team ---------------------------------------------------------------------------------------

def _invitation_notice(members: list[dict], staff_id: str) -> str | None:
    """The notice after an invitation, built here: the redirect carries the member's id only, the
    address comes from the agency's list (a sentence in the address bar is never shown as ours)."""
    member = next((m for m in members if m["id"] == staff_id and m["status"] == "invited"), None)
    return INVITATION_SENT.format(email=member["email"]) if member else None


async def _team(request: web.Request, *, status: int = 200, invited: str = "", **context) -> web.Response:
    reply = await agency_call(request, "identity", "GET", "/api/v1/staff")
    members = reply.body.get("staff", []) if reply.status == 200 else []
    if invited and "notice" not in context:
        context["notice"] = _invitation_notice(members, invited)
    context.setdefault("form", {})
    context.setdefault("errors", {})
    return _page(request, "team.html", status=status, active="equipe", members=members,
                 staff_roles=STAFF_ROLE_LABELS, staff_statuses=STAFF_STATUS_LABELS, **context)


@routes.get("/agence/equipe")
async def team(request: web.Request) -> web.Response:
    await require_tenant(request)
    await require_staff(request)
    return await _team(request, invited=request.query.get("invite", ""))


STAFF_DISABLED = "{name} n'a plus accès à la console ; ses sessions ont été fermées."
STAFF_ENABLED = "{name} a de nouveau accès à la console."
INVITATION_REVOKED = "L'invitation envoyée à {name} est retirée : son lien ne fonctionne plus."
# What an administrator may do to a colleague (identity's POST /api/v1/staff/{id}/<action>), and what it says.
STAFF_ACTIONS = {"disable": STAFF_DISABLED, "enable": STAFF_ENABLED, "revoke": INVITATION_REVOKED}
_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


@routes.post("/agence/equipe/acces")
async def staff_access(request: web.Request) -> web.Response:
    await require_tenant(request)
    require_admin(await require_staff(request))
    form = await request.post()
    staff_id, action = form_text(form, "staff_id"), form_text(form, "action")
    if not _UUID.match(staff_id) or action not in STAFF_ACTIONS:
        raise PageError(404, "not_found.html")
    reply = await agency_call(request, "identity", "POST", f"/api/v1/staff/{staff_id}/{action}")
    if reply.status != 200:
        return await _team(request, status=reply.status if reply.status in (403, 404) else 503,
                           form_message="Ce changement n'a pas pu être fait.")
    name = reply.body.get("display_name") or reply.body.get("email")
    return await _team(request, notice=STAFF_ACTIONS[action].format(name=name))


@routes.post("/agence/equipe")
async def invite(request: web.Request) -> web.Response:
    await require_tenant(request)
    staff = await require_staff(request)
    require_admin(staff)
    raw = await request.post()
    role = form_text(raw, "role")
    form = {"email": form_text(raw, "email").strip(), "display_name": form_text(raw, "display_name").strip(),
            "role": role if role in STAFF_ROLE_LABELS else "gestionnaire"}
    if not form["email"]:
        return await _team(request, status=422, form=form, errors={"email": messages.REQUIRED})
    if len(form["display_name"]) > 200:
        return await _team(request, status=422, form=form, errors={"display_name": "200 caractères au plus."})
    reply = await agency_call(request, "identity", "POST", "/api/v1/staff", json=form)
    if reply.status == 201:
        return redirect(request, "/agence/equipe", invite=reply.body["id"])
    if reply.error == "staff_email_taken":
        return await _team(request, status=409, form=form, errors={"email": STAFF_EMAIL_TAKEN})
    if reply.error in ("invalid_email", "validation_failed"):
        return await _team(request, status=422, form=form, errors={"email": messages.EMAIL_INVALID})
    if reply.status == 403:
        raise PageError(403, "console/forbidden.html")
    if reply.status == 429:
        wait = INVITE_ADDRESS_WAIT if reply.body.get("limit") == "address" else INVITE_AGENCY_WAIT
        return await _team(request, status=429, form=form,
                           form_message=messages.wait_message(reply, wait, now=now(request)))
    return await _team(request, status=reply.status, form=form, form_message="L'invitation n'a pas pu être envoyée.")
