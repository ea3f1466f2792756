"""Errors of the identity service; codes are the stable ones of docs/internal-api.md."""

from __future__ import annotations

from common.errors import AppError, NotFound, Unauthorized, ValidationFailed


class InvalidCredentials(Unauthorized):
    """Unknown, wrong, expired, revoked, used, unverified or locked: one answer, never which."""

    code = "invalid_credentials"
    detail = "Invalid credentials"


class InvalidSession(Unauthorized):
    """The session id is unknown, ended or expired."""

    code = "invalid_session"
    detail = "Invalid session"


class TooManyRequests(AppError):
    """A rate limit or lock: retry after ``retry_after`` seconds (``extra``: more for the page, e.g.
    ``resend_available_at``)."""

    status = 429
    code = "too_many_requests"
    detail = "Too many attempts, retry later"

    def __init__(self, retry_after: int, detail: str | None = None, **extra) -> None:
        super().__init__(detail, retry_after=int(retry_after), **extra)


class CredentialLocked(TooManyRequests):
    """Too many wrong provisional passwords: that credential is locked for a while."""

    code = "credential_locked"
    detail = "These provisional credentials are locked for a while"


class Busy(TooManyRequests):
    """The password hashing pool is saturated."""

    code = "busy"
    detail = "The service is busy, retry shortly"


class FlowNotFound(NotFound):
    """The activation flow is unknown or expired (1 h idle)."""

    code = "flow_not_found"
    detail = "Activation flow not found or expired"


class WrongStep(AppError):
    """The flow is not at a step where this action is possible."""

    status = 409
    code = "wrong_step"
    detail = "This action is not possible at the current step"


class InvalidEmail(ValidationFailed):
    """The email address is not valid."""

    code = "invalid_email"
    detail = "Invalid email address"


class PasswordPolicy(ValidationFailed):
    """The new password does not satisfy the policy; carries the criteria and problems."""

    code = "password_policy"
    detail = "The password does not satisfy the policy"


class TermsNotAccepted(ValidationFailed):
    """The terms of use were not accepted."""

    code = "terms_not_accepted"
    detail = "The terms of use must be accepted"


class ConfirmationMismatch(ValidationFailed):
    """The confirmation differs from the password."""

    code = "confirmation_mismatch"
    detail = "The confirmation does not match the password"


class InvalidToken(AppError):
    """Unknown, used, expired or superseded token: one answer."""

    status = 400
    code = "invalid_token"
    detail = "Invalid or expired link"


class Forbidden(AppError):
    """The caller may not do this (missing or wrong claims)."""

    status = 403
    code = "forbidden"
    detail = "Forbidden"
