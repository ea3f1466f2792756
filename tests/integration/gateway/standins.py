"""Small real aiohttp servers standing in for identity, tenancy and documents.

They implement the parts of docs/internal-api.md the gateway calls, verify the internal token
with the real middleware (so a call the gateway signs wrongly fails), and record the claims of
every call so tests can assert what reached each service.
"""

from __future__ import annotations

import asyncio
import math
import re
import secrets
import uuid
from datetime import timedelta

from aiohttp import web

from common.clock import SystemClock
from common.internal_auth import CLAIMS, internal_auth_middleware

SECRET = "test-internal-secret-for-the-gateway-tests"
CALLS = web.AppKey("calls", list)
STATE = web.AppKey("state", dict)


def _app(audience: str, *, open_prefixes=("/health/",)) -> web.Application:
    @web.middleware
    async def record(request: web.Request, handler):
        request.app[CALLS].append((request.method, request.path, dict(request.get(CLAIMS) or {}),
                                   dict(request.headers)))
        return await handler(request)

    app = web.Application(middlewares=[internal_auth_middleware(SECRET, audience, open_prefixes=open_prefixes),
                                       record])
    app[CALLS] = []
    app[STATE] = {}
    return app


def _error(status: int, code: str, **extra) -> web.Response:
    return web.json_response({"error": code, "detail": code, **extra}, status=status)


# ---------------------------------------------------------------- tenancy
def tenancy_app() -> web.Application:
    app = _app("tenancy")
    tenants: dict[str, dict] = {}
    keys: dict[str, str] = {}
    accounts: dict[str, dict] = {}
    app[STATE].update(tenants=tenants, keys=keys, accounts=accounts)
    routes = web.RouteTableDef()

    @routes.get("/internal/tenants/resolve")
    async def resolve(request):
        for tenant in tenants.values():
            if (tenant["client_code"], tenant["societe_code"]) == (request.query["client"], request.query["societe"]):
                return web.json_response(tenant)
        return _error(404, "tenant_not_found")

    @routes.get("/internal/tenants/{id}")
    async def by_id(request):
        tenant = tenants.get(request.match_info["id"])
        return web.json_response(tenant) if tenant else _error(404, "tenant_not_found")

    @routes.post("/internal/api-keys/verify")
    async def verify_key(request):
        tenant_id = keys.get((await request.json())["api_key"])
        if tenant_id is None:
            return _error(401, "invalid_api_key")
        return web.json_response({"tenant_id": tenant_id, "status": tenants[tenant_id]["status"]})

    def rotate(tenant_id: str) -> str:
        for old in [k for k, owner in keys.items() if owner == tenant_id]:
            del keys[old]  # the old key stops working, as tenancy's rotation does
        key = "key_" + secrets.token_hex(8)
        keys[key] = tenant_id
        return key

    @routes.post("/api/v1/agency/api-keys")
    async def rotate_own_key(request):
        tenant_id = request[CLAIMS]["tid"]
        return web.json_response({"tenant_id": tenant_id, "api_key": rotate(tenant_id)}, status=201)

    @routes.post("/api/v1/tenants/{id}/api-keys")
    async def rotate_key(request):
        tenant_id = request.match_info["id"]
        return web.json_response({"tenant_id": tenant_id, "api_key": rotate(tenant_id)}, status=201)

    @routes.patch("/api/v1/tenants/{id}")
    async def patch_tenant(request):
        tenant = tenants[request.match_info["id"]]
        tenant.update({k: v for k, v in (await request.json()).items() if k == "status"})
        return web.json_response(tenant)

    @routes.post("/api/v1/provisional-credentials")
    async def letters(request):
        await request.read()
        await asyncio.sleep(app[STATE].get("answer_delay", 0))
        if "text/csv" in request.headers.get("Accept", ""):
            disposition = 'attachment; filename="identifiants-provisoires.csv"'
            return web.Response(text="account_ref;login;password\r\nC1;ABCD2345;Prov-1!pass\r\n", status=201,
                                content_type="text/csv", headers={"Content-Disposition": disposition})
        return web.json_response({"credentials": [{"account_ref": "C1", "login": "ABCD2345"}], "refused": []},
                                 status=201)

    @routes.post("/internal/accounts/lookup")
    async def lookup(request):
        ids = (await request.json())["account_ids"]
        return web.json_response({"accounts": [accounts[i] for i in ids if i in accounts]})

    @routes.get("/internal/openapi.json")
    async def openapi(request):
        return web.json_response({"openapi": "3.1.0", "info": {"title": "tenancy", "version": "1"},
                                  "paths": {"/api/v1/tenants": {"post": {"summary": "Onboard"}}},
                                  "components": {"schemas": {"Tenant": {"type": "object"}}}})

    async def echo(request):
        body = await request.read()
        await asyncio.sleep(app[STATE].get("answer_delay", 0))  # a slow service, when a test sets it
        return web.json_response({"service": "tenancy", "path": request.path, "query": dict(request.query),
                                  "claims": dict(request[CLAIMS]), "body_size": len(body),
                                  "content_type": request.headers.get("Content-Type"),
                                  "accept": request.headers.get("Accept"),
                                  "forwarded": {k: v for k, v in request.headers.items()
                                                if k.lower().startswith(("x-", "cookie", "forwarded"))}},
                                 status=201 if request.method == "POST" else 200)

    app.router.add_routes(routes)
    app.router.add_route("*", "/api/v1/{tail:.*}", echo)
    return app


