"""Passkeys in the pages (issue 15): added and removed in Profil, used after the password, or alone
to log in where the browser offers it. The browser's ceremony runs in ``static/app.js``; the
challenges stay in identity, the ceremony ids in the signed visit."""

from __future__ import annotations

import json

from aiohttp import web

from gateway import messages
from gateway.context import call, form_text, now, redirect, render, require_session, require_tenant
from gateway.edge import VISIT
from gateway.pages_mfa import answer_second_factor, code_page, open_session

__all__ = ["routes"]

routes = web.RouteTableDef()
PASSKEY_FAILED = ("La clé d'accès n'a pas été reconnue. Réessayez, ou utilisez votre mot de passe"
                  " (et votre code, si votre compte en demande un).")
PASSKEY_NOT_ADDED = "La clé d'accès n'a pas pu être enregistrée. Veuillez réessayer."
PASSKEY_ADDED = "Votre clé d'accès a été ajoutée."
PASSKEY_REMOVED = "La clé d'accès a été retirée de votre compte."


def _options(reply) -> str:
    return json.dumps(reply.body["options"], separators=(",", ":"))


# ---- the profile ----------------------------------------------------------------------------

@routes.post("/profile/passkeys/new")
async def new_passkey(request: web.Request) -> web.Response:
    await require_tenant(request)
    session = await require_session(request)
    reply = await call(request, "identity", "POST", "/v1/me/passkeys/options")
    if reply.status != 200:
        raise web.HTTPServiceUnavailable()
    request[VISIT].set("pr", reply.body["ceremony_id"])
    return render(request, "passkey_new.html", active="profile", session=session, options=_options(reply))


@routes.post("/profile/passkeys")
async def add_passkey(request: web.Request) -> web.Response:
    from gateway.pages_profile import profile_page

    await require_tenant(request)
    session = await require_session(request)
    form = await request.post()
    ceremony_id = request[VISIT].get("pr")
    request[VISIT].set("pr", None)
    try:
        credential = json.loads(form_text(form, "credential"))
    except ValueError:
        credential = None
    if not ceremony_id or not isinstance(credential, dict):
        return await profile_page(request, status=422, mfa_errors={"passkey": PASSKEY_NOT_ADDED})
    reply = await call(request, "identity", "POST", "/v1/me/passkeys",
                       json={"ceremony_id": ceremony_id, "credential": credential,
                             "name": form_text(form, "name").strip()[:60]})
    if reply.status != 201:
        return await profile_page(request, status=422, mfa_errors={"passkey": PASSKEY_NOT_ADDED})
    if reply.body.get("recovery_codes"):
        return render(request, "mfa_codes.html", active="profile", session=session,
                      codes=reply.body["recovery_codes"], first=True)
    return redirect(request, "/profile", mfa="passkey")


@routes.post("/profile/passkeys/remove")
async def remove_passkey(request: web.Request) -> web.Response:
    from gateway.pages_profile import profile_page

    await require_tenant(request)
    await require_session(request)
    form = await request.post()
    passkey_id = form_text(form, "passkey_id")
    field = f"passkey_password_{passkey_id}"
    password = form_text(form, field)
    if not password:
        return await profile_page(request, status=422, mfa_errors={field: messages.REQUIRED})
    reply = await call(request, "identity", "POST", "/v1/me/passkeys/remove",
                       json={"passkey_id": passkey_id, "password": password})
    if reply.status == 200:
        return redirect(request, "/profile", mfa="passkey_removed")
    if reply.status == 401:
        return await profile_page(request, status=401, mfa_errors={field: messages.MFA_PASSWORD_INVALID})
    if reply.status == 429:
        return await profile_page(request, status=429, mfa_wait=messages.wait_message(
            reply, messages.PERSON_LOCK_WAIT, now=now(request)))
    if reply.error == "mfa_required_by_agency":
        return await profile_page(request, status=409, mfa_errors={field: messages.MFA_REQUIRED_BY_AGENCY})
    return redirect(request, "/profile")


# ---- the step after the password --------------------------------------------------------------

@routes.post("/login/code/cle")
async def second_step_options(request: web.Request) -> web.Response:
    await require_tenant(request)
    token = request[VISIT].get("m")
    if not token:
        return redirect(request, "/login/form")
    reply = await call(request, "identity", "POST", "/v1/login/mfa/passkey/options", json={"mfa_token": token})
    if reply.status != 200:
        request[VISIT].set("m", None)
        return render(request, "login.html", status=401, errors={}, notice=messages.MFA_CODE_EXPIRED)
    return render(request, "login_passkey.html", options=_options(reply), action="/login/code/cle/verifier",
                  second_step=True)


@routes.post("/login/code/cle/verifier")
async def second_step_verify(request: web.Request) -> web.Response:

    await require_tenant(request)
    token = request[VISIT].get("m")
    if not token:
        return redirect(request, "/login/form")
    try:
        assertion = json.loads(form_text(await request.post(), "credential"))
    except ValueError:
        assertion = None
    if not isinstance(assertion, dict):
        return code_page(request, status=422, error=PASSKEY_FAILED)
    return await answer_second_factor(request, token, {"assertion": assertion}, failed=PASSKEY_FAILED)


# ---- passwordless -----------------------------------------------------------------------------

@routes.post("/login/cle")
async def passwordless_options(request: web.Request) -> web.Response:
    await require_tenant(request)
    reply = await call(request, "identity", "POST", "/v1/login/passkey/options")
    if reply.status != 200:
        raise web.HTTPServiceUnavailable()
    request[VISIT].set("pl", reply.body["ceremony_id"])
    return render(request, "login_passkey.html", options=_options(reply), action="/login/cle/verifier",
                  second_step=False)


@routes.post("/login/cle/verifier")
async def passwordless_verify(request: web.Request) -> web.Response:
    await require_tenant(request)
    ceremony_id = request[VISIT].get("pl")
    request[VISIT].set("pl", None)
    try:
        assertion = json.loads(form_text(await request.post(), "credential"))
    except ValueError:
        assertion = None
    if not ceremony_id or not isinstance(assertion, dict):
        return render(request, "login.html", status=401, errors={}, form_message=PASSKEY_FAILED)
    reply = await call(request, "identity", "POST", "/v1/login/passkey",
                       json={"ceremony_id": ceremony_id, "assertion": assertion})
    if reply.status == 200:
        return open_session(request, reply.body["session_id"])
    if reply.status == 429:
        return render(request, "login.html", status=429, errors={},
                      wait_message=messages.wait_message(reply, messages.LOGIN_WAIT, now=now(request)))
    return render(request, "login.html", status=401, errors={}, form_message=PASSKEY_FAILED)
