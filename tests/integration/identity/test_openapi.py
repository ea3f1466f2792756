"""identity serves an OpenAPI 3.1 document of its internal API, valid, and describing every route."""

from __future__ import annotations

import re

from aiohttp import web
from openapi_spec_validator import validate

from services.identity.openapi import OPENAPI_PATH

_UNDOCUMENTED = re.compile(r"^/(health/|metrics$)")


def _app_operations(app: web.Application) -> set[tuple[str, str]]:
    operations = set()
    for route in app.router.routes():
        path = route.resource.canonical if route.resource else ""
        if route.method in ("HEAD", "OPTIONS", "*") or _UNDOCUMENTED.match(path) or path == OPENAPI_PATH:
            continue
        operations.add((route.method.lower(), path))
    return operations


async def test_the_document_is_valid_openapi_and_describes_every_route(identity):
    response = await identity.get(OPENAPI_PATH)
    assert response.status == 200
    document = await response.json()
    validate(document)
    assert document["openapi"].startswith("3.1")

    described = {(method, path) for path, item in document["paths"].items() for method in item
                 if method in ("get", "post", "put", "patch", "delete")}
    routes = _app_operations(identity.client.server.app)
    assert routes, "the app has no route"
    assert routes - described == set(), "routes missing from the OpenAPI document"
    assert described - routes == set(), "the document describes routes the app does not serve"


async def test_request_bodies_come_from_the_parsing_models_and_errors_carry_their_fields(identity):
    document = await (await identity.get(OPENAPI_PATH)).json()
    schemas = document["components"]["schemas"]
    body = document["paths"]["/v1/activation/start"]["post"]["requestBody"]["content"]["application/json"]
    assert body["schema"] == {"$ref": "#/components/schemas/Start"}
    assert schemas["Start"]["properties"]["intent"]["enum"] == ["activate", "merge"]
    assert schemas["Start"]["properties"]["password"]["maxLength"] == 1024
    assert set(schemas["Error"]["required"]) == {"error", "detail"}
    assert {"retry_after", "criteria", "problems", "step", "errors"} <= set(schemas["Error"]["properties"])
    scheme = document["components"]["securitySchemes"]["internalToken"]
    assert (scheme["type"], scheme["in"], scheme["name"]) == ("apiKey", "header", "Authorization")
    assert "Internal <jwt>" in scheme["description"]
    login = document["paths"]["/v1/login"]["post"]["responses"]
    assert {"200", "401", "422", "429"} <= set(login)


async def test_the_document_requires_the_internal_token(identity):
    response = await identity.client.get(OPENAPI_PATH)
    assert response.status == 401
