"""Activation and merge: provisional credentials -> email -> password (or merge) -> pending -> verify.

The flow lives in identity; the gateway only keeps identity's opaque flow id in the signed visit
cookie and sends the browser to the page of the flow's current step.
"""

from __future__ import annotations

from aiohttp import web

from gateway import messages, waiting
from gateway.context import TENANT, call, form_text, now, redirect, render, require_tenant
from gateway.edge import TOKEN_PAGE, VISIT
from gateway.upstream import Reply

__all__ = ["STEP_PATHS", "finish", "password_criteria", "password_problems", "routes"]

routes = web.RouteTableDef()

STEP_PATHS = {
    "email": "/activation/email",
    "password": "/activation/password",
    "merge": "/activation/merge",
    "pending_verification": "/activation/pending",
}
_INTENT_ACTION = {"activate": "/activation", "merge": "/merge"}
DONE_PAGES = {"verified": "verified.html", "merged": "merged.html", "reset": "reset_done.html"}


async def password_criteria(request: web.Request, password: str = "", *, confirmation: str | None = None,
                            email: str | None = None) -> tuple[list, list]:
    """The checklist (and extra problems) for ``password``, from identity's policy of the tenant."""
    body = {"password": password}
    if confirmation is not None:
        body["confirmation"] = confirmation
    if email:
        body["email"] = email
    reply = await call(request, "identity", "POST", "/v1/password/policy", json=body, safe=True)
    if reply.status != 200:
        return [], []
    return reply.body.get("criteria", []), (reply.body.get("problems", []) if password else [])


def _flow_id(request: web.Request) -> str | None:
    """The flow of this visit, only at the tenant it was started for (another tenant's URL starts afresh)."""
    visit = request[VISIT]
    flow_id = visit.get("f")
    if flow_id and visit.get("ft") == request[TENANT]["id"]:
        return flow_id
    return None


def _to_step(request: web.Request, flow: dict, **params) -> web.Response:
    step = flow.get("step")
    if step == "done":
        # Ended by its verification link (often followed on another device: this is then a reload) or by
        # a merge; each has its own page, whatever the intent.
        return finish(request, "verified" if flow.get("outcome") == "verified" else "merged")
    return redirect(request, STEP_PATHS.get(step, "/activation"), **params)


def finish(request: web.Request, what: str) -> web.Response:
    """End of a flow: a new visit id, no flow any more, then the confirmation page."""
    visit = request[VISIT]
    visit.rotate()
    visit.set("f", None)
    visit.set("ft", None)
    visit.set("d", what)
    return redirect(request, f"/done/{what}")


def _expired(request: web.Request) -> web.Response:
    request[VISIT].set("f", None)
    return redirect(request, "/activation", expired="1")


async def _flow(request: web.Request, expected_step: str) -> tuple[dict | None, web.Response | None]:
    """The flow of this visit if it is at ``expected_step``; else where to send the browser."""
    await require_tenant(request)
    flow_id = _flow_id(request)
    if not flow_id:
        return None, _expired(request)
    reply = await call(request, "identity", "GET", f"/v1/activation/{flow_id}")
    if reply.status != 200:
        return None, _expired(request)
    flow = reply.body
    if flow.get("step") != expected_step:
        return None, _to_step(request, flow)
    return flow, None


def _flow_reply_or_expired(request: web.Request, reply: Reply) -> web.Response | None:
    if reply.status == 404:
        return _expired(request)
    if reply.status == 409:  # not at that step any more: show where the flow is
        return redirect(request, "/activation/resume")
    return None


@routes.get("/activation")
@routes.get("/merge")
async def provisional_form(request: web.Request) -> web.Response:
    await require_tenant(request)
    intent = "merge" if request.path == "/merge" else "activate"
    notice = messages.FLOW_EXPIRED if request.query.get("expired") else None
    return render(request, "provisional.html", intent=intent, action=_INTENT_ACTION[intent], errors={},
                  notice=notice)


@routes.post("/activation")
@routes.post("/merge")
async def provisional_submit(request: web.Request) -> web.Response:
    await require_tenant(request)
    intent = "merge" if request.path == "/merge" else "activate"
    form = await request.post()
    login, password = form_text(form, "login").strip(), form_text(form, "password")
    page = {"intent": intent, "action": _INTENT_ACTION[intent], "login": login}
    errors = {}
    if not login:
        errors["login"] = messages.REQUIRED
    if not password:
        errors["password"] = messages.REQUIRED
    if errors:
        return render(request, "provisional.html", status=422, errors=errors, **page)
    reply = await call(request, "identity", "POST", "/v1/activation/start",
                       json={"login": login, "password": password, "intent": intent})
    if reply.status == 429:  # locked after wrong attempts: known and unknown identifiers alike
        return render(request, "provisional.html", status=429, errors={}, **page,
                      wait_message=messages.wait_message(reply, messages.PROVISIONAL_WAIT, now=now(request)))
    if reply.status != 200:
        return render(request, "provisional.html", status=401, errors={"password": messages.PROVISIONAL_INVALID},
                      **page)
    request[VISIT].set("f", reply.body["flow_id"])
    request[VISIT].set("ft", request[TENANT]["id"])
    return _to_step(request, reply.body)


