"""The JSON Schemas of the objects the API answers (``object_schemas.json``), for ``/v1/openapi.json``.

The file is written from objects the API really served (``describe``), merged over many of them so that a field
that is sometimes null says so; ``tests/api/test_openapi_schemas.py`` checks every object the API serves against
it, both ways (every returned field is described, every described field is returned), and rewrites it with
``WRITE_OBJECT_SCHEMAS=1``.
"""

import json
import re
from functools import cache
from pathlib import Path

PATH = Path(__file__).with_name("object_schemas.json")

# Objects whose keys are the caller's or data's own (metadata keys, currency codes): described as maps.
MAPS = {"metadata", "currency_options", "invoice_credit_balance", "graph"}  # graph: transitions (ours)
# Objects of any shape: an event's object is the one the event is about, ``previous_attributes`` a part of it.
FREE_FORM = {
    "object": "The object the event is about, as its own schema describes it.",
    "previous_attributes": "The changed fields' values before the change.",
}
JSON_TYPES = {bool: "boolean", int: "integer", float: "number", str: "string", dict: "object", list: "array"}


@cache
def stored() -> dict[str, dict]:
    return json.loads(PATH.read_text()) if PATH.exists() else {}


def _type(value) -> str:
    if value is None:
        return "null"
    return JSON_TYPES[type(value)]


def _types(schema: dict) -> list[str]:
    found = schema.get("type", [])
    return [found] if isinstance(found, str) else list(found)


def _with_type(schema: dict, name: str) -> dict:
    types = sorted(set(_types(schema)) | {name})
    schema["type"] = types[0] if len(types) == 1 else types
    return schema


def describe(value, schema: dict | None = None, *, key: str = "") -> dict:
    """``schema`` widened so that ``value`` fits it (a new schema when ``schema`` is None)."""
    schema = dict(schema or {})
    kind = _type(value)
    if kind == "integer" and "number" in _types(schema):
        kind = "number"
    if kind == "number" and "integer" in _types(schema):
        schema["type"] = [t for t in _types(schema) if t != "integer"] or "number"
    schema = _with_type(schema, kind)
    if kind == "object" and key in FREE_FORM:
        schema["description"] = FREE_FORM[key]
    elif kind == "object":
        if key in MAPS:
            values = schema.get("additionalProperties", {})
            for item in value.values():
                values = describe(item, values)
            schema["additionalProperties"] = values
        else:
            first = "properties" not in schema
            properties = dict(schema.get("properties", {}))
            for name, item in value.items():
                properties[name] = describe(item, properties.get(name), key=name)
            # A key that some objects of this kind lack is not required.
            required = set(value) if first else set(schema.get("required", [])) & set(value)
            schema["properties"] = dict(sorted(properties.items()))
            schema["required"] = sorted(required)
    elif kind == "array":
        items = schema.get("items")
        for item in value:
            items = describe(item, items)
        if items is not None:
            schema["items"] = items
    return schema


def mismatches(value, schema: dict, path: str = "") -> list[str]:
    """Where ``value`` and ``schema`` disagree: a field returned but not described, described as required but not
    returned, or of a type the schema does not allow."""
    kind = _type(value)
    allowed = _types(schema)
    if not allowed:
        return []  # left open
    if kind not in allowed and not (kind == "integer" and "number" in allowed):
        return [f"{path or '.'}: {kind} is not one of {allowed}"]
    found = []
    if kind == "object" and "properties" in schema:
        properties = schema["properties"]
        for name in value.keys() - properties.keys():
            found.append(f"{path}.{name}: returned but not described")
        for name in set(schema.get("required", [])) - value.keys():
            found.append(f"{path}.{name}: described but not returned")
        for name in value.keys() & properties.keys():
            found += mismatches(value[name], properties[name], f"{path}.{name}")
    elif kind == "object" and "additionalProperties" in schema:
        for name, item in value.items():
            found += mismatches(item, schema["additionalProperties"], f"{path}[{name}]")
    elif kind == "array" and "items" in schema:
        for index, item in enumerate(value):
            found += mismatches(item, schema["items"], f"{path}[{index}]")
    return found


INTEGER_WHEN_SET = re.compile(
    r".*(_at|_end|_start|_date|_until_due|_days|_amount|amount_off|_months|_redemptions|redeem_by|_interval_count)$"
)
STRING_WHEN_SET = re.compile(
    r"(description|name|nickname|lookup_key|email|phone|country|state|line[12]|city|postal_code|url|reason|"
    r"footer|locale|currency|comment|feedback|headline|statement_descriptor.*|.*_currency|receipt_email|"
    r"custom_message|cancel|login|overview|update|failure_code|failure_message|tax_code|unit_label|.*_id|"
    r"jurisdiction|tax_type|api_version|idempotency_key|invoice|customer|payment_method|mandate|source|"
    r"default_price|default_source|test_clock|schedule|on_behalf_of|application|balance_transaction)"
)


def _widen_never_set(schema: dict, key: str = "") -> dict:
    """A field only ever seen null is null until set: described by the type its name says it has when set (an
    id, text or a timestamp), else left open."""
    if schema.get("type") == "null":
        if INTEGER_WHEN_SET.fullmatch(key):
            return {"type": ["integer", "null"]}
        if STRING_WHEN_SET.fullmatch(key):
            return {"type": ["string", "null"]}
        return {"description": "Null when not set; its shape when set is not described here."}
    if "properties" in schema:
        schema["properties"] = {name: _widen_never_set(item, name) for name, item in schema["properties"].items()}
    if isinstance(schema.get("items"), dict):
        schema["items"] = _widen_never_set(schema["items"], key)
    return schema


def write(schemas: dict[str, dict]) -> None:
    schemas = {name: _widen_never_set(schema) for name, schema in schemas.items()}
    PATH.write_text(json.dumps(dict(sorted(schemas.items())), indent=1, sort_keys=False) + "\n")
    stored.cache_clear()


def _nullable(kind: str) -> dict:
    return {"type": [kind, "null"]}


# Objects listed by an operation whose list is always empty here: described after Stripe's spec, not from data.
NEVER_SERVED: dict[str, dict] = {
    # A customer's legacy sources (cards, bank accounts, sources): Stripe's anyOf of those objects.
    "payment_source": {
        "type": "object",
        "required": ["id", "object"],
        "properties": {"id": {"type": "string"}, "object": {"type": "string"}},
    },
    "product_feature": {
        "type": "object",
        "required": ["entitlement_feature", "id", "livemode", "object"],
        "properties": {
            "entitlement_feature": {"type": "object"},
            "id": {"type": "string"},
            "livemode": {"type": "boolean"},
            "object": {"type": "string"},
        },
    },
    "balance_transaction": {
        "type": "object",
        "required": [
            "amount", "available_on", "created", "currency", "description", "exchange_rate", "fee", "fee_details",
            "id", "net", "object", "reporting_category", "source", "status", "type",
        ],
        "properties": {
            "amount": {"type": "integer"},
            "available_on": {"type": "integer"},
            "created": {"type": "integer"},
            "currency": {"type": "string"},
            "description": _nullable("string"),
            "exchange_rate": _nullable("number"),
            "fee": {"type": "integer"},
            "fee_details": {"type": "array", "items": {"type": "object"}},
            "id": {"type": "string"},
            "net": {"type": "integer"},
            "object": {"type": "string"},
            "reporting_category": {"type": "string"},
            "source": _nullable("string"),
            "status": {"type": "string"},
            "type": {"type": "string"},
        },
    },
}  # fmt: skip
