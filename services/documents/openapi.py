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
    audience = {"type": "object", "description": "as given at upload", "properties": {
        "account_ref": {"type": "string"}, "residence_ref": {"type": "string"}, "council_only": {"type": "boolean"}}}
    residence = {"type": "object", "properties": {"ref": {"type": "string"}, "name": {"type": "string"}},
                 "required": ["ref", "name"]}
    schemas["AgencyDocument"] = {
        "type": "object",
        "properties": {
            "id": {"type": "string", "format": "uuid"}, "title": {"type": "string"},
            "category": {"type": "string", "enum": sorted(CATEGORIES)}, "category_label": {"type": "string"},
            "date": {"type": "string", "format": "date"}, "audience": audience,
            "sha256": {"type": "string", "pattern": "^[0-9a-f]{64}$"}, "size": {"type": "integer", "minimum": 0},
            "content_type": {"type": "string"}, "filename": {"type": "string"},
            "published_at": {"type": "string", "format": "date-time"},
            "withdrawn_at": {"type": ["string", "null"], "format": "date-time"},
            "published_by_staff": {"type": ["string", "null"], "format": "uuid",
                                   "description": "the console user who published it; null: the agency's software"},
            "withdrawn_by_staff": {"type": ["string", "null"], "format": "uuid",
                                   "description": "the console user who withdrew it"},
            "to_send_by_post": {"type": ["integer", "null"], "minimum": 0,
                                "description": "AG_CONVOC and LOT_APPEL: accounts of the audience without consent to "
                                               "electronic notification at publication (send by post); else null"},
        },
        "required": ["id", "title", "category", "category_label", "date", "audience", "sha256", "size",
                     "content_type", "published_at", "withdrawn_at"],
    }
    schemas["AgencyDocumentPage"] = {
        "type": "object",
        "properties": {"items": {"type": "array", "items": {"$ref": _REF.format(model="AgencyDocument")}},
                       "next_cursor": {"type": ["string", "null"]},
                       "residences": {"type": "array", "items": residence}},
        "required": ["items", "next_cursor", "residences"],
    }
    item = {"type": "object", "properties": {
        "category": {"type": "string"}, "label": {"type": "string"}, "group": {"type": "string"},
        "status": {"type": "string", "enum": ["present", "missing", "incomplete", "out_of_date"]},
        "count": {"type": "integer", "minimum": 0}, "expected": {"type": ["integer", "null"]},
        "last_update": {"type": ["string", "null"], "format": "date"}},
        "required": ["category", "label", "group", "status", "count", "expected", "last_update"]}
    schemas["Compliance"] = {
        "type": "object",
        "properties": {"today": {"type": "string", "format": "date"}, "residences": {"type": "array", "items": {
            "type": "object", "properties": {
                "ref": {"type": "string"}, "name": {"type": "string"},
                "ag_date": {"type": ["string", "null"], "format": "date",
                            "description": "the latest AG_CONVOC or AG_PV date, taken as the annual AG"},
                "summary": {"type": "object", "additionalProperties": {"type": "integer"}},
                "items": {"type": "array", "items": item}},
            "required": ["ref", "name", "ag_date", "summary", "items"]}}},
        "required": ["today", "residences"],
    }
    access = {"type": "object", "properties": {
        "at": {"type": "string", "format": "date-time"}, "account_ref": {"type": ["string", "null"]},
        "account_id": {"type": ["string", "null"], "format": "uuid"}, "person_id": {"type": "string", "format": "uuid"},
        "kind": {"type": "string", "enum": ["view", "download", "archive"]}, "success": {"type": "boolean"}},
        "required": ["at", "account_ref", "account_id", "person_id", "kind", "success"]}
    proof_document = {"type": "object", "properties": {
        **schemas["AgencyDocument"]["properties"], "residence_name": {"type": ["string", "null"]}},
        "required": schemas["AgencyDocument"]["required"]}
    schemas["DocumentProof"] = {
        "type": "object",
        "description": "Proof of availability of one document (docs/legal-proofs.md)",
        "properties": {
            "generated_at": {"type": "string", "format": "date-time"},
            "document": proof_document,
            "integrity": {"type": "object", "properties": {
                "stored_sha256": {"type": "string"}, "computed_sha256": {"type": ["string", "null"]},
                "matches": {"type": "boolean"}, "checked_at": {"type": "string", "format": "date-time"}},
                "required": ["stored_sha256", "computed_sha256", "matches", "checked_at"]},
            "audience_at_publication": {"type": "array", "items": {"type": "object", "properties": {
                "account_ref": {"type": "string"}, "account_id": {"type": "string", "format": "uuid"},
                "opened": {"type": "boolean"}}, "required": ["account_ref", "account_id", "opened"]}},
            "accesses": {"type": "array", "items": access},
            "summary": {"type": "object", "additionalProperties": {"type": "integer"}},
        },
        "required": ["generated_at", "document", "integrity", "audience_at_publication", "accesses", "summary"],
    }
    schemas["AccountProof"] = {
        "type": "object",
        "description": "Proof of availability of every document of one account",
        "properties": {
            "generated_at": {"type": "string", "format": "date-time"},
            "account": {"type": "object", "properties": {"ref": {"type": "string"}, "id": {"type": "string"}},
                        "required": ["ref", "id"]},
            "documents": {"type": "array", "items": {"type": "object", "properties": {
                **proof_document["properties"], "in_audience_at_publication": {"type": "boolean"},
                "first_opened_at": {"type": ["string", "null"], "format": "date-time"},
                "accesses": {"type": "array", "items": access}},
                "required": [*proof_document["required"], "in_audience_at_publication", "first_opened_at",
                             "accesses"]}},
        },
        "required": ["generated_at", "account", "documents"],
    }
    consent_state = {"type": "object", "properties": {
        "given": {"type": "boolean"}, "since": {"type": ["string", "null"], "format": "date-time"}},
        "required": ["given", "since"]}
    schemas["ConsentRegister"] = {
        "type": "object",
        "description": "Consents to electronic notification of one residence's accounts (docs/legal-proofs.md)",
        "properties": {
            "residence": residence,
            "at": {"type": "string", "format": "date-time"},
            "kinds": {"type": "array", "items": {"type": "object", "properties": {
                "kind": {"type": "string"}, "label": {"type": "string"}}, "required": ["kind", "label"]}},
            "accounts": {"type": "array", "items": {"type": "object", "properties": {
                "account_ref": {"type": "string"}, "account_id": {"type": "string", "format": "uuid"},
                "consents": {"type": "object", "additionalProperties": consent_state}},
                "required": ["account_ref", "account_id", "consents"]}},
            "changes": {"type": "array", "items": {"type": "object", "properties": {
                "at": {"type": "string", "format": "date-time"}, "account_ref": {"type": "string"},
                "account_id": {"type": "string", "format": "uuid"}, "person_id": {"type": "string", "format": "uuid"},
                "lots": {"type": "array", "items": {"type": "object"}},
                "kind": {"type": "string", "enum": ["notifications", "mises_en_demeure", "appels_de_fonds"]},
                "given": {"type": "boolean"}, "wording": {"type": "string"}, "wording_version": {"type": "string"},
                "means": {"type": "string", "enum": ["web"]}},
                "required": ["at", "account_ref", "account_id", "person_id", "lots", "kind", "given", "wording",
                             "wording_version", "means"]}},
        },
        "required": ["residence", "at", "kinds", "accounts", "changes"],
    }
    return schemas