@routes.get("/activation/resume")
async def resume(request: web.Request) -> web.Response:
    await require_tenant(request)
    flow_id = _flow_id(request)
    if not flow_id:
        return _expired(request)
    reply = await call(request, "identity", "GET", f"/v1/activation/{flow_id}")
    if reply.status != 200:
        return _expired(request)
    return _to_step(request, reply.body)


@routes.get("/activation/email")
async def email_form(request: web.Request) -> web.Response:
    flow, elsewhere = await _flow(request, "email")
    if elsewhere:
        return elsewhere
    return render(request, "secure_email.html", errors={}, email=flow.get("email") or flow.get("suggested_email"))


@routes.post("/activation/email")
async def email_submit(request: web.Request) -> web.Response:
    await require_tenant(request)
    email = form_text(await request.post(), "email").strip()
    flow_id = _flow_id(request)
    if not flow_id:
        return _expired(request)
    if not email:
        return render(request, "secure_email.html", status=422, email=email, errors={"email": messages.REQUIRED})
    reply = await call(request, "identity", "POST", f"/v1/activation/{flow_id}/email", json={"email": email})
    if reply.status == 200:
        return _to_step(request, reply.body)
    if reply.error == "email_pending":
        return _email_pending(request, reply)
    if (elsewhere := _flow_reply_or_expired(request, reply)) is not None:
        return elsewhere
    if reply.status == 429:  # too many addresses tried with one provisional credential
        return render(request, "secure_email.html", status=429, email=email, errors={},
                      wait_message=messages.wait_message(reply, messages.EMAIL_CHOICE_WAIT, now=now(request)))
    return render(request, "secure_email.html", status=422, email=email, errors={"email": messages.EMAIL_INVALID})


def _email_pending(request: web.Request, reply: Reply) -> web.Response:
    """The email step again, saying that another activation waits for this address and until when."""
    return render(request, "secure_email.html", status=409, email=reply.body.get("email") or "",
                  errors={}, pending_until=reply.body.get("pending_until"))


@routes.get("/activation/password")
async def password_form(request: web.Request) -> web.Response:
    flow, elsewhere = await _flow(request, "password")
    if elsewhere:
        return elsewhere
    criteria, _ = await password_criteria(request, email=flow.get("email"))
    return render(request, "secure_password.html", errors={}, criteria=criteria, problems=[],
                  email=flow.get("email"))


@routes.post("/activation/password")
async def password_submit(request: web.Request) -> web.Response:
    await require_tenant(request)
    form = await request.post()
    password, confirmation = form_text(form, "password"), form_text(form, "confirmation")
    accept = form.get("accept_terms") in ("yes", "on", "true", "1")
    flow_id = _flow_id(request)
    if not flow_id:
        return _expired(request)
    reply = await call(request, "identity", "POST", f"/v1/activation/{flow_id}/password",
                       json={"password": password, "confirmation": confirmation, "accept_terms": accept})
    if reply.status == 200:
        request[VISIT].rotate()  # the account now exists (pending verification): new visit id
        return _to_step(request, reply.body, sent="1")
    if reply.error == "email_pending":  # taken since the email step: the flow is back there
        return _email_pending(request, reply)
    if (elsewhere := _flow_reply_or_expired(request, reply)) is not None:
        return elsewhere
    return await password_problems(request, "secure_password.html", reply, password, confirmation,
                                    accept_required=not accept)


async def password_problems(request: web.Request, template: str, reply: Reply, password: str, confirmation: str,
                             *, accept_required: bool = False, **page) -> web.Response:
    """Re-render a password form with the checklist as identity judged it and each error by its field."""
    errors: dict[str, str] = {}
    code = reply.error
    if code == "password_policy":
        criteria, problems = reply.body.get("criteria", []), reply.body.get("problems", [])
        errors["password"] = messages.POLICY_FAILED
    else:
        criteria, problems = await password_criteria(request, password, confirmation=confirmation)
    if code == "confirmation_mismatch" or (password and confirmation != password):
        errors["confirmation"] = messages.CONFIRMATION_MISMATCH
    if code == "terms_not_accepted" or (accept_required and code in (None, "terms_not_accepted")):
        errors["accept_terms"] = messages.TERMS_REQUIRED
    if not password:
        errors["password"] = messages.REQUIRED
    if reply.status == 429:
        page["wait_message"] = messages.wait_message(reply, messages.OTHER_WAIT, now=now(request))
    if not errors and "wait_message" not in page:
        errors["password"] = messages.POLICY_FAILED
    return render(request, template, status=422 if reply.status != 429 else 429, errors=errors,
                  criteria=criteria, problems=problems, **page)


