"""Documents' part of the public OpenAPI 3.1 document (the gateway merges it with tenancy's part).

The metadata schema comes from the pydantic model that parses it, so the document cannot drift
from what the service accepts.
"""

from __future__ import annotations

from typing import Any

from pydantic.json_schema import models_json_schema

from services.documents.categories import CATEGORIES
from services.documents.schemas import MetadataIn

__all__ = ["openapi_document"]

_REF = "#/components/schemas/{model}"
_AGENCY = [{"agencyApiKey": []}]


def _error(description: str) -> dict[str, Any]:
    return {"description": description,
            "content": {"application/json": {"schema": {"$ref": _REF.format(model="Error")}}}}


def _schemas(settings) -> dict[str, Any]:
    _, defs = models_json_schema([(MetadataIn, "validation")], ref_template=_REF)
    schemas = dict(defs.get("$defs", {}))
    schemas["DocumentMetadata"] = schemas.pop("MetadataIn")
    schemas["DocumentMetadata"]["properties"]["category"]["enum"] = sorted(CATEGORIES)
    schemas["Error"] = {
        "type": "object",
        "properties": {
            "error": {"type": "string", "description": "stable error code"},
            "detail": {"type": "string"},
            "errors": {"type": "array", "items": {"type": "object", "properties": {
                "path": {"type": "string"}, "message": {"type": "string"}}, "required": ["path", "message"]}},
        },
        "required": ["error", "detail"],
    }
    schemas["DocumentPublished"] = {
        "type": "object",
        "properties": {
            "id": {"type": "string", "format": "uuid"},
            "sha256": {"type": "string", "pattern": "^[0-9a-f]{64}$"},
            "size": {"type": "integer", "minimum": 0},
            "content_type": {"type": "string"},
            "published_at": {"type": "string", "format": "date-time"},
        },
        "required": ["id", "sha256", "size", "content_type", "published_at"],
    }
    schemas["DocumentUpload"] = {
        "type": "object",
        "properties": {
            "metadata": {"$ref": _REF.format(model="DocumentMetadata")},
            "file": {"type": "string", "contentMediaType": "application/octet-stream",
                     "description": f"PDF, office document or image, at most {settings.max_upload_bytes} bytes"},
        },
        "required": ["metadata", "file"],
    }
    return schemas


def _paths() -> dict[str, Any]:
    auth = {"401": _error("Missing or invalid API key"), "403": _error("Not an agency key")}
    published = {"content": {"application/json": {"schema": {"$ref": _REF.format(model="DocumentPublished")}}}}
    return {
        "/api/v1/documents": {"post": {
            "summary": "Publish a document to one account, a residence or its conseil syndical",
            "description": "Streamed multipart upload; the type is checked from the content. Uploading the "
                           "same content again for the same category and audience returns the existing document.",
            "operationId": "publishDocument",
            "security": _AGENCY,
            "requestBody": {"required": True, "content": {"multipart/form-data": {
                "schema": {"$ref": _REF.format(model="DocumentUpload")},
                "encoding": {"metadata": {"contentType": "application/json"}}}}},
            "responses": {
                "201": {"description": "Published", **published},
                "200": {"description": "The same content was already published there", **published},
                "400": _error("Not a multipart body, or a part is missing"), **auth,
                "413": _error("File larger than the limit"),
                "415": _error("Not a PDF, office document or image"),
                "422": _error("Invalid metadata, unknown ref, or a category that does not fit the audience"),
            },
        }},
        "/api/v1/documents/{id}": {"delete": {
            "summary": "Withdraw a document (hidden from everyone at once)",
            "operationId": "withdrawDocument",
            "security": _AGENCY,
            "parameters": [{"name": "id", "in": "path", "required": True,
                            "schema": {"type": "string", "format": "uuid"}}],
            "responses": {"204": {"description": "Withdrawn (also when it already was)"}, **auth,
                          "404": _error("No such document for this agency")},
        }},
    }


def openapi_document(settings) -> dict[str, Any]:
    """The OpenAPI 3.1 document of documents' public endpoints."""
    return {
        "openapi": "3.1.0",
        "info": {"title": "moncompte public API (documents part)", "version": "1.0.0"},
        "paths": _paths(),
        "components": {
            "schemas": _schemas(settings),
            "securitySchemes": {
                "agencyApiKey": {"type": "http", "scheme": "bearer", "description": "the tenant's API key"}},
        },
    }
