"""Errors of the identity service; codes are the stable ones of docs/internal-api.md."""

from __future__ import annotations

from common.errors import AppError, Conflict, NotFound, Unauthorized, ValidationFailed
from common.errors import Forbidden as CommonForbidden


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
    """The activation flow is unknown, expired (1 h idle) or over (e.g. its pending activation was reset
    from another device)."""

    code = "flow_not_found"
    detail = "Activation flow not found or expired"


class WrongStep(AppError):
    """The flow is not at a step where this action is possible."""

    status = 409
    code = "wrong_step"
    detail = "This action is not possible at the current step"


class EmailPending(AppError):
    """Another person's activation waits for the verification of this address (``pending_until``).

    One pending activation per address at a time: otherwise someone holding any letter could start
    an activation with a victim's address, and the victim, clicking that verification email, would
    make the other person's password the login of their address. The flow is back at the email step.
    """

    status = 409
    code = "email_pending"
    detail = "An activation with this email address is waiting for its verification"

    def __init__(self, *, email: str, pending_until: str) -> None:
        super().__init__(email=email, pending_until=pending_until)


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


class Forbidden(CommonForbidden):
    """The caller may not do this (missing or wrong claims)."""


class StaffEmailTaken(Conflict):
    """A staff member of this agency already has this address (active or disabled)."""

    code = "staff_email_taken"
    detail = "A staff member of this agency already uses this email address"


class AccountNotFound(NotFound):
    """The account belongs to another tenant: nothing of it is this tenant's to close."""

    code = "account_not_found"
    detail = "No such account at this tenant"


class AccountNotLinked(NotFound):
    """The account is linked to no person of this tenant: there is nothing to unlink."""

    code = "account_not_linked"
    detail = "This account is not linked to any person"


class StaffNotFound(NotFound):
    """No active or disabled staff member with this id in the agency (an invitation not accepted is not one)."""

    code = "staff_not_found"
    detail = "Staff member not found"


class InvalidMfaCode(Unauthorized):
    """The authenticator or recovery code is wrong, already used, or missing where one is required."""

    code = "invalid_mfa_code"
    detail = "Invalid or already used code"


class MfaChallengeInvalid(Unauthorized):
    """The step after the password is unknown, expired (5 min), used, from another IP, or was killed
    after too many wrong codes: the person logs in again from the password."""

    code = "mfa_challenge_invalid"
    detail = "The second-factor step expired, log in again"


class MfaAlreadyEnrolled(Conflict):
    """The person already has an authenticator app: remove it before adding another."""

    code = "mfa_already_enrolled"
    detail = "An authenticator app is already registered"


class MfaNotEnrolled(NotFound):
    """No authenticator app (or no enrolment started) for this person."""

    code = "mfa_not_enrolled"
    detail = "No authenticator app is registered"


class MfaRequiredByAgency(Conflict):
    """The person's agency requires a second factor: the last one cannot be removed."""

    code = "mfa_required_by_agency"
    detail = "An agency of this person requires a second factor"
