"""The OpenAPI 3.1 document of identity's internal API (docs/internal-api.md, identity section).

Request schemas come from the pydantic models that parse the bodies (``schemas.py``), so the document
cannot drift from what the service accepts; response schemas are written out here.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web
from pydantic.json_schema import models_json_schema

from services.identity import schemas as s

__all__ = ["OPENAPI_PATH", "build_openapi", "openapi_routes"]

OPENAPI_PATH = "/internal/openapi.json"
openapi_routes = web.RouteTableDef()

_REF = "#/components/schemas/{model}"
_BODIES = (s.IssueCredentials, s.TenantOnly, s.AccountIds, s.Start, s.Email, s.NewPassword, s.Password, s.Token,
           s.Login, s.SessionId, s.ChangePassword, s.Forgot, s.Reset, s.PolicyCheck, s.StaffInvite, s.StaffAccept,
           s.Unlink, s.AccountClose, s.LoginMfa, s.MfaCode, s.MfaToken, s.PasskeyRegistration, s.PasskeyLogin,
           s.PasskeyRemoval)


def _obj(properties: dict[str, Any], required: list[str] | None = None) -> dict[str, Any]:
    return {"type": "object", "properties": properties, "required": list(properties) if required is None else required}


def _ref(model: str) -> dict[str, str]:
    return {"$ref": _REF.format(model=model)}


_STR = {"type": "string"}
_UUID = {"type": "string", "format": "uuid"}
_TIME = {"type": "string", "format": "date-time"}
_NULLABLE_STR = {"type": ["string", "null"]}
_NULLABLE_UUID = {"type": ["string", "null"], "format": "uuid"}
_NULLABLE_TIME = {"type": ["string", "null"], "format": "date-time"}

_RESPONSE_SCHEMAS: dict[str, Any] = {
    "Error": {**_obj({
        "error": {"type": "string", "description": "stable error code (docs/internal-api.md)"},
        "detail": _STR,
        "errors": {"type": "array", "items": _obj({"path": _STR, "message": _STR})},
        "error_count": {"type": "integer"},
        "retry_after": {"type": "integer", "minimum": 0, "description": "429: seconds to wait"},
        "resend_available_at": {**_TIME, "description": "429 of resend: when it becomes possible (UTC)"},
        "criteria": {"type": "array", "items": _ref("Criterion"), "description": "422 password_policy"},
        "problems": {"type": "array", "items": _STR, "description": "422 password_policy"},
        "step": {"type": "string", "description": "409 wrong_step: the flow's current step"},
        "email": {"type": "string", "description": "409 email_pending: the address asked for"},
        "pending_until": {**_TIME, "description": "409 email_pending: when the other activation stops holding it"},
        "allow": {"type": "string"},
    }, ["error", "detail"])},
    "Criterion": _obj({"code": {"enum": ["min_length", "upper", "lower", "digit", "special"]},
                       "label": _STR, "ok": {"type": "boolean"}}),
    "Flow": _obj({
        "flow_id": _STR, "intent": {"enum": ["activate", "merge"]},
        "step": {"enum": ["email", "password", "merge", "pending_verification", "done"]},
        "email": _NULLABLE_STR, "suggested_email": _NULLABLE_STR, "tenant_id": _UUID,
        "resend_available_at": {**_NULLABLE_TIME, "description": "step `pending_verification`: when the "
                                "verification email may be sent again (UTC); null when it may be now"},
        "outcome": {"type": ["string", "null"], "enum": ["verified", "merged", None],
                    "description": "step `done`: how the flow ended (its email verified, or merged into an "
                                   "existing person); null at the other steps"},
    }),
    "IssuedCredentials": _obj({
        "credentials": {"type": "array", "items": _obj({"account_id": _UUID, "login": _STR, "password": _STR,
                                                        "expires_at": _TIME})},
        "refused": {"type": "array", "items": _obj({"account_id": _UUID,
                                                     "error": {"enum": ["already_linked", "other_tenant"]}})},
    }),
    "AccountStates": _obj({"states": {"type": "array", "items": _obj({
        "account_id": _UUID,
        "state": {"enum": ["credentials_issued", "pending_verification", "activated", "expired"]},
        "via": {"enum": ["activation", "merge"], "description": "activated accounts: how they were linked"},
        "activated_at": {**_TIME, "description": "activated accounts: when the link became active (links.linked_at)"}},
        ["account_id", "state"])}}),
    "Recipients": _obj({"recipients": {"type": "array", "items": _obj({
        "person_id": _UUID, "email": _STR, "account_ids": {"type": "array", "items": _UUID}})}}),
    "AuditLog": _obj({
        "items": {"type": "array", "items": _obj({
            "id": {"type": "integer"}, "at": _TIME, "tenant_id": _UUID, "person_id": _NULLABLE_UUID,
            "account_id": _NULLABLE_UUID, "kind": _STR, "ip": _NULLABLE_STR,
            "detail": {"description": "kind-specific details (JSON)"}})},
        "next_before": {"type": ["integer", "null"], "description": "pass as `before` for the next page"},
    }),
    "EmailOnly": _obj({"email": _STR}),
    "Unlinked": _obj({"account_id": _UUID, "person_notified": {"type": "boolean"}}),
    "Closed": _obj({"account_id": _UUID, "closed": {"type": "boolean"}}),
    "StaffMember": _obj({
        "id": _UUID, "email": _STR, "display_name": _STR, "role": {"enum": ["admin", "gestionnaire"]},
        "status": {"enum": ["invited", "active", "disabled"]}, "activated_at": {**_TIME, "type": ["string", "null"]},
        "last_login_at": {**_TIME, "type": ["string", "null"]}}),
    "StaffInvited": {"allOf": [_ref("StaffMember"), _obj({"invitation_expires_at": _TIME})]},
    "StaffList": _obj({"staff": {"type": "array", "items": _ref("StaffMember")}}),
    "StaffInvitation": _obj({"email": _STR, "display_name": _STR, "role": {"enum": ["admin", "gestionnaire"]}}),
    "StaffRevoked": _obj({"id": _UUID, "email": _STR, "role": _STR, "status": _STR}),
    "StaffLoggedIn": _obj({"session_id": _STR, "staff_id": _UUID}),
    "StaffSession": _obj({"staff_id": _UUID, "tenant_id": _UUID, "email": _STR, "display_name": _STR,
                          "role": {"enum": ["admin", "gestionnaire"]}}),
    "LoggedIn": _obj({"session_id": _STR, "person_id": _UUID}),
    "LoginAnswer": {"oneOf": [
        _ref("LoggedIn"),
        {**_obj({"mfa_required": {"const": True}, "mfa_token": {**_STR, "description": "single use, 5 min, "
                 "bound to the client IP: pass it to /v1/login/mfa"},
                 "methods": {"type": "array", "items": {"enum": ["totp", "passkey", "recovery_code"]}}}),
         "description": "The person has a second factor: no session yet"},
        {**_obj({"mfa_enrolment_required": {"const": True}, "mfa_token": {**_STR, "description": "single use, "
                 "5 min, bound to the client IP: pass it to /v1/login/enrol/totp(/confirm)"}}),
         "description": "An agency of the person requires a second factor they have not got: enrol first"},
    ]},
    "WebAuthnOptions": _obj({"ceremony_id": {**_STR, "description": "single use, 5 min, bound to the client "
                                               "IP (absent for the step after the password: its mfa_token)"},
                             "options": {"type": "object", "description": "PublicKeyCredential(Creation|Request)"
                                         "Options as JSON (base64url), for navigator.credentials"}}, ["options"]),
    "RecoveryCodesIfFirst": _obj({"recovery_codes": {"type": ["array", "null"], "items": _STR,
                                                     "description": "the first factor of the person: 10 codes "
                                                     "shown once; null otherwise"}}),
    "EnrolledSession": {"allOf": [_ref("LoggedIn"), _ref("RecoveryCodes")]},
    "MfaStatus": _obj({
        "enabled": {"type": "boolean"},
        "totp": _obj({"enabled": {"type": "boolean"}, "since": _NULLABLE_TIME}),
        "passkeys": {"type": "array", "items": _obj({"id": {**_STR, "description": "base64url credential id"},
                                                     "name": _STR, "created_at": _TIME,
                                                     "last_used_at": _NULLABLE_TIME})},
        "recovery_codes_left": {"type": "integer", "minimum": 0}}),
    "TotpEnrolment": _obj({"secret": {**_STR, "description": "base32, shown once for manual entry"},
                           "otpauth_uri": {**_STR, "description": "for the QR code"}}),
    "RecoveryCodes": _obj({"recovery_codes": {"type": "array", "items": _STR, "minItems": 10, "maxItems": 10,
                                              "description": "shown once; stored HMAC-hashed, single use"}}),
    "ResetCheck": _obj({"email": _STR, "mfa_required": {"type": "boolean", "description": "the reset must "
                                                         "carry a `code` (authenticator or recovery)"}}),
    "Session": _obj({
        "person_id": _UUID, "email": _STR, "session_ref": _STR,
        "accounts": {"type": "array", "items": _obj({"tenant_id": _UUID, "account_id": _UUID, "role": _STR,
                                                     "linked_at": _TIME})},
        "previous_login_at": {"type": ["string", "null"], "format": "date-time"},
    }),
    "Sessions": _obj({"sessions": {"type": "array", "items": _obj({
        "ref": _STR, "created_at": _TIME, "last_seen_at": _TIME, "ip": _NULLABLE_STR,
        "current": {"type": "boolean"}})}}),
    "Ended": _obj({"ended": {"type": "integer", "minimum": 0}}),
    "Status": _obj({"status": _STR}),
    "PolicyResult": _obj({"ok": {"type": "boolean"}, "criteria": {"type": "array", "items": _ref("Criterion")},
                          "problems": {"type": "array", "items": _STR}}),
}


def _error(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": _ref("Error")}}}


def _json(schema: str, description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": _ref(schema)}}}


def _body(model: type) -> dict[str, Any]:
    return {"required": True, "content": {"application/json": {"schema": _ref(model.__name__)}}}


# Every operation: the internal token, an unreachable database.
_ALWAYS = {"401": _error("Missing or invalid internal token (or `invalid_credentials`/`invalid_session`)"),
           "403": _error("`forbidden`: a call forwarded from the public API (`via`=public-api) reaches no "
                         "route of identity, or a required claim is missing or names another tenant"),
           "503": _error("A dependency is unavailable (`service_unavailable`, with Retry-After)")}
_BAD = {"400": _error("The body is not JSON"),
        "422": _error("Invalid body (`validation_failed` with `errors`, `invalid_characters`)")}
_FORBIDDEN = {"403": _error("`forbidden`: a required claim is missing")}
_BUSY = {"429": _error("`busy`, `too_many_requests` or `credential_locked`, with `retry_after`")}
_FLOW = {"404": _error("`flow_not_found` (unknown, or expired after 1 h idle)"),
         "409": _error("`wrong_step`, with the flow's `step`")}
_FLOW_EMAIL = {**_FLOW, "409": _error("`wrong_step`, with the flow's `step`; or `email_pending`, with `email` and "
                                      "`pending_until`: another activation waits for this address's verification "
                                      "(the flow is back at step `email`)")}
_FLOW_ID = [{"name": "flow_id", "in": "path", "required": True, "schema": {"type": "string"}}]


def _op(op_id: str, summary: str, ok: dict[str, Any], *, body: type | None = None, **errors: dict) -> dict:
    responses = {**ok, **_ALWAYS, **(_BAD if body else {})}
    for group in errors.values():
        responses.update(group)
    operation: dict[str, Any] = {"operationId": op_id, "summary": summary, "responses": responses}
    if body is not None:
        operation["requestBody"] = _body(body)
    return operation


def _paths() -> dict[str, Any]:
    flow = {"200": _json("Flow", "The flow")}
    ok = {"200": _json("Status", "`{\"status\": \"ok\"}`")}
    return {
        "/internal/provisional-credentials": {"post": _op(
            "issueCredentials", "Issue provisional credentials (re-issue revokes; `reset` unlinks first)",
            {"201": _json("IssuedCredentials", "The credentials (shown once) and the refused accounts")},
            body=s.IssueCredentials, busy=_BUSY)},
        "/internal/account-states": {"post": _op(
            "accountStates", "Activation state of the tenant's accounts known to identity",
            {"200": _json("AccountStates", "One state per account")}, body=s.TenantOnly)},
        "/internal/accounts/unlink": {"post": _op(
            "unlinkAccount", "The agency detaches an account from its person (the person is told by email; the "
            "account's live letters are revoked); tid is the tenant",
            {"200": _json("Unlinked", "Done")}, body=s.Unlink,
            missing={"404": _error("`account_not_linked`: no person of this tenant holds the account")})},
        "/internal/accounts/close": {"post": _op(
            "closeAccount", "The agency closed the account: it is unlinked from its person and its live letters "
            "revoked at once (idempotent; `tenancy.account_closed` repeats it); tid is the tenant",
            {"200": _json("Closed", "Done")}, body=s.AccountClose,
            missing={"404": _error("`account_not_found`: the account belongs to another tenant")})},
        "/internal/recipients": {"post": _op(
            "recipients", "Persons with a verified email linked to any of the accounts",
            {"200": _json("Recipients", "The recipients")}, body=s.AccountIds)},
        "/internal/audit": {"get": {**_op(
            "auditLog", "The tenant's security events, newest first (act=operator, or act=agency with tid)",
            {"200": _json("AuditLog", "A page of events")}, forbidden=_FORBIDDEN,
            bad={"422": _error("`validation_failed`: tenant_id, person_id (uuid), before, limit (integers)")}),
            "parameters": [
                {"name": "tenant_id", "in": "query", "required": True, "schema": _UUID},
                {"name": "person_id", "in": "query", "required": False, "schema": _UUID},
                {"name": "before", "in": "query", "required": False,
                 "schema": {"type": "integer", "format": "int64", "description": "a previous `next_before`"}},
                {"name": "limit", "in": "query", "required": False,
                 "schema": {"type": "integer", "default": 100, "description": "clamped to 1..1000"}}]}},
        "/v1/activation/start": {"post": _op(
            "activationStart", "Start an activation (or merge) flow with provisional credentials", flow,
            body=s.Start, forbidden=_FORBIDDEN, busy=_BUSY)},
        "/v1/activation/{flow_id}": {"parameters": _FLOW_ID, "get": _op(
            "activationGet", "Read a flow", flow, flow=_FLOW)},
        "/v1/activation/{flow_id}/email": {"parameters": _FLOW_ID, "post": _op(
            "activationEmail", "Choose the email (step `password` for a new one, `merge` for a known one)", flow,
            body=s.Email, flow=_FLOW_EMAIL, busy=_BUSY, forbidden=_FORBIDDEN)},
        "/v1/activation/{flow_id}/password": {"parameters": _FLOW_ID, "post": _op(
            "activationPassword", "Choose the password (`password_policy` 422 carries `criteria`, `problems`); "
            "step `merge` when the address was verified since the email step",
            flow, body=s.NewPassword, flow=_FLOW_EMAIL, busy=_BUSY, forbidden=_FORBIDDEN)},
        "/v1/activation/{flow_id}/merge": {"parameters": _FLOW_ID, "post": _op(
            "activationMerge", "Link the accounts to the existing person (their password)", flow,
            body=s.Password, flow=_FLOW, busy=_BUSY, forbidden=_FORBIDDEN)},
        "/v1/activation/{flow_id}/resend": {"parameters": _FLOW_ID, "post": _op(
            "activationResend", "Resend the verification email (60 s cooldown, 5 per hour)", flow,
            flow=_FLOW, busy=_BUSY, forbidden=_FORBIDDEN)},
        "/v1/activation/{flow_id}/restart": {"parameters": _FLOW_ID, "post": _op(
            "activationRestart", "Back to step `email` (the pending link is killed)", flow,
            flow=_FLOW, busy=_BUSY, forbidden=_FORBIDDEN)},
        "/v1/email/verify": {"post": _op(
            "emailVerify", "Verify an email with the link's token", {"200": _json("EmailOnly", "The email")},
            body=s.Token, token={"400": _error("`invalid_token` (or the body is not JSON)")}, busy=_BUSY,
            forbidden=_FORBIDDEN)},
        "/v1/login": {"post": _op(
            "login", "Log in (`invalid_credentials` for every failure)",
            {"200": _json("LoginAnswer", "A new session, or the second-factor step")}, body=s.Login, busy=_BUSY,
            forbidden=_FORBIDDEN)},
        "/v1/login/mfa": {"post": _op(
            "loginMfa", "The second factor after the password (authenticator or recovery code); a wrong code "
            "counts like a wrong password (`invalid_mfa_code`); `mfa_challenge_invalid`: expired, used, other IP "
            "or killed after 5 wrong codes", {"200": _json("LoggedIn", "A new session")}, body=s.LoginMfa,
            busy=_BUSY)},
        "/v1/login/enrol/totp": {"post": _op(
            "loginEnrolStart", "At login, when the agency requires a factor: a new authenticator secret",
            {"201": _json("TotpEnrolment", "The new secret")}, body=s.MfaToken,
            challenge={"401": _error("`mfa_challenge_invalid`")}, taken={"409": _error("`mfa_already_enrolled`")})},
        "/v1/login/enrol/totp/confirm": {"post": _op(
            "loginEnrolConfirm", "At login: the first code turns the app on and opens the session",
            {"200": _json("EnrolledSession", "A new session and the recovery codes (shown once)")},
            body=s.LoginMfa, busy=_BUSY,
            challenge={"401": _error("`invalid_mfa_code` or `mfa_challenge_invalid`")})},
        "/v1/login/mfa/passkey/options": {"post": _op(
            "loginMfaPasskeyOptions", "The WebAuthn request options of the step after the password (the person's "
            "passkeys); answer with /v1/login/mfa `assertion`", {"200": _json("WebAuthnOptions", "The options")},
            body=s.MfaToken, challenge={"401": _error("`mfa_challenge_invalid`")},
            missing={"404": _error("`mfa_not_enrolled`: no passkey")})},
        "/v1/login/passkey/options": {"post": _op(
            "passwordlessOptions", "WebAuthn request options for a passwordless login (discoverable passkeys, user "
            "verification required)", {"200": _json("WebAuthnOptions", "The ceremony and its options")})},
        "/v1/login/passkey": {"post": _op(
            "passwordlessLogin", "A session from a passkey alone (`invalid_credentials` for every failure, counted "
            "in the IP window)", {"200": _json("LoggedIn", "A new session")}, body=s.PasskeyLogin, busy=_BUSY,
            challenge={"401": _error("`invalid_credentials` or `mfa_challenge_invalid` (ceremony expired, used or "
                                     "from another IP)")})},
        "/v1/me/passkeys/options": {"post": _op(
            "passkeyOptions", "WebAuthn creation options to add a passkey (claim `pid`)",
            {"200": _json("WebAuthnOptions", "The ceremony and its options")}, forbidden=_FORBIDDEN)},
        "/v1/me/passkeys": {"post": _op(
            "registerPasskey", "Store a new passkey (a notice is emailed)",
            {"201": _json("RecoveryCodesIfFirst", "Stored")}, body=s.PasskeyRegistration, forbidden=_FORBIDDEN,
            refused={"401": _error("`invalid_mfa_code` (the attestation does not verify) or "
                                   "`mfa_challenge_invalid`")})},
        "/v1/me/passkeys/remove": {"post": _op(
            "removePasskey", "Remove a passkey (password required; a notice is emailed)", ok, body=s.PasskeyRemoval,
            busy=_BUSY, forbidden=_FORBIDDEN, missing={"404": _error("`mfa_not_enrolled`")},
            required={"409": _error("`mfa_required_by_agency`: the last factor, and an agency requires one")})},
        "/v1/me/mfa": {"get": _op(
            "myMfa", "The person's second factors (claim `pid`)", {"200": _json("MfaStatus", "The factors")},
            forbidden=_FORBIDDEN)},
        "/v1/me/mfa/totp": {"post": _op(
            "startTotp", "Start enrolling an authenticator app (replaces an unconfirmed enrolment)",
            {"201": _json("TotpEnrolment", "The new secret")}, forbidden=_FORBIDDEN,
            taken={"409": _error("`mfa_already_enrolled`")})},
        "/v1/me/mfa/totp/confirm": {"post": _op(
            "confirmTotp", "Confirm the app with a first code: it is on, and the 10 recovery codes are given",
            {"200": _json("RecoveryCodes", "The recovery codes (shown once)")}, body=s.MfaCode, busy=_BUSY,
            forbidden=_FORBIDDEN, code={"401": _error("`invalid_mfa_code`")},
            missing={"404": _error("`mfa_not_enrolled`: no enrolment started")},
            taken={"409": _error("`mfa_already_enrolled`")})},
        "/v1/me/mfa/totp/remove": {"post": _op(
            "removeTotp", "Remove the app and its recovery codes (password required; a notice is emailed)", ok,
            body=s.Password, busy=_BUSY, forbidden=_FORBIDDEN,
            missing={"404": _error("`mfa_not_enrolled`")},
            required={"409": _error("`mfa_required_by_agency`: the agency requires a second factor")})},
        "/v1/me/mfa/recovery-codes": {"post": _op(
            "renewRecoveryCodes", "Ten new recovery codes (password required); the old ones stop working",
            {"200": _json("RecoveryCodes", "The recovery codes (shown once)")}, body=s.Password, busy=_BUSY,
            forbidden=_FORBIDDEN, missing={"404": _error("`mfa_not_enrolled`")})},
        "/v1/sessions/introspect": {"post": _op(
            "introspect", "The session behind a session id (refreshes its idle expiry)",
            {"200": _json("Session", "The session")}, body=s.SessionId)},
        "/v1/sessions/logout": {"post": _op(
            "logout", "End a session (idempotent)", {"204": {"description": "Ended"}}, body=s.SessionId)},
        "/v1/me/sessions": {"get": _op(
            "mySessions", "The person's live sessions (claims `pid`, `sref`)",
            {"200": _json("Sessions", "The sessions, the current one flagged")}, forbidden=_FORBIDDEN)},
        "/v1/me/sessions/end-others": {"post": _op(
            "endOtherSessions", "End every other session of the person",
            {"200": _json("Ended", "How many were ended")}, forbidden=_FORBIDDEN)},
        "/v1/me/password": {"post": _op(
            "changePassword", "Change the password (old one required)", ok, body=s.ChangePassword, busy=_BUSY,
            forbidden=_FORBIDDEN)},
        "/v1/password/forgot": {"post": _op(
            "forgotPassword", "Send a reset link (always 202: never tells whether the identifier exists)",
            {"202": _json("Status", "`{\"status\": \"accepted\"}`")}, body=s.Forgot, busy=_BUSY,
            forbidden=_FORBIDDEN)},
        "/v1/password/reset/check": {"post": _op(
            "checkResetToken", "Check a reset token without consuming it",
            {"200": _json("ResetCheck", "The email of the account, and whether a code is required")}, body=s.Token,
            token={"400": _error("`invalid_token` (or the body is not JSON)")})},
        "/v1/password/reset": {"post": _op(
            "resetPassword", "Set a new password with a reset token (and a `code` when the person has a second "
            "factor)", ok, body=s.Reset,
            token={"400": _error("`invalid_token` (or the body is not JSON)")}, busy=_BUSY, forbidden=_FORBIDDEN,
            code={"401": _error("`invalid_mfa_code`: the code is missing, wrong or used (counted like a wrong "
                                "password)")})},
        "/api/v1/staff": {
            "get": {**_op("listStaff", "The agency's staff (act=agency with tid, or act=operator with ?tenant_id=)",
                          {"200": _json("StaffList", "Active first, then invited and disabled")}),
                    "parameters": [{"name": "tenant_id", "in": "query", "required": False, "schema": _UUID}]},
            "post": _op("inviteStaff", "Invite a staff member (the operator names tenant_id; an agency invites into "
                        "its own; in the console only an administrator, sid/srole); a new link for one not yet "
                        "accepted", {"201": _json("StaffInvited", "The member, invited")}, body=s.StaffInvite,
                        taken={"409": _error("`staff_email_taken`: already a staff member of this agency")},
                        limited={"429": _error("`too_many_requests` with `retry_after` and `limit`: `agency` (its "
                                               "invitations per hour) or `address` (one per address per cooldown)")})},
        "/api/v1/staff/{staff_id}/disable": {
            "parameters": [{"name": "staff_id", "in": "path", "required": True, "schema": _UUID}],
            "post": _op("disableStaff", "Disable a member: their console sessions end at once (administrators "
                        "only in the console, never oneself)", {"200": _json("StaffMember", "The member")},
                        missing={"404": _error("`staff_not_found` (or an invitation not accepted yet)")})},
        "/api/v1/staff/{staff_id}/enable": {
            "parameters": [{"name": "staff_id", "in": "path", "required": True, "schema": _UUID}],
            "post": _op("enableStaff", "Enable a disabled member again", {"200": _json("StaffMember", "The member")},
                        missing={"404": _error("`staff_not_found`")})},
        "/api/v1/staff/{staff_id}/revoke": {
            "parameters": [{"name": "staff_id", "in": "path", "required": True, "schema": _UUID}],
            "post": _op("revokeStaffInvitation", "Withdraw an invitation not yet accepted: its link is refused "
                        "at once and the member leaves the list (administrators only in the console)",
                        {"200": _json("StaffRevoked", "The withdrawn invitation")},
                        missing={"404": _error("`staff_not_found` (also a member who has accepted: disable them)")})},
        "/v1/staff/invitations/check": {"post": _op(
            "checkStaffInvitation", "Who an invitation link (at this tid) is for",
            {"200": _json("StaffInvitation", "The invited member")}, body=s.Token,
            token={"400": _error("`invalid_token` (or the body is not JSON)")})},
        "/v1/staff/invitations/accept": {"post": _op(
            "acceptStaffInvitation", "The first password of an invited member (the link dies)",
            {"200": _json("EmailOnly", "The member's email")}, body=s.StaffAccept,
            token={"400": _error("`invalid_token` (or the body is not JSON)")}, busy=_BUSY)},
        "/v1/staff/login": {"post": _op(
            "staffLogin", "Open a console session at the tid agency (one answer for every failure)",
            {"200": _json("StaffLoggedIn", "A new console session")}, body=s.Login, busy=_BUSY,
            forbidden=_FORBIDDEN)},
        "/v1/staff/sessions/introspect": {"post": _op(
            "staffIntrospect", "The member of a live console session at the tid agency (refreshes its idle expiry)",
            {"200": _json("StaffSession", "The staff member")}, body=s.SessionId)},
        "/v1/staff/sessions/logout": {"post": _op(
            "staffLogout", "End a console session", {"204": {"description": "Ended (or unknown)"}},
            body=s.SessionId)},
        "/v1/password/policy": {"post": _op(
            "passwordPolicy", "Check a password against the `tid` tenant's policy",
            {"200": _json("PolicyResult", "The criteria and the extra problems")}, body=s.PolicyCheck,
            busy=_BUSY, forbidden=_FORBIDDEN)},
    }


def build_openapi() -> dict[str, Any]:
    """The OpenAPI 3.1 document of identity's internal API."""
    _, defs = models_json_schema([(m, "validation") for m in _BODIES], ref_template=_REF)
    return {
        "openapi": "3.1.0",
        "info": {"title": "moncompte identity (internal API)", "version": "1.0.0",
                 "description": "Called by the gateway, tenancy and the notifier; contract in docs/internal-api.md."},
        "paths": _paths(),
        "security": [{"internalToken": []}],
        "components": {
            "schemas": {**defs.get("$defs", {}), **_RESPONSE_SCHEMAS},
            "securitySchemes": {"internalToken": {
                "type": "apiKey", "in": "header", "name": "Authorization",
                "description": "`Internal <jwt>`: HS256 with INTERNAL_AUTH_SECRET, aud `identity`, 60 s; claims "
                               "`tid`, `tcc`, `tsc`, `ip` (people), `pid`, `sref` (logged in), `act` (agency "
                               "or operator), `sid`, `srole` (a console user), `via` (public-api)"}},
        },
    }


@openapi_routes.get(OPENAPI_PATH)
async def openapi(request: web.Request) -> web.Response:
    """Serve the document (behind the internal token, like every identity route)."""
    return web.json_response(build_openapi())