def add_tenant(app: web.Application, *, client: str, societe: str, name: str, status: str = "active",
               color: str = "#aa3311") -> dict:
    tenant = {"id": str(uuid.uuid4()), "client_code": client, "societe_code": societe, "name": name,
              "kind": "syndic", "status": status,
              "support": {"email": f"aide@{client.lower()}.example", "phone": "01 23 45 67 89", "hours": "9h-12h"},
              "branding": {"primary_color": color},
              "settings": {"password_min_length": None, "credential_ttl_days": 30}}
    app[STATE]["tenants"][tenant["id"]] = tenant
    return tenant


def add_api_key(app: web.Application, tenant: dict) -> str:
    key = "key_" + secrets.token_hex(8)
    app[STATE]["keys"][key] = tenant["id"]
    return key


def add_account(app: web.Application, tenant: dict, *, role: str = "coproprietaire", name: str = "M. Jean Dupont",
                residence: str = "Résidence Les Tilleuls") -> dict:
    account = {"id": str(uuid.uuid4()), "tenant_id": tenant["id"], "ref": "C" + secrets.token_hex(2), "role": role,
               "display_name": name, "council": False, "status": "active",
               "lots": [{"ref": "L1", "number": "12", "kind": "appartement",
                         "residence": {"id": str(uuid.uuid4()), "ref": "R1", "name": residence,
                                       "address": "3 rue des Lilas, 75012 Paris"}}]}
    app[STATE]["accounts"][account["id"]] = account
    return account


# ---------------------------------------------------------------- identity
_CRITERIA = [("min_length", "Au moins 6 caractères"), ("upper", "Au moins une majuscule"),
             ("lower", "Au moins une minuscule"), ("digit", "Au moins un chiffre"),
             ("special", "Au moins un caractère spécial")]


def _criteria(password: str) -> list[dict]:
    checks = {"min_length": len(password) >= 6, "upper": bool(re.search(r"[A-Z]", password)),
              "lower": bool(re.search(r"[a-z]", password)), "digit": bool(re.search(r"\d", password)),
              "special": bool(re.search(r"[^A-Za-z0-9]", password))}
    return [{"code": code, "label": label, "ok": checks[code]} for code, label in _CRITERIA]


def _policy(password: str, email: str | None) -> tuple[list, list]:
    problems = []
    if email and email.split("@")[0].lower() in password.lower():
        problems.append("Le mot de passe ne doit pas contenir votre adresse email.")
    return _criteria(password), problems


RESEND_COOLDOWN = timedelta(seconds=60)
# Identifiers that make the stand-in answer 429, as identity does at its limits.
THROTTLED = "throttled@example.org"
BUSY = "busy@example.org"


