"""Welcome, login, logout, help and the legal pages; the tenant colour stylesheet."""

from __future__ import annotations

import re

from aiohttp import web

from common.logging import get_logger
from gateway import messages, pages_mfa
from gateway.context import PERSON, call, end_session_of, form_text, now, redirect, render, require_tenant

__all__ = ["routes"]

log = get_logger(__name__)
routes = web.RouteTableDef()
_HEX = re.compile(r"^(?:[0-9a-fA-F]{3}){1,2}$")
# A session lives in identity; the cookie dies with the browser unless identity ends it first.
SESSION_COOKIE_MAX_AGE = None


@routes.get("/")
async def root(request: web.Request) -> web.Response:
    await require_tenant(request)
    return redirect(request, "/login")


@routes.get("/login")
async def welcome(request: web.Request) -> web.Response:
    await require_tenant(request)
    return render(request, "welcome.html")


@routes.get("/login/form")
async def login_form(request: web.Request) -> web.Response:
    await require_tenant(request)
    notice = messages.SESSION_EXPIRED if request.query.get("expired") else None
    return render(request, "login.html", errors={}, notice=notice)


@routes.post("/login/form")
async def login(request: web.Request) -> web.Response:
    await require_tenant(request)
    form = await request.post()
    email, password = form_text(form, "email").strip(), form_text(form, "password")
    errors = {}
    if not email:
        errors["email"] = messages.REQUIRED
    if not password:
        errors["password"] = messages.REQUIRED
    if errors:
        return render(request, "login.html", status=422, errors=errors, email=email)
    reply = await call(request, "identity", "POST", "/v1/login", json={"email": email, "password": password})
    if reply.status == 429:  # per client IP (identity): the same answer whatever the address typed
        return render(request, "login.html", status=429, errors={}, email=email,
                      wait_message=messages.wait_message(reply, messages.LOGIN_WAIT, now=now(request)))
    if reply.status != 200:
        return render(request, "login.html", status=401, email=email,
                      errors={"password": messages.LOGIN_INVALID})
    if reply.body.get("mfa_required"):  # a person with a second factor: the code, then the session
        return pages_mfa.start_second_step(request, reply)
    if reply.body.get("mfa_enrolment_required"):  # their agency requires one: enrol, then the session
        return await pages_mfa.start_enrolment(request, reply)
    return pages_mfa.open_session(request, reply.body["session_id"])


@routes.post("/logout")
async def logout(request: web.Request) -> web.Response:
    await require_tenant(request)
    return await end_session_of(request, PERSON, then="/login")


@routes.get("/help")
async def help_page(request: web.Request) -> web.Response:
    await require_tenant(request)
    return render(request, "help.html")


@routes.get("/cgu")
async def cgu(request: web.Request) -> web.Response:
    await require_tenant(request)
    return render(request, "cgu.html")


@routes.get("/confidentialite")
async def privacy(request: web.Request) -> web.Response:
    await require_tenant(request)
    return render(request, "privacy.html")


@routes.get("/theme/{color}.css")
async def theme(request: web.Request) -> web.Response:
    """The tenant colour as a stylesheet: the CSP forbids inline styles."""
    color = request.match_info["color"]
    if not _HEX.match(color):
        raise web.HTTPNotFound()
    css = f":root{{--brand:#{color.lower()};}}\n"
    return web.Response(text=css, content_type="text/css",
                        headers={"Cache-Control": "public, max-age=86400, immutable"})