@routes.get("/activation/merge")
async def merge_form(request: web.Request) -> web.Response:
    flow, elsewhere = await _flow(request, "merge")
    if elsewhere:
        return elsewhere
    return render(request, "merge.html", errors={}, email=flow.get("email"))


@routes.post("/activation/merge")
async def merge_submit(request: web.Request) -> web.Response:
    await require_tenant(request)
    password = form_text(await request.post(), "password")
    flow_id = _flow_id(request)
    if not flow_id:
        return _expired(request)
    reply = await call(request, "identity", "POST", f"/v1/activation/{flow_id}/merge", json={"password": password})
    if reply.status == 200:
        return _to_step(request, reply.body)
    if (elsewhere := _flow_reply_or_expired(request, reply)) is not None:
        return elsewhere
    flow = await call(request, "identity", "GET", f"/v1/activation/{flow_id}")
    email = flow.body.get("email") if flow.status == 200 else None
    if reply.status == 429:
        return render(request, "merge.html", status=429, errors={}, email=email,
                      wait_message=messages.wait_message(reply, messages.PERSON_LOCK_WAIT, now=now(request)))
    return render(request, "merge.html", status=401, email=email, errors={"password": messages.MERGE_INVALID})


@routes.get("/activation/pending")
async def pending(request: web.Request) -> web.Response:
    """"Un email vous a été envoyé": the resend button is disabled (server-side) until identity allows
    a resend, and the page says from when; a reload after that time shows it enabled, no script needed."""
    flow, elsewhere = await _flow(request, "pending_verification")
    if elsewhere:
        return elsewhere
    at, current = waiting.parse_instant(flow.get("resend_available_at")), now(request)
    resent, sent = bool(request.query.get("resent")), bool(request.query.get("sent"))
    if at is None or at <= current:
        return render(request, "pending.html", email=flow.get("email"),
                      notice=messages.RESENT if resent else None)
    template = (messages.RESENT_WAIT if resent else messages.RESEND_SENT_WAIT if sent else messages.RESEND_WAIT)
    return render(request, "pending.html", email=flow.get("email"), resend_disabled=True,
                  wait_message=template.format(when=waiting.from_time(at, now=current)))


@routes.post("/activation/resend")
async def resend(request: web.Request) -> web.Response:
    await require_tenant(request)
    flow_id = _flow_id(request)
    if not flow_id:
        return _expired(request)
    reply = await call(request, "identity", "POST", f"/v1/activation/{flow_id}/resend")
    if reply.status == 200:
        return redirect(request, "/activation/pending", resent="1")
    if reply.status == 429:
        # Back to the page, which reads from the flow when a resend is possible and says so (a reload
        # of that page, unlike one of this POST, asks nothing again).
        return redirect(request, "/activation/pending")
    return _flow_reply_or_expired(request, reply) or redirect(request, "/activation/resume")


@routes.post("/activation/restart")
async def restart(request: web.Request) -> web.Response:
    await require_tenant(request)
    flow_id = _flow_id(request)
    if not flow_id:
        return _expired(request)
    reply = await call(request, "identity", "POST", f"/v1/activation/{flow_id}/restart")
    if reply.status == 200:
        return _to_step(request, reply.body)
    return _flow_reply_or_expired(request, reply) or redirect(request, "/activation/resume")


@routes.get("/activation/verify")
async def verify_page(request: web.Request) -> web.Response:
    """The email link: a page whose button posts the token (a mail scanner's GET consumes nothing)."""
    request[TOKEN_PAGE] = True
    await require_tenant(request)
    return render(request, "verify.html", token=request.query.get("token", ""))


@routes.post("/activation/verify")
async def verify_submit(request: web.Request) -> web.Response:
    request[TOKEN_PAGE] = True
    await require_tenant(request)
    token = form_text(await request.post(), "token")
    reply = await call(request, "identity", "POST", "/v1/email/verify", json={"token": token})
    if reply.status == 200:
        return finish(request, "verified")
    return render(request, "token_invalid.html", status=400, kind="verify")


@routes.get("/done/{what}")
async def done(request: web.Request) -> web.Response:
    """The confirmation page of a finished flow, shown once to the browser that finished it."""
    await require_tenant(request)
    what = request.match_info["what"]
    visit = request[VISIT]
    if what not in DONE_PAGES or visit.get("d") != what:
        return redirect(request, "/login")
    visit.set("d", None)
    return render(request, DONE_PAGES[what])
