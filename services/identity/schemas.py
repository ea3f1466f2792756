"""Request bodies of the identity API (docs/internal-api.md), parsed strictly."""

from __future__ import annotations

import uuid
from typing import Literal, TypeVar

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from common.errors import BadRequest, FieldError, ValidationFailed

M = TypeVar("M", bound=BaseModel)

# Long enough for any real password (>= 128 characters accepted), short enough to bound argon2 input.
_PASSWORD = Field(max_length=1024)


class _Body(BaseModel):
    model_config = ConfigDict(extra="ignore", str_strip_whitespace=False)


class AccountToIssue(_Body):
    account_id: uuid.UUID
    role: str = Field(min_length=1, max_length=50)
    display_name: str = Field("", max_length=300)
    suggested_email: str | None = Field(None, max_length=254)


class IssueCredentials(_Body):
    tenant_id: uuid.UUID
    ttl_days: int | None = Field(None, ge=1, le=3650)
    reset: bool = False
    accounts: list[AccountToIssue] = Field(max_length=100_000)


class TenantOnly(_Body):
    tenant_id: uuid.UUID
    account_ids: list[uuid.UUID] | None = Field(None, max_length=10_000)  # only these (a page of the console)


class AccountIds(_Body):
    account_ids: list[uuid.UUID] = Field(max_length=100_000)


class Start(_Body):
    login: str = Field(max_length=64)
    password: str = _PASSWORD
    intent: Literal["activate", "merge"] = "activate"


class Email(_Body):
    email: str = Field(max_length=320)


class NewPassword(_Body):
    password: str = _PASSWORD
    confirmation: str = _PASSWORD
    accept_terms: bool = False


class Password(_Body):
    password: str = _PASSWORD


class Token(_Body):
    token: str = Field(max_length=256)


class Login(_Body):
    email: str = Field(max_length=320)
    password: str = _PASSWORD


class SessionId(_Body):
    session_id: str = Field(max_length=256)


class ChangePassword(_Body):
    old_password: str = _PASSWORD
    new_password: str = _PASSWORD
    confirmation: str = _PASSWORD


class Forgot(_Body):
    identifier: str = Field(max_length=320)


class Reset(_Body):
    token: str = Field(max_length=256)
    password: str = _PASSWORD
    confirmation: str = _PASSWORD
    code: str | None = Field(None, max_length=64)  # required when the person has a second factor


class LoginMfa(_Body):
    mfa_token: str = Field(max_length=256)
    code: str | None = Field(None, max_length=64)
    assertion: dict | None = None  # a WebAuthn assertion (PublicKeyCredential JSON) instead of a code

    @model_validator(mode="after")
    def _one_answer(self):
        if (self.code is None) == (self.assertion is None):
            raise ValueError("give either code or assertion")
        return self


class PasskeyRegistration(_Body):
    ceremony_id: str = Field(max_length=256)
    credential: dict  # the PublicKeyCredential of navigator.credentials.create, as JSON
    name: str = Field("", max_length=60)


class PasskeyLogin(_Body):
    ceremony_id: str = Field(max_length=256)
    assertion: dict


class PasskeyRemoval(_Body):
    passkey_id: str = Field(max_length=1400)
    password: str = _PASSWORD


class MfaToken(_Body):
    mfa_token: str = Field(max_length=256)


class MfaCode(_Body):
    code: str = Field(max_length=64)


class PolicyCheck(_Body):
    password: str = _PASSWORD
    confirmation: str | None = Field(None, max_length=1024)
    email: str | None = Field(None, max_length=320)


class AccountClose(_Body):
    account_id: uuid.UUID


class Unlink(_Body):
    account_id: uuid.UUID
    reason: Literal["sold", "wrong_merge", "other"]
    note: str = Field("", max_length=500)


class StaffInvite(_Body):
    email: str = Field(max_length=320)
    display_name: str = Field("", max_length=200)
    role: Literal["admin", "gestionnaire"] = "gestionnaire"
    tenant_id: uuid.UUID | None = None  # the operator names it; an agency invites into its own


class StaffAccept(_Body):
    token: str = Field(max_length=256)
    password: str = _PASSWORD
    confirmation: str = _PASSWORD


async def parse(request: web.Request, model: type[M]) -> M:
    """The JSON body as ``model``; 400 if not JSON, 422 listing every invalid field."""
    try:
        data = await request.json()
    except ValueError:
        raise BadRequest("The body must be JSON") from None
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        errors = [FieldError(".".join(str(p) for p in e["loc"]), e["msg"])
                  for e in exc.errors(include_url=False, include_input=False)]
        raise ValidationFailed(errors=errors) from None
