"""HTTP handlers of identity: parse, call one use case, respond (docs/internal-api.md)."""

from __future__ import annotations

import re
import uuid

from aiohttp import web

from common.errors import ValidationFailed
from common.internal_auth import CLAIMS
from services.identity import activation, agency, auth, mfa, passkeys
from services.identity import schemas as s
from services.identity.core import Caller, Deps
from services.identity.errors import Forbidden

DEPS = web.AppKey("identity_deps", Deps)
routes = web.RouteTableDef()


def _deps(request: web.Request) -> Deps:
    return request.app[DEPS]


def _caller(request: web.Request) -> Caller:
    return Caller.from_claims(request[CLAIMS])


_BIGINT = re.compile(r"-?[0-9]{1,19}")


def _bigint(text: str) -> int:
    """``text`` as a PostgreSQL bigint (ASCII digits); ValueError otherwise (was a 500 out of range)."""
    value = int(text) if _BIGINT.fullmatch(text) else None
    if value is None or not -(2**63) <= value < 2**63:
        raise ValueError(text)
    return value


# ---- agency / internal ----------------------------------------------------------------------

def _caller_tenant(request: web.Request, tenant_id: uuid.UUID | None = None) -> uuid.UUID:
    """The tenant the calling service acts for (``tid``); it must be the one the body names, if any.

    Internal routes trust the caller's service, not its choice of tenant: a token for tenant A
    never reads or changes tenant B's data.
    """
    claimed = request[CLAIMS].tenant_id
    if not claimed or (tenant_id is not None and claimed != str(tenant_id)):
        raise Forbidden("The token's tenant (tid) must be the tenant of the request")
    try:
        return uuid.UUID(claimed)
    except ValueError:
        raise Forbidden("The token's tenant (tid) must be the tenant of the request") from None


@routes.post("/internal/provisional-credentials")
async def issue_credentials(request: web.Request) -> web.Response:
    body = await s.parse(request, s.IssueCredentials)
    _caller_tenant(request, body.tenant_id)
    result = await agency.issue_credentials(_deps(request), _caller(request), tenant_id=body.tenant_id,
                                            ttl_days=body.ttl_days, reset=body.reset,
                                            accounts=[a.model_dump() for a in body.accounts])
    return web.json_response(result, status=201)


@routes.post("/internal/account-states")
async def account_states(request: web.Request) -> web.Response:
    body = await s.parse(request, s.TenantOnly)
    _caller_tenant(request, body.tenant_id)
    return web.json_response(await agency.account_states(_deps(request), tenant_id=body.tenant_id,
                                                         account_ids=body.account_ids))


@routes.post("/internal/accounts/unlink")
async def unlink_account(request: web.Request) -> web.Response:
    body = await s.parse(request, s.Unlink)
    tenant_id = _caller_tenant(request)
    return web.json_response(await agency.unlink_for_agency(_deps(request), _caller(request), tenant_id=tenant_id,
                                                            account_id=body.account_id, reason=body.reason,
                                                            note=body.note.strip()))


@routes.post("/internal/accounts/close")
async def close_account(request: web.Request) -> web.Response:
    body = await s.parse(request, s.AccountClose)
    tenant_id = _caller_tenant(request)
    await agency.close_account(_deps(request), _caller(request), tenant_id=tenant_id, account_id=body.account_id)
    return web.json_response({"account_id": str(body.account_id), "closed": True})


@routes.post("/internal/recipients")
async def recipients(request: web.Request) -> web.Response:
    body = await s.parse(request, s.AccountIds)
    tenant_id = _caller_tenant(request)
    return web.json_response(await agency.recipients(_deps(request), tenant_id=tenant_id,
                                                     account_ids=body.account_ids))


@routes.get("/internal/audit")
async def audit(request: web.Request) -> web.Response:
    claims = request[CLAIMS]
    try:
        tenant_id = uuid.UUID(request.query.get("tenant_id", ""))
        person_id = uuid.UUID(request.query["person_id"]) if request.query.get("person_id") else None
        before = _bigint(request.query["before"]) if request.query.get("before") else None
        limit = min(max(_bigint(request.query.get("limit", "100")), 1), 1000)
    except ValueError:
        raise ValidationFailed("tenant_id (uuid), person_id (uuid), before and limit (integers)") from None
    allowed = claims.actor == "operator" or (claims.actor == "agency" and claims.tenant_id == str(tenant_id))
    if not allowed:
        raise Forbidden()
    return web.json_response(await agency.audit_log(_deps(request), tenant_id=tenant_id, person_id=person_id,
                                                    before=before, limit=limit))