def identity_app() -> web.Application:
    app = _app("identity")
    state = app[STATE]
    # ``clock``: the tests give the gateway's (frozen) clock, so the resend cooldown reads the same time.
    state.update(credentials={}, flows={}, persons={}, sessions={}, tokens={}, resets={}, forgot=[],
                 clock=SystemClock())
    routes = web.RouteTableDef()

    @routes.get("/internal/openapi.json")
    async def openapi(request):
        # identity documents every route of its own; only the /api/v1 ones are public.
        return web.json_response({"openapi": "3.1.0", "info": {"title": "identity", "version": "1"},
                                  "paths": {"/api/v1/staff": {"post": {"summary": "Invite"}},
                                            "/v1/login": {"post": {"summary": "Log in"}}},
                                  "components": {"schemas": {"StaffMember": {"type": "object"}}}})

    def flow_json(flow):
        body = {k: flow[k] for k in ("flow_id", "intent", "step", "email", "suggested_email", "tenant_id")}
        body["outcome"] = flow.get("outcome")
        at = flow.get("resend_available_at")
        body["resend_available_at"] = at.isoformat() if at and flow["step"] == "pending_verification" else None
        return web.json_response(body)

    def get_flow(request):
        return state["flows"].get(request.match_info["flow_id"])

    @routes.post("/v1/activation/start")
    async def start(request):
        body = await request.json()
        if body["login"] == "LOCKED":
            return _error(429, "credential_locked", retry_after=125)
        cred = state["credentials"].get(body["login"])
        if cred is None or cred["password"] != body["password"] or cred["used"]:
            return _error(401, "invalid_credentials")
        if cred.get("flow_id") in state["flows"]:
            return flow_json(state["flows"][cred["flow_id"]])
        flow = {"flow_id": secrets.token_urlsafe(16), "intent": body["intent"], "step": "email", "email": None,
                "suggested_email": cred.get("suggested_email"), "tenant_id": request[CLAIMS]["tid"],
                "login": body["login"]}
        cred["flow_id"] = flow["flow_id"]
        state["flows"][flow["flow_id"]] = flow
        return flow_json(flow)

    @routes.get("/v1/activation/{flow_id}")
    async def read_flow(request):
        flow = get_flow(request)
        return flow_json(flow) if flow else _error(404, "flow_not_found")

    @routes.post("/v1/activation/{flow_id}/email")
    async def set_email(request):
        flow = get_flow(request)
        if flow is None:
            return _error(404, "flow_not_found")
        email = (await request.json())["email"]
        if email == THROTTLED:  # too many addresses tried with one provisional credential
            return _error(429, "too_many_requests", retry_after=1800)
        if "@" not in email:
            return _error(422, "invalid_email")
        flow["email"] = email
        flow["step"] = "merge" if email in state["persons"] else "password"
        return flow_json(flow)

    @routes.post("/v1/activation/{flow_id}/password")
    async def set_password(request):
        flow = get_flow(request)
        if flow is None:
            return _error(404, "flow_not_found")
        body = await request.json()
        if flow["email"] == BUSY:  # the password hashing pool is saturated
            return _error(429, "busy", retry_after=1)
        criteria, problems = _policy(body["password"], flow["email"])
        if not all(c["ok"] for c in criteria) or problems:
            return _error(422, "password_policy", criteria=criteria, problems=problems)
        if body["password"] != body["confirmation"]:
            return _error(422, "confirmation_mismatch")
        if not body["accept_terms"]:
            return _error(422, "terms_not_accepted")
        if flow["email"] in state["persons"]:  # verified since the email step (another tab): the merge step
            flow["step"] = "merge"
            return flow_json(flow)
        flow["step"] = "pending_verification"
        flow["password"] = body["password"]
        flow["resend_available_at"] = state["clock"].now() + RESEND_COOLDOWN  # the first email starts it
        token = secrets.token_urlsafe(16)
        state["tokens"][token] = flow["flow_id"]
        return flow_json(flow)

    @routes.post("/v1/activation/{flow_id}/merge")
    async def merge(request):
        flow = get_flow(request)
        if flow is None:
            return _error(404, "flow_not_found")
        person = state["persons"].get(flow["email"])
        password = (await request.json())["password"]
        if password == "THROTTLED":  # the person's delays and lock after wrong passwords
            return _error(429, "too_many_requests", retry_after=900)
        if person is None or person["password"] != password:
            return _error(401, "invalid_credentials")
        person["accounts"].append(state["credentials"][flow["login"]]["account"])
        state["credentials"][flow["login"]]["used"] = True
        flow.update(step="done", outcome="merged")
        return flow_json(flow)

    @routes.post("/v1/activation/{flow_id}/resend")
    async def resend(request):
        flow = get_flow(request)
        if flow is None:
            return _error(404, "flow_not_found")
        now, at = state["clock"].now(), flow.get("resend_available_at")
        if at is not None and now < at:
            return _error(429, "too_many_requests", retry_after=math.ceil((at - now).total_seconds()),
                          resend_available_at=at.isoformat())
        flow["resends"] = flow.get("resends", 0) + 1
        flow["resend_available_at"] = now + RESEND_COOLDOWN
        return flow_json(flow)

    @routes.post("/v1/activation/{flow_id}/restart")
    async def restart(request):
        flow = get_flow(request)
        if flow is None:
            return _error(404, "flow_not_found")
        flow["step"] = "email"
        return flow_json(flow)

    @routes.post("/v1/email/verify")
    async def verify(request):
        flow_id = state["tokens"].pop((await request.json())["token"], None)
        if flow_id is None:
            return _error(400, "invalid_token")
        flow = state["flows"][flow_id]
        cred = state["credentials"][flow["login"]]
        cred["used"] = True
        state["persons"][flow["email"]] = {"person_id": str(uuid.uuid4()), "email": flow["email"],
                                           "password": flow["password"], "accounts": [cred["account"]]}
        flow.update(step="done", outcome="verified")
        return web.json_response({"email": flow["email"]})

    @routes.post("/v1/login")
    async def login(request):
        body = await request.json()
        if body["email"] == THROTTLED:  # per client IP in identity, whatever the address
            return _error(429, "too_many_requests", retry_after=300)
        if body["email"] == BUSY:
            return _error(429, "busy", retry_after=1)
        if body["email"] == "malformed@example.org":  # an answer outside the contract
            return web.json_response({"unexpected": True})
        person = state["persons"].get(body["email"])
        if person is None or person["password"] != body["password"]:
            return _error(401, "invalid_credentials")
        session_id = secrets.token_urlsafe(24)
        state["sessions"][session_id] = {"person": person["email"], "ref": secrets.token_hex(6),
                                         "ip": request[CLAIMS].get("ip")}
        return web.json_response({"session_id": session_id, "person_id": person["person_id"]})

    @routes.post("/v1/sessions/introspect")
    async def introspect(request):
        session = state["sessions"].get((await request.json())["session_id"])
        if session is None:
            return _error(401, "invalid_session")
        person = state["persons"][session["person"]]
        return web.json_response({"person_id": person["person_id"], "email": person["email"],
                                  "session_ref": session["ref"],
                                  "accounts": [dict(a, linked_at="2026-01-01T00:00:00Z") for a in person["accounts"]],
                                  "previous_login_at": person.get("previous_login_at")})

    @routes.post("/v1/staff/sessions/introspect")
    async def staff_introspect(request):
        staff = state.setdefault("staff_sessions", {}).get((await request.json())["session_id"])
        if staff is None or staff["tenant_id"] != request[CLAIMS].get("tid"):  # a console session opens its agency
            return _error(401, "invalid_session")
        return web.json_response(staff)

    # The agency's staff (identity's /api/v1/staff): addresses starting "encore@" or "trop@" meet
    # identity's invitation limits (per address, per agency).
    @routes.get("/api/v1/staff")
    async def list_staff(request):
        tenant_id = request[CLAIMS].get("tid")
        return web.json_response({"staff": [m for m in state.setdefault("staff", {}).values()
                                             if m["tenant_id"] == tenant_id]})

    @routes.post("/api/v1/staff")
    async def invite_staff(request):
        body = await request.json()
        if body["email"].startswith(("encore@", "trop@")):
            return _error(429, "too_many_requests", retry_after=240 if body["email"].startswith("encore@") else 1800,
                          limit="address" if body["email"].startswith("encore@") else "agency")
        member = {"id": str(uuid.uuid4()), "tenant_id": request[CLAIMS]["tid"], "email": body["email"],
                  "display_name": body.get("display_name", ""), "role": body.get("role", "gestionnaire"),
                  "status": "invited", "activated_at": None, "last_login_at": None}
        state.setdefault("staff", {})[member["id"]] = member
        return web.json_response({**member, "invitation_expires_at": "2026-12-10T13:29:40+00:00"}, status=201)

    @routes.post("/api/v1/staff/{staff_id}/revoke")
    async def revoke_staff(request):
        member = state.setdefault("staff", {}).get(request.match_info["staff_id"])
        if member is None or member["tenant_id"] != request[CLAIMS].get("tid") or member["status"] != "invited":
            return _error(404, "staff_not_found")
        del state["staff"][member["id"]]
        return web.json_response({"id": member["id"], "email": member["email"], "role": member["role"],
                                  "status": "revoked"})

    @routes.post("/v1/sessions/logout")
    async def logout(request):
        state["sessions"].pop((await request.json())["session_id"], None)
        return web.Response(status=204)

    def me(request):
        return next(p for p in state["persons"].values() if p["person_id"] == request[CLAIMS]["pid"])

    @routes.get("/v1/me/sessions")
    async def my_sessions(request):
        person = me(request)
        rows = [{"ref": s["ref"], "created_at": "2026-11-27T10:00:00Z", "last_seen_at": "2026-11-27T10:05:00Z",
                 "ip": s["ip"], "current": s["ref"] == request[CLAIMS]["sref"]}
                for s in state["sessions"].values() if s["person"] == person["email"]]
        return web.json_response({"sessions": rows})

    @routes.post("/v1/me/sessions/end-others")
    async def end_others(request):
        person = me(request)
        others = [k for k, s in state["sessions"].items()
                  if s["person"] == person["email"] and s["ref"] != request[CLAIMS]["sref"]]
        for key in others:
            del state["sessions"][key]
        return web.json_response({"ended": len(others)})

    @routes.post("/v1/me/password")
    async def change_password(request):
        person = me(request)
        body = await request.json()
        if body["old_password"] == "THROTTLED":
            return _error(429, "too_many_requests", retry_after=60)
        if body["old_password"] != person["password"]:
            return _error(401, "invalid_credentials")
        criteria, problems = _policy(body["new_password"], person["email"])
        if not all(c["ok"] for c in criteria) or problems:
            return _error(422, "password_policy", criteria=criteria, problems=problems)
        if body["new_password"] != body["confirmation"]:
            return _error(422, "confirmation_mismatch")
        person["password"] = body["new_password"]
        return web.json_response({})

    @routes.post("/v1/password/forgot")
    async def forgot(request):
        identifier = (await request.json())["identifier"]
        if state.get("forgot_limited"):  # not identity's answer today (202 always); the page must cope
            return _error(429, "too_many_requests", retry_after=600)
        state["forgot"].append(identifier)
        if identifier in state["persons"]:
            state["resets"][secrets.token_urlsafe(16)] = identifier
        return web.Response(status=202)

    @routes.post("/v1/password/reset/check")
    async def reset_check(request):
        email = state["resets"].get((await request.json())["token"])
        return web.json_response({"email": email}) if email else _error(400, "invalid_token")

    @routes.post("/v1/password/reset")
    async def reset(request):
        body = await request.json()
        email = state["resets"].get(body["token"])
        if email is None:
            return _error(400, "invalid_token")
        criteria, problems = _policy(body["password"], email)
        if not all(c["ok"] for c in criteria) or problems:
            return _error(422, "password_policy", criteria=criteria, problems=problems)
        if body["password"] != body["confirmation"]:
            return _error(422, "confirmation_mismatch")
        del state["resets"][body["token"]]
        state["persons"][email]["password"] = body["password"]
        for key in [k for k, s in state["sessions"].items() if s["person"] == email]:
            del state["sessions"][key]
        return web.json_response({})

    @routes.post("/v1/password/policy")
    async def policy(request):
        body = await request.json()
        criteria, problems = _policy(body["password"], body.get("email"))
        return web.json_response({"ok": all(c["ok"] for c in criteria) and not problems, "criteria": criteria,
                                  "problems": problems})

    app.router.add_routes(routes)
    return app


