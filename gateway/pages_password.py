"""Forgotten password and reset by the emailed link."""

from __future__ import annotations

from aiohttp import web

from gateway import messages, pages_mfa
from gateway.context import call, form_text, now, redirect, render, require_tenant
from gateway.edge import TOKEN_PAGE
from gateway.pages_activation import finish, password_criteria, password_problems

__all__ = ["routes"]

routes = web.RouteTableDef()


@routes.get("/password/forgot")
async def forgot_form(request: web.Request) -> web.Response:
    await require_tenant(request)
    return render(request, "forgot.html", errors={}, sent=bool(request.query.get("sent")))


@routes.post("/password/forgot")
async def forgot_submit(request: web.Request) -> web.Response:
    await require_tenant(request)
    identifier = form_text(await request.post(), "identifier").strip()
    if not identifier:
        return render(request, "forgot.html", status=422, errors={"identifier": messages.REQUIRED})
    reply = await call(request, "identity", "POST", "/v1/password/forgot", json={"identifier": identifier})
    if reply.status == 429:  # never per address (identity answers 202 whatever it does): safe to say
        return render(request, "forgot.html", status=429, errors={}, identifier=identifier,
                      wait_message=messages.wait_message(reply, messages.FORGOT_WAIT, now=now(request)))
    # Always the same answer: whether the identifier exists never shows.
    return redirect(request, "/password/forgot", sent="1")


@routes.get("/password/reset")
async def reset_form(request: web.Request) -> web.Response:
    """The email link: checks the token without consuming it, shows the form that posts it."""
    request[TOKEN_PAGE] = True
    await require_tenant(request)
    token = request.query.get("token", "")
    check = await call(request, "identity", "POST", "/v1/password/reset/check", json={"token": token},
                       safe=True)
    if check.status != 200:
        return render(request, "token_invalid.html", status=400, kind="reset")
    email = check.body.get("email")
    criteria, _ = await password_criteria(request, email=email)
    return render(request, "reset.html", errors={}, token=token, email=email, criteria=criteria, problems=[],
                  mfa_required=bool(check.body.get("mfa_required")), code_hint=pages_mfa.CODE_HINT)


@routes.post("/password/reset")
async def reset_submit(request: web.Request) -> web.Response:
    request[TOKEN_PAGE] = True
    await require_tenant(request)
    form = await request.post()
    token, password = form_text(form, "token"), form_text(form, "password")
    confirmation = form_text(form, "confirmation")
    # A person with a second factor gives a code too (identity requires it whatever the form says).
    mfa_required = form.get("mfa") == "1"
    body = {"token": token, "password": password, "confirmation": confirmation}
    if mfa_required:
        body["code"] = form_text(form, "code").strip()
    reply = await call(request, "identity", "POST", "/v1/password/reset", json=body)
    if reply.status == 200:
        return finish(request, "reset")
    if reply.status == 400:
        return render(request, "token_invalid.html", status=400, kind="reset")
    page = {"token": token, "mfa_required": mfa_required, "code_hint": pages_mfa.CODE_HINT}
    if reply.error == "invalid_mfa_code":
        criteria, problems = await password_criteria(request, password, confirmation=confirmation)
        return render(request, "reset.html", status=401, criteria=criteria, problems=problems,
                      errors={"code": messages.REQUIRED if not body.get("code") else messages.MFA_CODE_INVALID},
                      **{**page, "mfa_required": True})
    if reply.status == 429 and mfa_required:
        criteria, problems = await password_criteria(request, password, confirmation=confirmation)
        return render(request, "reset.html", status=429, criteria=criteria, problems=problems, errors={},
                      wait_message=messages.wait_message(reply, messages.MFA_WAIT, now=now(request)), **page)
    return await password_problems(request, "reset.html", reply, password, confirmation, **page)