def _proof_content(model: str) -> dict[str, Any]:
    return {"content": {"application/json": {"schema": {"$ref": _REF.format(model=model)}},
                        "text/csv": {"schema": {"type": "string"}},
                        "application/pdf": {"schema": {"type": "string", "format": "binary"}}}}


_FORMAT = {"name": "format", "in": "query", "required": False,
           "schema": {"type": "string", "enum": ["json", "csv", "pdf"]},
           "description": "json (default), csv or pdf; without it, an Accept of application/pdf or text/csv chooses"}


def _query(name: str, schema: dict, description: str) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "schema": schema, "description": description}


def _paths() -> dict[str, Any]:
    auth = {"401": _error("Missing or invalid API key"), "403": _error("Not an agency key")}
    published = {"content": {"application/json": {"schema": {"$ref": _REF.format(model="DocumentPublished")}}}}
    listed = {"content": {"application/json": {"schema": {"$ref": _REF.format(model="AgencyDocumentPage")}}}}
    checked = {"content": {"application/json": {"schema": {"$ref": _REF.format(model="Compliance")}}}}
    listing = {
        "summary": "The agency's documents, newest published first (keyset pagination)",
        "operationId": "listAgencyDocuments",
        "security": _AGENCY,
        "parameters": [
            _query("category", {"type": "string", "enum": sorted(CATEGORIES)}, "one category"),
            _query("residence_ref", {"type": "string"},
                   "documents of this residence, its council or one of its accounts"),
            _query("year", {"type": "integer"}, "the year of the document's date"),
            _query("status", {"type": "string", "enum": ["published", "withdrawn"]}, "default: both"),
            _query("q", {"type": "string", "maxLength": 200}, "text in the title"),
            _query("cursor", {"type": "string"}, "next_cursor of the previous page"),
            _query("limit", {"type": "integer", "minimum": 1, "maximum": 200, "default": 50}, "page size"),
        ],
        "responses": {"200": {"description": "One page", **listed}, **auth,
                      "422": _error("Invalid filter or cursor")},
    }
    return {
        "/api/v1/documents/compliance": {"get": {
            "summary": "Décret 2019-502: which legal items each residence has, lacks or must update",
            "operationId": "documentsCompliance",
            "security": _AGENCY,
            "parameters": [_query("residence_ref", {"type": "string"}, "one residence (default: all)")],
            "responses": {"200": {"description": "One entry per residence", **checked}, **auth,
                          "422": _error("Unknown residence")},
        }},
        "/api/v1/documents": {"get": listing, "post": {
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
        "/api/v1/consents": {"get": {
            "summary": "The register of consents to electronic notification of one residence, at a date",
            "description": "Every change (given or revoked) up to `at`, with the wording shown, and each account's "
                           "state then. Loi 65-557 art. 42-1; décret 67-223 art. 64-1 to 64-4 and 35-2.",
            "operationId": "consentRegister",
            "security": _AGENCY,
            "parameters": [
                {"name": "residence_ref", "in": "query", "required": True,
                 "schema": {"type": "string", "minLength": 1, "maxLength": 64}},
                _query("at", {"type": "string"}, "a date (its end, Paris time) or a date-time; default: now"),
                _query("format", {"type": "string", "enum": ["json", "csv"]}, "default json, or Accept: text/csv"),
                _query("view", {"type": "string", "enum": ["changes", "state"]},
                       "CSV only: one row per change (default) or per account"),
            ],
            "responses": {"200": {"description": "The register", "content": {
                "application/json": {"schema": {"$ref": _REF.format(model="ConsentRegister")}},
                "text/csv": {"schema": {"type": "string"}}}}, **auth,
                "422": _error("Missing or unknown residence, or a bad parameter")},
        }},
        "/api/v1/documents/proof": {"get": {
            "summary": "Proof of availability for one account: each document published to it, and its accesses",
            "operationId": "accountAvailabilityProof",
            "security": _AGENCY,
            "parameters": [{"name": "account_ref", "in": "query", "required": True,
                            "schema": {"type": "string", "minLength": 1, "maxLength": 64}}, _FORMAT],
            "responses": {"200": {"description": "The report", **_proof_content("AccountProof")}, **auth,
                          "422": _error("Missing or unknown account_ref, or a bad format")},
        }},
        "/api/v1/documents/{id}/proof": {"get": {
            "summary": "Proof of availability of one document: SHA-256 checked again, audience at publication, "
                       "every view and download",
            "description": "Withdrawn documents keep their proof. The SHA-256 is recomputed from the stored file "
                           "when the report is made and compared with the one recorded at upload.",
            "operationId": "documentAvailabilityProof",
            "security": _AGENCY,
            "parameters": [{"name": "id", "in": "path", "required": True,
                            "schema": {"type": "string", "format": "uuid"}}, _FORMAT],
            "responses": {"200": {"description": "The report", **_proof_content("DocumentProof")}, **auth,
                          "404": _error("No such document for this agency"), "422": _error("Bad format")},
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
