"""Documents' part of the public OpenAPI document: a valid OpenAPI 3.1 document that describes
what the service really accepts and answers."""

from __future__ import annotations

import uuid

import jsonschema
from openapi_spec_validator import validate

from tests.integration.documents.conftest import pdf_bytes


async def test_openapi_document_is_valid_and_matches_the_service(harness):
    response = await harness.client.get("/internal/openapi.json", headers=harness.agency(uuid.uuid4()))
    assert response.status == 200
    document = await response.json()
    validate(document)
    assert set(document["paths"]) == {"/api/v1/documents", "/api/v1/documents/{id}", "/api/v1/documents/compliance",
                                      "/api/v1/documents/{id}/proof", "/api/v1/documents/proof", "/api/v1/consents"}
    assert set(document["paths"]["/api/v1/documents"]) == {"get", "post"}
    assert set(document["paths"]["/api/v1/documents/compliance"]) == {"get"}
    assert set(document["paths"]["/api/v1/documents/{id}"]) == {"delete"}
    schemas = document["components"]["schemas"]

    def check(instance, name):
        jsonschema.validate(instance, {"$ref": f"#/components/schemas/{name}", "components": {"schemas": schemas}})

    tenant, residence = uuid.uuid4(), uuid.uuid4()
    await harness.account(tenant_id=tenant, ref="C1", residences=[(residence, "R1")])
    metadata = {"category": "AG_PV", "title": "PV", "date": "2025-06-12", "audience": {"residence_ref": "R1"}}
    check(metadata, "DocumentMetadata")
    check(await harness.publish(tenant, metadata, pdf_bytes()), "DocumentPublished")
    page = await harness.client.get("/api/v1/documents", headers=harness.agency(tenant))
    check(await page.json(), "AgencyDocumentPage")
    checked = await harness.client.get("/api/v1/documents/compliance", headers=harness.agency(tenant))
    check(await checked.json(), "Compliance")
    document_id = (await page.json())["items"][0]["id"]
    proof = await harness.client.get(f"/api/v1/documents/{document_id}/proof", headers=harness.agency(tenant))
    check(await proof.json(), "DocumentProof")
    proof = await harness.client.get("/api/v1/documents/proof", params={"account_ref": "C1"},
                                     headers=harness.agency(tenant))
    check(await proof.json(), "AccountProof")
    register = await harness.client.get("/api/v1/consents", params={"residence_ref": "R1"},
                                        headers=harness.agency(tenant))
    check(await register.json(), "ConsentRegister")
    refused = await harness.upload(tenant, {**metadata, "category": "NOPE"})
    check(await refused.json(), "Error")
    # What the schema refuses, the service refuses too.
    for bad in ({**metadata, "category": "NOPE"}, {**metadata, "audience": {}}, {**metadata, "extra": 1}):
        try:
            check(bad, "DocumentMetadata")
            schema_ok = True
        except jsonschema.ValidationError:
            schema_ok = False
        assert not schema_ok
        assert (await harness.upload(tenant, bad)).status == 422


async def test_openapi_needs_an_internal_token(harness):
    assert (await harness.client.get("/internal/openapi.json")).status == 401
