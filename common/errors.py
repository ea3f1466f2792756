"""The root of every service's error hierarchy.

A service declares its errors in ``errors.py`` as subclasses of :class:`AppError`; one middleware
(``common.http``) renders them as ``{"error", "detail", "errors"}`` JSON with their status.
"""

from __future__ import annotations

__all__ = ["AppError", "BadRequest", "Conflict", "FieldError", "Forbidden", "NotFound", "Unauthorized",
           "ValidationFailed"]


class FieldError(dict):
    """One problem with one input field: ``{"path": "accounts[3].role", "message": "..."}``."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(path=path, message=message)


class AppError(Exception):
    """An expected failure with a client-facing code, status and detail (never a secret)."""

    status = 400
    code = "bad_request"
    detail = "Bad request"

    def __init__(self, detail: str | None = None, *, errors: list[FieldError] | None = None, **extra) -> None:
        super().__init__(detail or self.detail)
        self.detail = detail or self.detail
        self.errors = errors or []
        self.extra = extra

    def to_json(self) -> dict:
        body = {"error": self.code, "detail": self.detail}
        if self.errors:
            body["errors"] = list(self.errors)
        body.update(self.extra)
        return body


class BadRequest(AppError):
    """The request could not be parsed."""


class ValidationFailed(AppError):
    """The request was parsed but its content is invalid; ``errors`` lists every problem."""

    status = 422
    code = "validation_failed"
    detail = "The request is invalid"


class Unauthorized(AppError):
    """Missing or invalid credentials."""

    status = 401
    code = "unauthorized"
    detail = "Authentication required"


class Forbidden(AppError):
    """The caller is authenticated but may not do this (wrong kind of caller, another tenant's data)."""

    status = 403
    code = "forbidden"
    detail = "Forbidden"


class NotFound(AppError):
    """The resource does not exist (or is not visible to the caller: existence never leaks)."""

    status = 404
    code = "not_found"
    detail = "Not found"


class Conflict(AppError):
    """The request conflicts with the current state."""

    status = 409
    code = "conflict"
    detail = "Conflict"
