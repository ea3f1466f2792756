"""The second factor in the pages (issue 15): the code after the password, and the profile's
"Double authentification" (authenticator app, recovery codes).

The step after the password keeps identity's ``mfa_token`` in the signed visit (``m``): it is
single use, 5 minutes, bound to the client IP by identity, and worthless without the code.
"""

from __future__ import annotations

import segno
from aiohttp import web

from common.logging import get_logger
from gateway import messages
from gateway.context import call, form_text, now, redirect, render, require_session, require_tenant
from gateway.edge import EDGE, NO_STORE, VISIT
from gateway.upstream import Reply

__all__ = ["answer_second_factor", "code_page", "open_session", "routes"]

log = get_logger(__name__)
routes = web.RouteTableDef()
CODE_LABEL = "Code de vérification"
CODE_HINT = ("Le code à 6 chiffres affiché par votre application d'authentification, ou l'un de vos codes de "
             "secours (par exemple ABCDE-FGHJK).")


def open_session(request: web.Request, session_id: str, response: web.Response | None = None) -> web.Response:
    """A new visit id (and CSRF token) with the new session, then the dashboard (or ``response``)."""
    from gateway.pages_auth import SESSION_COOKIE_MAX_AGE

    request[VISIT].rotate()
    request[VISIT].set("f", None)
    request[VISIT].set("m", None)
    request[VISIT].set("mm", None)
    request[VISIT].set("e", None)
    response = response or redirect(request, "/dashboard")
    edge = request.app[EDGE]
    response.set_cookie(edge.session_cookie, session_id, **edge.cookie_options(SESSION_COOKIE_MAX_AGE))
    log.info("page.login_succeeded")
    return response


def start_second_step(request: web.Request, reply: Reply) -> web.Response:
    """After a right password for a person with a factor: ask for the code (or the passkey)."""
    request[VISIT].set("m", reply.body["mfa_token"])
    methods = [m for m in (reply.body.get("methods") or []) if m in ("totp", "passkey")]
    request[VISIT].set("mm", ",".join(methods) or None)
    return redirect(request, "/login/code")


# ---- enrolment at login, when the agency requires a factor ------------------------------------

async def start_enrolment(request: web.Request, reply: Reply) -> web.Response:
    """After a right password, for a person whose agency requires a factor they have not got."""
    token = reply.body["mfa_token"]
    request[VISIT].set("e", token)
    started = await call(request, "identity", "POST", "/v1/login/enrol/totp", json={"mfa_token": token})
    if started.status != 201:
        request[VISIT].set("e", None)
        return render(request, "login.html", status=401, errors={}, notice=messages.MFA_CODE_EXPIRED)
    return _login_enrol_page(request, secret=started.body["secret"], uri=started.body["otpauth_uri"])


def _login_enrol_page(request: web.Request, *, secret: str, uri: str, status: int = 200, error: str | None = None,
                      wait_message: str | None = None) -> web.Response:
    spaced = " ".join(secret[i:i + 4] for i in range(0, len(secret), 4))
    return render(request, "mfa_totp.html", status=status, at_login=True, secret=secret, spaced_secret=spaced,
                  uri=uri, qr=qr_svg(uri), error=error, wait_message=wait_message)


@routes.post("/login/enrolement")
async def login_enrol_confirm(request: web.Request) -> web.Response:
    await require_tenant(request)
    token = request[VISIT].get("e")
    if not token:
        return redirect(request, "/login/form")
    form = await request.post()
    code, secret, uri = form_text(form, "code").strip(), form_text(form, "secret"), form_text(form, "uri")
    if not uri.startswith("otpauth://totp/") or len(uri) > 500 or len(secret) > 64:
        return redirect(request, "/login/form")
    if not code:
        return _login_enrol_page(request, secret=secret, uri=uri, status=422, error=messages.REQUIRED)
    reply = await call(request, "identity", "POST", "/v1/login/enrol/totp/confirm",
                       json={"mfa_token": token, "code": code})
    if reply.status == 200:
        request[VISIT].rotate()  # the page below is rendered for the new session's visit
        page = render(request, "mfa_codes.html", codes=reply.body["recovery_codes"], first=True, at_login=True)
        request[NO_STORE] = True  # the codes are shown once
        return open_session(request, reply.body["session_id"], page)
    if reply.error == "mfa_challenge_invalid":
        request[VISIT].set("e", None)
        return render(request, "login.html", status=401, errors={}, notice=messages.MFA_CODE_EXPIRED)
    if reply.status == 429:
        return _login_enrol_page(request, secret=secret, uri=uri, status=429,
                                 wait_message=messages.wait_message(reply, messages.MFA_WAIT, now=now(request)))
    return _login_enrol_page(request, secret=secret, uri=uri, status=422, error=messages.MFA_ENROL_CODE_INVALID)


# ---- the code after the password ------------------------------------------------------------

def code_page(request: web.Request, *, status: int = 200, error: str | None = None,
               wait_message: str | None = None) -> web.Response:
    methods = (request[VISIT].get("mm") or "").split(",")
    return render(request, "login_code.html", status=status, error=error, wait_message=wait_message,
                  code_label=CODE_LABEL, code_hint=CODE_HINT, has_passkey="passkey" in methods,
                  has_totp="totp" in methods or not methods)


@routes.get("/login/code")
async def code_form(request: web.Request) -> web.Response:
    await require_tenant(request)
    if not request[VISIT].get("m"):
        return redirect(request, "/login/form")
    return code_page(request)