def add_credentials(app: web.Application, account: dict, *, suggested_email: str | None = None) -> tuple[str, str]:
    login, password = secrets.token_hex(4).upper(), secrets.token_urlsafe(8)
    app[STATE]["credentials"][login] = {"password": password, "used": False, "suggested_email": suggested_email,
                                        "account": {"tenant_id": account["tenant_id"], "account_id": account["id"],
                                                    "role": account["role"]}}
    return login, password


def add_person(app: web.Application, email: str, password: str, accounts: list[dict],
               previous_login_at: str | None = None) -> dict:
    person = {"person_id": str(uuid.uuid4()), "email": email, "password": password,
              "previous_login_at": previous_login_at,
              "accounts": [{"tenant_id": a["tenant_id"], "account_id": a["id"], "role": a["role"]} for a in accounts]}
    app[STATE]["persons"][email] = person
    return person


def add_staff_session(app: web.Application, tenant: dict, *, role: str = "admin") -> str:
    """A live console session of a staff member of ``tenant``; its id (the staff cookie's value)."""
    session_id = secrets.token_urlsafe(24)
    app[STATE].setdefault("staff_sessions", {})[session_id] = {
        "staff_id": str(uuid.uuid4()), "tenant_id": tenant["id"], "email": f"staff-{session_id[:6]}@agence.example",
        "display_name": "Agent Test", "role": role}
    return session_id
