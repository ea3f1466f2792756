"""Tenancy's part of the public OpenAPI document is a valid OpenAPI 3.1 document covering the contract."""

from __future__ import annotations

from openapi_spec_validator import validate

from services.tenancy.openapi import build_openapi


def test_the_document_is_valid_openapi_3_1():
    document = build_openapi()
    assert document["openapi"].startswith("3.1")
    validate(document)


def test_it_covers_every_public_tenancy_path_with_error_responses():
    from common.settings import load_settings
    from services.tenancy.app import create_app
    from services.tenancy.settings import TenancySettings

    paths = build_openapi()["paths"]
    # Every public route the service serves, and methods per route, from its own route table.
    served: dict[str, set[str]] = {}
    for route in create_app(load_settings(TenancySettings), relay=False).router.routes():
        if route.resource.canonical.startswith("/api/v1/") and route.method != "HEAD":
            served.setdefault(route.resource.canonical, set()).add(route.method.lower())
    assert {path: set(item) - {"parameters"} for path, item in paths.items()} == served
    assert {"/api/v1/tenants", "/api/v1/directory", "/api/v1/provisional-credentials"} <= set(paths)
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