# ---- activation -----------------------------------------------------------------------------

@routes.post("/v1/activation/start")
async def activation_start(request: web.Request) -> web.Response:
    body = await s.parse(request, s.Start)
    return web.json_response(await activation.start(_deps(request), _caller(request), login=body.login,
                                                    password=body.password, intent=body.intent))


@routes.get("/v1/activation/{flow_id}")
async def activation_get(request: web.Request) -> web.Response:
    return web.json_response(await activation.get_flow(_deps(request), request.match_info["flow_id"]))


@routes.post("/v1/activation/{flow_id}/email")
async def activation_email(request: web.Request) -> web.Response:
    body = await s.parse(request, s.Email)
    return web.json_response(await activation.choose_email(_deps(request), _caller(request),
                                                           request.match_info["flow_id"], body.email))


@routes.post("/v1/activation/{flow_id}/password")
async def activation_password(request: web.Request) -> web.Response:
    body = await s.parse(request, s.NewPassword)
    return web.json_response(await activation.choose_password(
        _deps(request), _caller(request), request.match_info["flow_id"], password=body.password,
        confirmation=body.confirmation, accept_terms=body.accept_terms))


@routes.post("/v1/activation/{flow_id}/merge")
async def activation_merge(request: web.Request) -> web.Response:
    body = await s.parse(request, s.Password)
    return web.json_response(await activation.merge(_deps(request), _caller(request),
                                                    request.match_info["flow_id"], body.password))


@routes.post("/v1/activation/{flow_id}/resend")
async def activation_resend(request: web.Request) -> web.Response:
    return web.json_response(await activation.resend(_deps(request), _caller(request),
                                                     request.match_info["flow_id"]))


@routes.post("/v1/activation/{flow_id}/restart")
async def activation_restart(request: web.Request) -> web.Response:
    return web.json_response(await activation.restart(_deps(request), _caller(request),
                                                      request.match_info["flow_id"]))


@routes.post("/v1/email/verify")
async def email_verify(request: web.Request) -> web.Response:
    body = await s.parse(request, s.Token)
    return web.json_response(await activation.verify_email(_deps(request), _caller(request), body.token))


# ---- login and sessions ---------------------------------------------------------------------

@routes.post("/v1/login")
async def login(request: web.Request) -> web.Response:
    body = await s.parse(request, s.Login)
    return web.json_response(await auth.login(_deps(request), _caller(request), email=body.email,
                                              password=body.password))


@routes.post("/v1/login/mfa")
async def login_mfa(request: web.Request) -> web.Response:
    body = await s.parse(request, s.LoginMfa)
    return web.json_response(await mfa.login_second_factor(_deps(request), _caller(request),
                                                           mfa_token=body.mfa_token, code=body.code,
                                                           assertion=body.assertion))


@routes.post("/v1/login/mfa/passkey/options")
async def login_mfa_passkey_options(request: web.Request) -> web.Response:
    body = await s.parse(request, s.MfaToken)
    return web.json_response(await passkeys.login_options(_deps(request), _caller(request), mfa_token=body.mfa_token))


@routes.post("/v1/login/passkey/options")
async def passwordless_options(request: web.Request) -> web.Response:
    return web.json_response(await passkeys.passwordless_options(_deps(request), _caller(request)))


@routes.post("/v1/login/passkey")
async def passwordless_login(request: web.Request) -> web.Response:
    body = await s.parse(request, s.PasskeyLogin)
    return web.json_response(await passkeys.passwordless_login(_deps(request), _caller(request),
                                                               ceremony_id=body.ceremony_id,
                                                               assertion=body.assertion))


@routes.post("/v1/login/enrol/totp")
async def login_enrol_start(request: web.Request) -> web.Response:
    body = await s.parse(request, s.MfaToken)
    return web.json_response(await mfa.enrol_start(_deps(request), _caller(request), mfa_token=body.mfa_token),
                             status=201)


@routes.post("/v1/login/enrol/totp/confirm")
async def login_enrol_confirm(request: web.Request) -> web.Response:
    body = await s.parse(request, s.LoginMfa)
    return web.json_response(await mfa.enrol_confirm(_deps(request), _caller(request), mfa_token=body.mfa_token,
                                                     code=body.code))


# ---- second factor (the person's own, claim pid) ----------------------------------------------

