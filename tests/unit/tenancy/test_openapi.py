"""Tenancy's part of the public OpenAPI document is a valid OpenAPI 3.1 document covering the contract."""

from __future__ import annotations

from openapi_spec_validator import validate

from services.tenancy.openapi import build_openapi


def test_the_document_is_valid_openapi_3_1():
    document = build_openapi()
    assert document["openapi"].startswith("3.1")
    validate(document)


def test_it_covers_every_public_tenancy_path_with_error_responses():
    paths = build_openapi()["paths"]
    assert set(paths) == {"/api/v1/tenants", "/api/v1/tenants/{tenant_id}", "/api/v1/tenants/{tenant_id}/api-keys",
                          "/api/v1/directory", "/api/v1/directory/accounts", "/api/v1/directory/accounts/{ref}",
                          "/api/v1/provisional-credentials", "/api/v1/activation-stats"}
    assert "409" in paths["/api/v1/tenants"]["post"]["responses"]
    assert {"413", "422"} <= set(paths["/api/v1/directory"]["put"]["responses"])
    assert "text/csv" in paths["/api/v1/directory/accounts"]["put"]["requestBody"]["content"]
    assert "text/csv" in paths["/api/v1/provisional-credentials"]["post"]["responses"]["201"]["content"]


def test_request_schemas_are_the_ones_the_service_parses():
    schemas = build_openapi()["components"]["schemas"]
    assert schemas["AccountIn"]["properties"]["role"]["enum"] == ["coproprietaire", "bailleur", "locataire"]
    assert schemas["TenantCreate"]["additionalProperties"] is False


def test_activation_stats_keep_their_counts_required_and_document_the_extension():
    document = build_openapi()
    schema = document["components"]["schemas"]["ActivationStats"]
    assert schema["required"] == ["accounts", "without_credentials", "credentials_issued", "pending_verification",
                                  "activated", "expired"]
    assert {"residences", "series"} <= set(schema["properties"])
    operation = document["paths"]["/api/v1/activation-stats"]["get"]
    assert [p["name"] for p in operation["parameters"]] == ["by", "series"]
    assert "422" in operation["responses"]