@routes.post("/login/code")
async def code_submit(request: web.Request) -> web.Response:
    await require_tenant(request)
    token = request[VISIT].get("m")
    if not token:
        return redirect(request, "/login/form")
    code = form_text(await request.post(), "code").strip()
    if not code:
        return code_page(request, status=422, error=messages.REQUIRED)
    return await answer_second_factor(request, token, {"code": code}, failed=messages.MFA_CODE_INVALID)


async def answer_second_factor(request: web.Request, token: str, proof: dict, *, failed: str) -> web.Response:
    """Send a code or a passkey assertion for the login's challenge; the session, or the page saying why not."""
    reply = await call(request, "identity", "POST", "/v1/login/mfa", json={"mfa_token": token, **proof})
    if reply.status == 200:
        return open_session(request, reply.body["session_id"])
    if reply.error == "mfa_challenge_invalid":
        request[VISIT].set("m", None)
        return render(request, "login.html", status=401, errors={}, notice=messages.MFA_CODE_EXPIRED)
    if reply.status == 429:
        return code_page(request, status=429,
                         wait_message=messages.wait_message(reply, messages.MFA_WAIT, now=now(request)))
    return code_page(request, status=401, error=failed)


# ---- the profile ----------------------------------------------------------------------------

def qr_svg(uri: str) -> str:
    """The otpauth URI as an inline SVG (no script, no style attribute: the CSP stays strict)."""
    return segno.make(uri, error="m").svg_inline(scale=4, dark="#000", light="#fff", title=None, svgclass="qr",
                                                lineclass=None, omitsize=False)


def _enrol_page(request: web.Request, session: dict, *, secret: str, uri: str, status: int = 200,
                error: str | None = None, wait_message: str | None = None) -> web.Response:
    spaced = " ".join(secret[i:i + 4] for i in range(0, len(secret), 4))
    return render(request, "mfa_totp.html", status=status, active="profile", session=session, secret=secret,
                  spaced_secret=spaced, uri=uri, qr=qr_svg(uri), error=error, wait_message=wait_message)


@routes.post("/profile/mfa/totp")
async def totp_start(request: web.Request) -> web.Response:
    await require_tenant(request)
    session = await require_session(request)
    reply = await call(request, "identity", "POST", "/v1/me/mfa/totp")
    if reply.status == 409:
        return redirect(request, "/profile", mfa="already")
    if reply.status != 201:
        raise web.HTTPServiceUnavailable()
    return _enrol_page(request, session, secret=reply.body["secret"], uri=reply.body["otpauth_uri"])


@routes.post("/profile/mfa/totp/confirm")
async def totp_confirm(request: web.Request) -> web.Response:
    await require_tenant(request)
    session = await require_session(request)
    form = await request.post()
    code, secret, uri = form_text(form, "code").strip(), form_text(form, "secret"), form_text(form, "uri")
    # The secret and URI travel back only to draw the same QR code again after a wrong code:
    # identity checks the code against the secret it keeps, never against these.
    if not uri.startswith("otpauth://totp/") or len(uri) > 500 or len(secret) > 64:
        return redirect(request, "/profile")
    if not code:
        return _enrol_page(request, session, secret=secret, uri=uri, status=422, error=messages.REQUIRED)
    reply = await call(request, "identity", "POST", "/v1/me/mfa/totp/confirm", json={"code": code})
    if reply.status == 200:
        return render(request, "mfa_codes.html", active="profile", session=session,
                      codes=reply.body["recovery_codes"], first=True)
    if reply.status == 429:
        return _enrol_page(request, session, secret=secret, uri=uri, status=429,
                           wait_message=messages.wait_message(reply, messages.MFA_WAIT, now=now(request)))
    if reply.status in (404, 409):
        return redirect(request, "/profile", mfa="already" if reply.status == 409 else None)
    return _enrol_page(request, session, secret=secret, uri=uri, status=422, error=messages.MFA_ENROL_CODE_INVALID)


async def _with_password(request: web.Request, path: str, field: str):
    """Post ``path`` with the form's password; the reply, or the profile page with the error."""
    from gateway.pages_profile import profile_page

    form = await request.post()
    password = form_text(form, field)
    if not password:
        return None, await profile_page(request, status=422, mfa_errors={field: messages.REQUIRED})
    reply = await call(request, "identity", "POST", path, json={"password": password})
    if reply.status == 401:
        return None, await profile_page(request, status=401, mfa_errors={field: messages.MFA_PASSWORD_INVALID})
    if reply.status == 429:
        return None, await profile_page(request, status=429, mfa_wait=messages.wait_message(
            reply, messages.PERSON_LOCK_WAIT, now=now(request)))
    if reply.error == "mfa_required_by_agency":
        return None, await profile_page(request, status=409, mfa_errors={field: messages.MFA_REQUIRED_BY_AGENCY})
    return reply, None


@routes.post("/profile/mfa/totp/remove")
async def totp_remove(request: web.Request) -> web.Response:
    await require_tenant(request)
    await require_session(request)
    _, page = await _with_password(request, "/v1/me/mfa/totp/remove", "remove_password")
    if page is not None:
        return page
    return redirect(request, "/profile", mfa="removed")


@routes.post("/profile/mfa/recovery-codes")
async def recovery_codes(request: web.Request) -> web.Response:
    await require_tenant(request)
    session = await require_session(request)
    reply, page = await _with_password(request, "/v1/me/mfa/recovery-codes", "codes_password")
    if page is not None:
        return page
    if reply.status != 200:
        return redirect(request, "/profile")
    return render(request, "mfa_codes.html", active="profile", session=session, codes=reply.body["recovery_codes"],
                  first=False)