@routes.get("/v1/me/mfa")
async def my_mfa(request: web.Request) -> web.Response:
    return web.json_response(await mfa.mfa_status(_deps(request), _caller(request)))


@routes.post("/v1/me/mfa/totp")
async def totp_start(request: web.Request) -> web.Response:
    return web.json_response(await mfa.start_totp(_deps(request), _caller(request)), status=201)


@routes.post("/v1/me/mfa/totp/confirm")
async def totp_confirm(request: web.Request) -> web.Response:
    body = await s.parse(request, s.MfaCode)
    return web.json_response(await mfa.confirm_totp(_deps(request), _caller(request), code=body.code))


@routes.post("/v1/me/mfa/totp/remove")
async def totp_remove(request: web.Request) -> web.Response:
    body = await s.parse(request, s.Password)
    await mfa.remove_totp(_deps(request), _caller(request), password=body.password)
    return web.json_response({"status": "ok"})


@routes.post("/v1/me/passkeys/options")
async def passkey_options(request: web.Request) -> web.Response:
    return web.json_response(await passkeys.registration_options(_deps(request), _caller(request)))


@routes.post("/v1/me/passkeys")
async def passkey_register(request: web.Request) -> web.Response:
    body = await s.parse(request, s.PasskeyRegistration)
    return web.json_response(await passkeys.register(_deps(request), _caller(request), ceremony_id=body.ceremony_id,
                                                     credential=body.credential, name=body.name), status=201)


@routes.post("/v1/me/passkeys/remove")
async def passkey_remove(request: web.Request) -> web.Response:
    body = await s.parse(request, s.PasskeyRemoval)
    await passkeys.remove(_deps(request), _caller(request), passkey_id=body.passkey_id, password=body.password)
    return web.json_response({"status": "ok"})


@routes.post("/v1/me/mfa/recovery-codes")
async def recovery_codes(request: web.Request) -> web.Response:
    body = await s.parse(request, s.Password)
    return web.json_response(await mfa.regenerate_recovery_codes(_deps(request), _caller(request),
                                                                 password=body.password))


@routes.post("/v1/sessions/introspect")
async def introspect(request: web.Request) -> web.Response:
    body = await s.parse(request, s.SessionId)
    return web.json_response(await auth.introspect(_deps(request), body.session_id))


@routes.post("/v1/sessions/logout")
async def logout(request: web.Request) -> web.Response:
    body = await s.parse(request, s.SessionId)
    await auth.logout(_deps(request), body.session_id)
    return web.Response(status=204)


@routes.get("/v1/me/sessions")
async def my_sessions(request: web.Request) -> web.Response:
    return web.json_response(await auth.list_sessions(_deps(request), _caller(request)))


@routes.post("/v1/me/sessions/end-others")
async def end_others(request: web.Request) -> web.Response:
    return web.json_response(await auth.end_other_sessions(_deps(request), _caller(request)))


# ---- passwords ------------------------------------------------------------------------------

@routes.post("/v1/me/password")
async def change_password(request: web.Request) -> web.Response:
    body = await s.parse(request, s.ChangePassword)
    await auth.change_password(_deps(request), _caller(request), old_password=body.old_password,
                               new_password=body.new_password, confirmation=body.confirmation)
    return web.json_response({"status": "ok"})


@routes.post("/v1/password/forgot")
async def forgot(request: web.Request) -> web.Response:
    body = await s.parse(request, s.Forgot)
    await auth.forgot_password(_deps(request), _caller(request), body.identifier)
    return web.json_response({"status": "accepted"}, status=202)


@routes.post("/v1/password/reset/check")
async def reset_check(request: web.Request) -> web.Response:
    body = await s.parse(request, s.Token)
    peek = await auth.check_reset_token(_deps(request), body.token)
    return web.json_response({"email": peek["email"], "mfa_required": peek["mfa_required"]})


@routes.post("/v1/password/reset")
async def reset(request: web.Request) -> web.Response:
    body = await s.parse(request, s.Reset)
    await auth.reset_password(_deps(request), _caller(request), token=body.token, password=body.password,
                              confirmation=body.confirmation, code=body.code)
    return web.json_response({"status": "ok"})


@routes.post("/v1/password/policy")
async def password_policy(request: web.Request) -> web.Response:
    body = await s.parse(request, s.PolicyCheck)
    result = await auth.policy(_deps(request), _caller(request), password=body.password,
                               confirmation=body.confirmation, email=body.email)
    return web.json_response(result.to_json())
