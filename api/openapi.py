"""The OpenAPI 3 document of the API, generated from the registered operations (one source)."""

import copy
import re

from django.http import JsonResponse
from django.views.decorators.csrf import csrf_exempt

import api.resources  # noqa: F401  (registers the operations)
from api import includable, object_schemas
from api.router import OPERATIONS, Operation, not_found_view
from billing.events import API_VERSION

ERROR = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["type", "message"],
            "properties": {
                "type": {
                    "type": "string",
                    "enum": ["api_error", "card_error", "idempotency_error", "invalid_request_error"],
                },
                "code": {"type": "string"},
                "message": {"type": "string"},
                "param": {"type": "string"},
                "decline_code": {"type": "string"},
                "charge": {"type": "string"},
                "doc_url": {"type": "string"},
            },
        }
    },
}


def _object_schema(name: str) -> dict:
    """The object's schema as described from what the API serves (``api.object_schemas``), with the fields it
    returns only when expanded listed as Stripe's spec lists them (``x-expandableFields``)."""
    if name.startswith("deleted_"):
        properties = {
            "id": {"type": "string"},
            "object": {"type": "string", "enum": [name.removeprefix("deleted_")]},
            "deleted": {"type": "boolean", "enum": [True]},
        }
        return {"type": "object", "required": list(properties), "properties": properties}
    schema = copy.deepcopy(object_schemas.stored().get(name) or {"type": "object", "required": ["object"]})
    schema.setdefault("properties", {})["object"] = {"type": "string", "enum": [name]}
    includable_fields = sorted(field for kind, field in includable.FIELDS if kind == name)
    if includable_fields:
        schema["x-expandableFields"] = includable_fields
    return schema


def _response_schema(response: str) -> tuple[dict, set[str]]:
    match = re.fullmatch(r"(list|search_result)\[(.+)\]", response)
    if match:
        kind, item = match.groups()
        properties = {
            "object": {"type": "string", "enum": [kind]},
            "data": {"type": "array", "items": {"$ref": f"#/components/schemas/{item}"}},
            "has_more": {"type": "boolean"},
            "url": {"type": "string"},
        }
        if kind == "search_result":
            properties["next_page"] = {"type": ["string", "null"]}
        return {"type": "object", "required": list(properties), "properties": properties}, {item}
    return {"$ref": f"#/components/schemas/{response}"}, {response}


def _operation(op: Operation) -> tuple[dict, set[str]]:
    path_params = re.findall(r"{(\w+)}", op.path)
    parameters = [
        {"name": name, "in": "path", "required": True, "schema": {"type": "string", "maxLength": 5000}}
        for name in path_params
    ]
    body_schema = op.params.schema()
    if op.method in ("GET", "DELETE"):
        for name, field in op.params.fields.items():
            parameters.append(
                {
                    "name": name,
                    "in": "query",
                    "required": field.required,
                    "schema": field.schema(),
                    "style": "deepObject",
                    "explode": True,
                }
            )
    response_schema, objects = _response_schema(op.response)
    spec = {
        "operationId": f"{op.method.lower()}{re.sub(r'[^A-Za-z0-9]+', '_', op.path)}",
        "summary": op.summary,
        "tags": op.tags,
        "parameters": parameters,
        "responses": {
            "200": {
                "description": "Successful response.",
                "content": {"application/json": {"schema": response_schema}},
            },
            "default": {
                "description": "Error response.",
                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/error"}}},
            },
        },
    }
    if op.method == "POST":
        spec["requestBody"] = {
            "required": False,
            "content": {
                "application/x-www-form-urlencoded": {
                    "schema": body_schema,
                    "encoding": {name: {"style": "deepObject", "explode": True} for name in op.params.fields},
                }
            },
        }
    return spec, objects


def document() -> dict:
    paths: dict[str, dict] = {}
    objects: set[str] = set()
    for op in sorted(OPERATIONS, key=lambda o: (o.path, o.method)):
        spec, used = _operation(op)
        paths.setdefault(op.path, {})[op.method.lower()] = spec
        objects |= used
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Billing portal API (Stripe-compatible)",
            "version": API_VERSION,
            "description": "Wire-compatible with Stripe's v1 API for the resources listed here. Requests are "
            "form-encoded with bracket notation; errors use Stripe's error object. Extensions beyond Stripe's "
            "fields are marked in their descriptions.",
        },
        "servers": [{"url": "/"}],
        "security": [{"bearerAuth": []}, {"basicAuth": []}],
        "paths": paths,
        "components": {
            "securitySchemes": {
                "bearerAuth": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "Your secret key, sk_test_… or sk_live_…",
                },
                "basicAuth": {"type": "http", "scheme": "basic", "description": "The secret key as the user name."},
            },
            "schemas": {"error": ERROR, **{name: _object_schema(name) for name in sorted(objects)}},
        },
    }


@csrf_exempt
def openapi_view(request):
    """GET only; any other method answers Stripe's JSON 404, as every unknown /v1/ URL does."""
    if request.method not in ("GET", "HEAD"):
        return not_found_view(request)
    return JsonResponse(document(), json_dumps_params={"indent": 1})
