"""The "Profil" tab: email, linked accounts, password change, second factor, sessions."""

from __future__ import annotations

import asyncio

from aiohttp import web

from gateway import messages
from gateway.context import call, form_text, now, redirect, render, require_session, require_tenant
from gateway.pages_activation import password_criteria
from gateway.pages_dashboard import linked_accounts
from gateway.upstream import Reply, ServiceUnavailable

__all__ = ["routes"]

routes = web.RouteTableDef()


async def profile_page(request: web.Request, *, status: int = 200, errors: dict | None = None, criteria=None,
                       problems=(), mfa_errors: dict | None = None, **extra) -> web.Response:
    session = await require_session(request)
    agencies, sessions, policy, mfa, consents = await asyncio.gather(
        linked_accounts(request, session), call(request, "identity", "GET", "/v1/me/sessions"),
        password_criteria(request, email=session.get("email")) if criteria is None else _given(criteria),
        call(request, "identity", "GET", "/v1/me/mfa"),
        _consents(request) if session.get("accounts") else _no_consents())
    criteria = policy[0]
    return render(request, "profile.html", status=status, active="profile", session=session, agencies=agencies,
                  sessions=sessions.body.get("sessions", []) if sessions.status == 200 else [],
                  errors=errors or {}, criteria=criteria, problems=list(problems),
                  mfa=mfa.body if mfa.status == 200 else None, mfa_errors=mfa_errors or {},
                  consents=_consent_view(agencies, consents.body if consents.status == 200 else {}), **extra)


async def _no_consents() -> Reply:
    return Reply(200, {}, {})


async def _consents(request: web.Request) -> Reply:
    """The consents section is an addition to the profile: documents unavailable hides it, nothing more."""
    try:
        return await call(request, "documents", "GET", "/v1/consents", safe=True)
    except ServiceUnavailable:
        return Reply(503, {}, {})


def _consent_view(agencies: list[dict], body: dict) -> dict:
    """The co-owner accounts with their name, lots and the state of each kind of consent."""
    details = {a["id"]: (agency["tenant"], a) for agency in agencies for a in agency["accounts"] if "id" in a}
    accounts = []
    for item in body.get("accounts", []):
        tenant, account = details.get(item["account_id"], ({}, {}))
        accounts.append({**item, "agency": tenant.get("name", "Agence"),
                         "display_name": account.get("display_name") or "Compte", "lots": account.get("lots", [])})
    return {"wording_version": body.get("wording_version"), "kinds": body.get("kinds", []), "accounts": accounts}


_page = profile_page
_MFA_NOTICES = {"added": messages.MFA_ADDED, "removed": messages.MFA_REMOVED, "already": messages.MFA_ALREADY,
                "passkey": "Votre clé d'accès a été ajoutée.",
                "passkey_removed": "La clé d'accès a été retirée de votre compte."}


async def _given(criteria: list) -> tuple[list, list]:
    return criteria, []


@routes.get("/profile")
async def profile(request: web.Request) -> web.Response:
    await require_tenant(request)
    notice = None
    if request.query.get("changed"):
        notice = messages.PASSWORD_CHANGED
    elif request.query.get("mfa") in _MFA_NOTICES:
        notice = _MFA_NOTICES[request.query["mfa"]]
    elif request.query.get("consentement") is not None:
        notice = messages.CONSENT_SAVED if request.query.get("consentement") != "0" else messages.CONSENT_UNCHANGED
    elif request.query.get("ended") is not None:
        ended = request.query.get("ended", "0")
        notice = f"Autres sessions déconnectées : {ended if ended.isdigit() else 0}."
    return await _page(request, notice=notice)


@routes.post("/profile/consentements")
async def change_consents(request: web.Request) -> web.Response:
    """Give or revoke each kind of consent of one account: only the kinds whose box changed are sent,
    so that the register holds one row per real change."""
    await require_tenant(request)
    session = await require_session(request)
    form = await request.post()
    account_id, version = form_text(form, "account_id"), form_text(form, "wording_version")
    wanted = {k for k in form.getall("kind", []) if isinstance(k, str)}
    current = await call(request, "documents", "GET", "/v1/consents")
    mine = {a["account_id"]: a for a in current.body.get("accounts", [])} if current.status == 200 else {}
    if account_id not in mine:
        return await _page(request, status=404, consent_error=messages.CONSENT_UNKNOWN_ACCOUNT)
    agencies = await linked_accounts(request, session)
    account = next((a for agency in agencies for a in agency["accounts"] if a.get("id") == account_id), {})
    lots = [{"ref": lot.get("ref", ""), "number": lot.get("number"),
             "residence_ref": (lot.get("residence") or {}).get("ref")} for lot in account.get("lots", [])]
    changed = 0
    for kind, state in mine[account_id]["consents"].items():
        given = kind in wanted
        if given == state["given"]:
            continue
        reply = await call(request, "documents", "POST", "/v1/consents", json={
            "account_id": account_id, "kind": kind, "given": given, "wording_version": version,
            "lots": [lot for lot in lots if lot["ref"]]})
        if reply.status == 409:
            return await _page(request, status=409, consent_error=messages.CONSENT_WORDING_CHANGED)
        if reply.status != 200:
            return await _page(request, status=422, consent_error=messages.CONSENT_FAILED)
        changed += 1
    return redirect(request, "/profile", consentement=str(changed))


@routes.post("/profile/password")
async def change_password(request: web.Request) -> web.Response:
    await require_tenant(request)
    await require_session(request)
    form = await request.post()
    old, new = form_text(form, "old_password"), form_text(form, "new_password")
    confirmation = form_text(form, "confirmation")
    if not old:
        return await _page(request, status=422, errors={"old_password": messages.REQUIRED})
    reply = await call(request, "identity", "POST", "/v1/me/password",
                       json={"old_password": old, "new_password": new, "confirmation": confirmation})
    if reply.status == 200:
        return redirect(request, "/profile", changed="1")
    if reply.status == 401:
        return await _page(request, status=401, errors={"old_password": messages.OLD_PASSWORD_INVALID})
    if reply.status == 429:
        return await _page(request, status=429,
                           wait_message=messages.wait_message(reply, messages.PERSON_LOCK_WAIT, now=now(request)))
    errors = {}
    if reply.error == "password_policy":
        criteria, problems = reply.body.get("criteria", []), reply.body.get("problems", [])
        errors["new_password"] = messages.POLICY_FAILED
    else:
        criteria, problems = await password_criteria(request, new, confirmation=confirmation)
        if reply.error == "confirmation_mismatch" or new != confirmation:
            errors["confirmation"] = messages.CONFIRMATION_MISMATCH
        else:
            errors["new_password"] = messages.POLICY_FAILED
    return await _page(request, status=422, errors=errors, criteria=criteria, problems=problems)


@routes.post("/profile/sessions/end-others")
async def end_other_sessions(request: web.Request) -> web.Response:
    await require_tenant(request)
    await require_session(request)
    reply = await call(request, "identity", "POST", "/v1/me/sessions/end-others")
    ended = reply.body.get("ended", 0) if reply.status == 200 else 0
    return redirect(request, "/profile", ended=str(int(ended)))
