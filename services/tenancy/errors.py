"""Errors of the tenancy service, rendered as JSON by the common error middleware."""

from __future__ import annotations

from common.errors import AppError, Conflict, FieldError, NotFound, Unauthorized, ValidationFailed
from common.errors import Forbidden as CommonForbidden

__all__ = [
    "AccountNotFound",
    "AccountNotLinked",
    "AllCredentialsRefused",
    "BodyTooLarge",
    "DirectoryInvalid",
    "FieldError",
    "Forbidden",
    "IdentityUnavailable",
    "InvalidApiKey",
    "TenantCodesTaken",
    "TenantNotFound",
    "TenantSuspended",
    "UnsupportedMediaType",
]


class Forbidden(CommonForbidden):
    """The caller is authenticated but not allowed to do this (e.g. an agency on an operator route)."""

    detail = "Not allowed"


class TenantSuspended(Forbidden):
    """The agency's tenant is suspended: its API key and login pages stop working."""

    code = "tenant_suspended"
    detail = "This tenant is suspended"


class TenantNotFound(NotFound):
    """No tenant with this id or these codes."""

    code = "tenant_not_found"
    detail = "Tenant not found"


class AccountNotFound(NotFound):
    """No account with this ref in the caller's directory."""

    code = "account_not_found"
    detail = "Account not found"


class TenantCodesTaken(Conflict):
    """Another tenant already uses this (client code, société code) pair."""

    code = "tenant_codes_taken"
    detail = "A tenant already uses these client and societe codes"


class InvalidApiKey(Unauthorized):
    """The API key is unknown or was rotated away."""

    code = "invalid_api_key"
    detail = "Invalid API key"


class DirectoryInvalid(ValidationFailed):
    """A directory document has errors; ``errors`` lists every one of them, nothing was applied."""

    code = "directory_invalid"
    detail = "The directory is invalid; nothing was applied"


class BodyTooLarge(AppError):
    """The request body is larger than the configured limit."""

    status = 413
    code = "body_too_large"
    detail = "The request body is too large"


class UnsupportedMediaType(AppError):
    """The request body's Content-Type is not the one this endpoint reads."""

    status = 415
    code = "unsupported_media_type"
    detail = "Unsupported Content-Type"


class AllCredentialsRefused(Conflict):
    """Identity refused every requested account (all already linked to a person)."""

    code = "credentials_refused"
    detail = "Every account was refused"


class IdentityUnavailable(AppError):
    """The identity service did not answer or answered an error."""

    status = 503
    code = "identity_unavailable"
    detail = "The identity service is unavailable"


class AccountNotLinked(Conflict):
    """The account has no extranet access to take away (no person is linked to it)."""

    code = "account_not_linked"
    detail = "This account is not linked to any person"
