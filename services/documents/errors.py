"""Errors of the documents service, rendered as ``{"error", "detail", "errors"}`` JSON."""

from __future__ import annotations

from common.errors import AppError, BadRequest, FieldError, NotFound, Unauthorized, ValidationFailed
from common.errors import Forbidden as CommonForbidden

__all__ = [
    "BadRequest",
    "ConsentWordingChanged",
    "DocumentNotFound",
    "FieldError",
    "Forbidden",
    "InvalidDocument",
    "PayloadTooLarge",
    "PersonRequired",
    "UnsupportedMediaType",
]


class DocumentsError(AppError):
    """Base of this service's errors: ``errors`` is always present (possibly empty)."""

    def to_json(self) -> dict:
        body = super().to_json()
        body.setdefault("errors", [])
        return body


class InvalidDocument(DocumentsError, ValidationFailed):
    """The metadata is invalid: unknown category or ref, or a category that does not fit its audience."""


class PayloadTooLarge(DocumentsError):
    """The file is larger than the configured limit."""

    status = 413
    code = "file_too_large"
    detail = "The file is larger than the upload limit"


class UnsupportedMediaType(DocumentsError):
    """The file content is not an accepted format (PDF, office document, image)."""

    status = 415
    code = "unsupported_file_type"
    detail = "Only PDF, office documents and images (PNG, JPEG, GIF, WebP) are accepted"


class DocumentNotFound(DocumentsError, NotFound):
    """No such document, or not visible to the caller (existence never leaks: never 403)."""

    code = "document_not_found"
    detail = "Document not found"


class Forbidden(DocumentsError, CommonForbidden):
    """The caller is not of the kind this endpoint serves (an agency call without its tenant...)."""

    detail = "This endpoint is not available to this caller"


class PersonRequired(DocumentsError, Unauthorized):
    """A person endpoint was called without a person in the internal token."""

    code = "person_required"
    detail = "A logged-in person is required"


class MalformedRequest(DocumentsError, BadRequest):
    """The request could not be parsed (not multipart, missing part, bad JSON...)."""

    code = "bad_request"


class ConsentWordingChanged(DocumentsError):
    """A consent change was sent with a wording version that is no longer in force (the page is stale)."""

    status = 409
    code = "consent_wording_changed"
    detail = "The wording of this consent has changed: show it again"
