"""Tenancy's part of the public OpenAPI 3.1 document (the gateway merges it with documents' part).

Request schemas come from the pydantic models that parse the bodies, so the document cannot
drift from what the service accepts; response schemas are written out here.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web
from pydantic.json_schema import models_json_schema

from services.tenancy.csvformat import COLUMNS
from services.tenancy.schemas import CredentialsRequest, DirectoryIn, TenantCreate, TenantPatch

__all__ = ["build_openapi", "openapi_routes"]

openapi_routes = web.RouteTableDef()

_REF = "#/components/schemas/{model}"


def _obj(properties: dict[str, Any], required: list[str] | None = None) -> dict[str, Any]:
    return {"type": "object", "properties": properties, "required": required or list(properties)}


_COUNTS = _obj({k: {"type": "integer", "minimum": 0} for k in ("created", "updated", "unchanged")})
_COUNT = {"type": "integer", "minimum": 0}
_STAT_COUNTS = ("accounts", "without_credentials", "credentials_issued", "pending_verification", "activated", "expired")
_RESPONSE_SCHEMAS: dict[str, Any] = {
    "Error": _obj({
        "error": {"type": "string", "description": "stable error code"},
        "detail": {"type": "string"},
        "errors": {"type": "array", "items": _obj({"path": {"type": "string"}, "message": {"type": "string"}})},
        "error_count": {"type": "integer", "description": "total errors (at most 1000 are listed)"},
    }, ["error", "detail"]),
    "Tenant": _obj({
        "id": {"type": "string", "format": "uuid"},
        "client_code": {"type": "string"}, "societe_code": {"type": "string"}, "name": {"type": "string"},
        "kind": {"enum": ["syndic", "gerance", "mixte"]}, "status": {"enum": ["active", "suspended"]},
        "support": {"$ref": _REF.format(model="Support")},
        "branding": {"$ref": _REF.format(model="Branding")},
        "settings": {"$ref": _REF.format(model="TenantSettings")},
        "login_url": {"type": "string", "format": "uri"},
    }),
    "TenantCreated": {"allOf": [{"$ref": _REF.format(model="Tenant")},
                                _obj({"api_key": {"type": "string", "description": "shown once"}})]},
    "ApiKey": _obj({"tenant_id": {"type": "string", "format": "uuid"},
                    "api_key": {"type": "string", "description": "shown once; the previous key stops at once"}}),
    "DirectoryResult": _obj({"residences": _COUNTS, "lots": _COUNTS, "accounts": _COUNTS}),
    "Credentials": _obj({
        "credentials": {"type": "array", "items": _obj({
            "account_ref": {"type": "string"}, "display_name": {"type": "string"},
            "role": {"enum": ["coproprietaire", "bailleur", "locataire"]},
            "email": {"type": ["string", "null"]}, "login": {"type": "string"}, "password": {"type": "string"},
            "expires_at": {"type": "string", "format": "date-time"}})},
        "refused": {"type": "array", "items": _obj({
            "account_ref": {"type": "string"}, "status": {"const": 409},
            "error": {"type": "string", "description": "already_linked"}})},
    }),
    "AccountPage": _obj({
        "accounts": {"type": "array", "items": _obj({
            "id": {"type": "string", "format": "uuid"}, "ref": {"type": "string"},
            "role": {"enum": ["coproprietaire", "bailleur", "locataire"]}, "display_name": {"type": "string"},
            "email": {"type": ["string", "null"]}, "council": {"type": "boolean"},
            "status": {"enum": ["active", "closed"]},
            "lots": {"type": "array", "items": _obj({
                "ref": {"type": "string"}, "number": {"type": "string"}, "kind": {"type": "string"},
                "residence_ref": {"type": "string"}, "residence_name": {"type": "string"}})},
            "access": {"enum": ["none", "credentials_issued", "expired", "pending_verification", "activated",
                                "merged"], "description": "the state of the account's extranet access"}})},
        "next_cursor": {"type": ["string", "null"], "description": "pass as `cursor` for the next page"},
        "residences": {"type": "array", "items": _obj({"ref": {"type": "string"}, "name": {"type": "string"}})},
    }),
    "ActivationStats": _obj({  # the counts always; residences and series when asked for
        **{k: _COUNT for k in _STAT_COUNTS},
        "residences": {"type": "array", "description": "with `by=residence`: every residence (by name), the "
                       "counts of the active accounts with a lot in it; an account with lots in several "
                       "residences counts in each", "items": _obj({
                           "ref": {"type": "string"}, "name": {"type": "string"},
                           **{k: _COUNT for k in _STAT_COUNTS}})},
        "series": {**_obj({
            "period": {"enum": ["month", "week"]},
            "activated_before": {**_COUNT, "description": "accounts activated before the first period"},
            "points": {"type": "array", "items": _obj({
                "start": {"type": "string", "format": "date", "description": "first day of the period (UTC)"},
                "activated": {**_COUNT, "description": "accounts activated in the period"},
                "cumulative": {**_COUNT, "description": "accounts activated by the end of the period"},
                "cumulative_share": {"type": "number", "minimum": 0, "maximum": 1,
                                     "description": "`cumulative` over today's active accounts"}})}}),
            "description": "with `series`: the last 12 months (or 52 weeks), each from midnight in Paris, "
                           "oldest first; of today's active and activated accounts (a closed account is "
                           "counted at no point)"}}, list(_STAT_COUNTS)),
}


def _error(description: str) -> dict[str, Any]:
    return {"description": description,
            "content": {"application/json": {"schema": {"$ref": _REF.format(model="Error")}}}}


def _json(schema: str, description: str) -> dict[str, Any]:
    content = {"application/json": {"schema": {"$ref": _REF.format(model=schema)}}}
    return {"description": description, "content": content}


def _body(schema: str) -> dict[str, Any]:
    return {"required": True, "content": {"application/json": {"schema": {"$ref": _REF.format(model=schema)}}}}


_AUTH = {"401": _error("Missing or invalid token"), "403": _error("Not allowed (operator only, or suspended tenant)")}
_BAD = {"400": _error("Not JSON"), "415": _error("Wrong Content-Type"),
        "422": _error("Invalid content; every error with its path")}
_TENANT_ID = [{"name": "tenant_id", "in": "path", "required": True, "schema": {"type": "string", "format": "uuid"}}]
_OPERATOR = [{"operatorToken": []}]
_AGENCY = [{"agencyApiKey": []}]


def _paths() -> dict[str, Any]:
    csv_line = ";".join(COLUMNS)
    return {
        "/api/v1/tenants": {"post": {
            "summary": "Onboard a tenant (operator)", "operationId": "createTenant", "security": _OPERATOR,
            "requestBody": _body("TenantCreate"),
            "responses": {"201": _json("TenantCreated", "The tenant and its API key (shown once)"), **_AUTH, **_BAD,
                          "409": _error("client_code + societe_code already taken")}}},
        "/api/v1/tenants/{tenant_id}": {
            "parameters": _TENANT_ID,
            "get": {"summary": "Read a tenant (operator)", "operationId": "getTenant", "security": _OPERATOR,
                    "responses": {"200": _json("Tenant", "The tenant"), **_AUTH, "404": _error("Unknown tenant")}},
            "patch": {"summary": "Change name, support, branding, status or settings (operator)",
                      "operationId": "updateTenant", "security": _OPERATOR, "requestBody": _body("TenantPatch"),
                      "responses": {"200": _json("Tenant", "The updated tenant"), **_AUTH, **_BAD,
                                    "404": _error("Unknown tenant")}}},
        "/api/v1/tenants/{tenant_id}/api-keys": {
            "parameters": _TENANT_ID,
            "post": {"summary": "Rotate the tenant's API key (operator)", "operationId": "rotateApiKey",
                     "security": _OPERATOR,
                     "responses": {"201": _json("ApiKey", "The new key"), **_AUTH, "404": _error("Unknown tenant")}}},
        "/api/v1/directory": {"put": {
            "summary": "Upsert residences, lots and accounts (idempotent, all or nothing)",
            "operationId": "putDirectory", "security": _AGENCY, "requestBody": _body("DirectoryIn"),
            "responses": {"200": _json("DirectoryResult", "What was created, updated, unchanged"), **_AUTH, **_BAD,
                          "413": _error("Body over the import limit (32 MB by default)")}}},
        "/api/v1/directory/accounts": {"get": {
            "summary": "A page of the directory's accounts (by ref) with their lots and access state",
            "operationId": "listAccounts", "security": _AGENCY,
            "parameters": [
                {"name": "q", "in": "query", "required": False,
                 "schema": {"type": "string", "maxLength": 100}, "description": "in the ref, name or email"},
                {"name": "residence_ref", "in": "query", "required": False, "schema": {"type": "string"}},
                {"name": "ref", "in": "query", "required": False, "schema": {"type": "string"},
                 "description": "one account, by its exact ref"},
                {"name": "role", "in": "query", "required": False,
                 "schema": {"enum": ["coproprietaire", "bailleur", "locataire"]}},
                {"name": "access", "in": "query", "required": False, "schema": {"enum": [
                    "none", "credentials_issued", "expired", "pending_verification", "activated", "merged"]}},
                {"name": "cursor", "in": "query", "required": False, "schema": {"type": "string"}},
                {"name": "limit", "in": "query", "required": False,
                 "schema": {"type": "integer", "minimum": 1, "maximum": 200, "default": 50}}],
            "responses": {"200": _json("AccountPage", "One page, its cursor, the residences for the filter"),
                          **_AUTH, "422": _error("A filter is invalid (every one listed)"),
                          "503": _error("Identity unavailable")}},
            "put": {
            "summary": "Upsert accounts from CSV (idempotent, all or nothing)", "operationId": "putAccountsCsv",
            "description": f"`;`-separated UTF-8, header `{csv_line}`, lot refs separated by `,`; "
                           "errors are reported as `line N.field`.",
            "security": _AGENCY,
            "requestBody": {"required": True, "content": {"text/csv": {"schema": {"type": "string"},
                                                                       "example": csv_line + "\nC001;coproprietaire;"
                                                                       "M. Jean Dupont;jean@example.org;L12;0\n"}}},
            "responses": {"200": _json("DirectoryResult", "What was created, updated, unchanged"), **_AUTH, **_BAD,
                          "413": _error("Body over the import limit (32 MB by default)")}}},
        "/api/v1/directory/accounts/{ref}": {
            "parameters": [{"name": "ref", "in": "path", "required": True, "schema": {"type": "string"}}],
            "delete": {"summary": "Close an account: its person loses access at once",
                       "operationId": "closeAccount", "security": _AGENCY,
                       "responses": {"204": {"description": "Closed (also when already closed)"}, **_AUTH,
                                     "404": _error("Unknown account ref")}}},
        "/api/v1/directory/accounts/{ref}/unlink": {
            "parameters": [{"name": "ref", "in": "path", "required": True, "schema": {"type": "string"}}],
            "post": {"summary": "Take an account away from its person (a sold lot, a wrong merge); the person is "
                                "told by email, the account's letters in circulation are revoked",
                     "operationId": "unlinkAccount", "security": _AGENCY,
                     "requestBody": {"required": True, "content": {"application/json": {"schema": _obj(
                         {"reason": {"enum": ["sold", "wrong_merge", "other"]},
                          "note": {"type": "string", "maxLength": 500, "description": "for the audit only"}},
                         ["reason"])}}},
                     "responses": {"200": {"description": "Unlinked", "content": {"application/json": {
                         "schema": _obj({"account_ref": {"type": "string"}, "unlinked": {"const": True},
                                         "person_notified": {"type": "boolean"}})}}},
                                   **_AUTH, **_BAD, "404": _error("Unknown account ref"),
                                   "409": _error("`account_not_linked`: no person holds this account"),
                                   "503": _error("Identity unavailable")}}},
        "/api/v1/provisional-credentials": {"post": {
            "summary": "Issue provisional credentials (shown once)", "operationId": "issueCredentials",
            "security": _AGENCY, "requestBody": _body("CredentialsRequest"),
            "responses": {
                "201": {"description": "The credentials; refused items are accounts already linked. With "
                                       "`Accept: application/pdf`, the letters to mail or hand out (one A4 page "
                                       "per account); with `Accept: text/csv`, a mail-merge file",
                        "content": {"application/json": {"schema": {"$ref": _REF.format(model="Credentials")}},
                                    "application/pdf": {"schema": {"type": "string", "format": "binary"}},
                                    "text/csv": {"schema": {"type": "string"},
                                                 "example": "account_ref;display_name;email;login;password;"
                                                            "expires_at\r\n"}}},
                **_AUTH, **_BAD, "409": _error("Every account is already linked to a person (use reset)"),
                "503": _error("Identity unavailable")}}},
        "/api/v1/agency": {
            "get": {"summary": "The agency's own tenant (its codes, help contact, colour, login URL)",
                    "operationId": "getAgency", "security": _AGENCY,
                    "responses": {"200": _json("Tenant", "The agency"), **_AUTH}},
            "patch": {"summary": "Change the agency's help contact, colour or second-factor requirement "
                                 "(`settings.mfa_requirement`: none, council, all) (present fields replace; audited); "
                                 "in the console, administrators only",
                      "operationId": "patchAgency", "security": _AGENCY, "requestBody": {
                          "required": True, "content": {"application/json": {"schema": _obj({
                              "support": {"$ref": _REF.format(model="Support")},
                              "branding": {"$ref": _REF.format(model="Branding")},
                              "settings": _obj({"mfa_requirement": {"enum": ["none", "council", "all"]}})}, [])}}},
                      "responses": {"200": _json("Tenant", "The agency, changed"), **_AUTH, **_BAD}}},
        "/api/v1/agency/api-keys": {"post": {
            "summary": "A new API key for the agency (shown once; the current one stops at once; audited)",
            "operationId": "rotateOwnApiKey", "security": _AGENCY,
            "responses": {"201": _json("ApiKey", "The new key"), **_AUTH}}},
        "/api/v1/agency/audit": {"get": {
            "summary": "The latest changes of the agency itself (help contact, colour, keys), newest first",
            "operationId": "agencyAudit", "security": _AGENCY,
            "responses": {"200": {"description": "The audit", "content": {"application/json": {"schema": _obj({
                "items": {"type": "array", "items": _obj({
                    "id": {"type": "integer"}, "at": {"type": "string", "format": "date-time"},
                    "actor": {"enum": ["operator", "agency"]}, "staff_id": {"type": ["string", "null"]},
                    "kind": {"type": "string"}, "detail": {"type": "object"}})}})}}}, **_AUTH}}},
        "/api/v1/activation-stats": {"get": {
            "summary": "Activation statistics of the agency's active accounts", "operationId": "activationStats",
            "security": _AGENCY,
            "parameters": [
                {"name": "by", "in": "query", "required": False, "schema": {"enum": ["residence"]},
                 "description": "adds `residences`: the counts per residence"},
                {"name": "series", "in": "query", "required": False, "schema": {"enum": ["month", "week"]},
                 "description": "adds `series`: accounts activated per month (12) or week (52), cumulated"}],
            "responses": {"200": _json("ActivationStats", "Counts per state (and what the parameters add)"),
                          **_AUTH, "422": _error("`by` or `series` is invalid (every one listed)"),
                          "503": _error("Identity unavailable")}}},
    }


def build_openapi() -> dict[str, Any]:
    """The OpenAPI 3.1 document of tenancy's public endpoints."""
    _, defs = models_json_schema(
        [(m, "validation") for m in (TenantCreate, TenantPatch, DirectoryIn, CredentialsRequest)],
        ref_template=_REF,
    )
    schemas = {**defs.get("$defs", {}), **_RESPONSE_SCHEMAS}
    return {
        "openapi": "3.1.0",
        "info": {"title": "moncompte public API (tenancy part)", "version": "1.0.0"},
        "paths": _paths(),
        "components": {
            "schemas": schemas,
            "securitySchemes": {
                "operatorToken": {"type": "http", "scheme": "bearer", "description": "OPERATOR_API_TOKEN"},
                "agencyApiKey": {"type": "http", "scheme": "bearer", "description": "the tenant's API key"},
            },
        },
    }


@openapi_routes.get("/internal/openapi.json")
async def openapi(request: web.Request) -> web.Response:
    return web.json_response(build_openapi())
