"""Declarative parameter specs: they validate requests and generate the OpenAPI document (one source)."""

import datetime as dt
from decimal import Decimal as D
from decimal import InvalidOperation

from api import errors
from billing.metadata import metadata_error

MAX_TIMESTAMP = 253402300799  # 9999-12-31T23:59:59Z
UNSET = type("Unset", (), {"__repr__": lambda self: "UNSET", "__bool__": lambda self: False})()


def child(path: str, key) -> str:
    return f"{path}[{key}]" if path else str(key)


class Field:
    openapi_type = "string"

    def __init__(self, *, required: bool = False, unsettable: bool = False, description: str = ""):
        self.required = required
        self.unsettable = unsettable
        self.description = description

    def parse(self, value, path: str):
        if value == "" and self.unsettable:
            return UNSET
        return self.convert(value, path)

    def convert(self, value, path: str):
        raise NotImplementedError

    def schema(self) -> dict:
        schema = self.base_schema()
        if self.description:
            schema["description"] = self.description
        if self.unsettable:
            return {
                "anyOf": [schema, {"type": "string", "enum": [""]}],
                **({"description": self.description} if self.description else {}),
            }
        return schema

    def base_schema(self) -> dict:
        return {"type": self.openapi_type}

    def _scalar(self, value, path: str, kind: str) -> str:
        if not isinstance(value, str):
            raise errors.invalid(
                path, f"Invalid {kind}: {path} must be a {kind}, not an object or array.", f"parameter_invalid_{kind}"
            )
        return value


class String(Field):
    def __init__(self, *, max_length: int = 5000, choices=None, min_length: int = 0, **kwargs):
        super().__init__(**kwargs)
        self.max_length = max_length
        self.min_length = min_length
        self.choices = tuple(choices) if choices else None

    def convert(self, value, path):
        value = self._scalar(value, path, "string")
        if self.choices and value not in self.choices:
            raise errors.invalid(
                path, f"Invalid {path}: must be one of {', '.join(self.choices)}", "parameter_invalid_string"
            )
        if len(value) > self.max_length:
            raise errors.invalid(
                path, f"Invalid {path}: must be at most {self.max_length} characters", "parameter_invalid_string"
            )
        if len(value) < self.min_length:
            raise errors.invalid(
                path, f"Invalid {path}: must be at least {self.min_length} characters", "parameter_invalid_empty"
            )
        return value

    def base_schema(self):
        schema = {"type": "string", "maxLength": self.max_length}
        if self.choices:
            schema["enum"] = list(self.choices)
        return schema


class Integer(Field):
    openapi_type = "integer"

    def __init__(self, *, min_value: int | None = None, max_value: int | None = None, **kwargs):
        super().__init__(**kwargs)
        self.min_value = min_value
        self.max_value = max_value

    def convert(self, value, path):
        value = self._scalar(value, path, "integer")
        try:
            number = int(value, 10)
        except ValueError:
            raise errors.invalid(path, f"Invalid integer: {value[:40]}", "parameter_invalid_integer")
        if abs(number) > 2**63 - 1:
            raise errors.invalid(path, f"Invalid integer: {path} is too large", "parameter_invalid_integer")
        if self.min_value is not None and number < self.min_value:
            raise errors.invalid(
                path, f"Invalid {path}: must be at least {self.min_value}", "parameter_invalid_integer"
            )
        if self.max_value is not None and number > self.max_value:
            raise errors.invalid(path, f"Invalid {path}: must be at most {self.max_value}", "parameter_invalid_integer")
        return number

    def base_schema(self):
        schema = {"type": "integer"}
        if self.min_value is not None:
            schema["minimum"] = self.min_value
        if self.max_value is not None:
            schema["maximum"] = self.max_value
        return schema


class Decimal(Field):
    openapi_type = "number"

    def __init__(self, *, min_value=None, max_value=None, **kwargs):
        super().__init__(**kwargs)
        self.min_value = min_value
        self.max_value = max_value

    def convert(self, value, path):
        value = self._scalar(value, path, "number")
        try:
            number = D(value)
            if not number.is_finite():
                raise InvalidOperation
        except InvalidOperation:
            raise errors.invalid(path, f"Invalid decimal: {value[:40]}", "parameter_invalid_number")
        if (self.min_value is not None and number < self.min_value) or (
            self.max_value is not None and number > self.max_value
        ):
            raise errors.invalid(
                path,
                f"Invalid {path}: must be between {self.min_value} and {self.max_value}",
                "parameter_invalid_number",
            )
        return number


class Boolean(Field):
    openapi_type = "boolean"

    def convert(self, value, path):
        value = self._scalar(value, path, "boolean")
        lowered = value.lower()
        if lowered not in ("true", "false"):
            raise errors.invalid(path, f"Invalid boolean: {value[:40]}", "parameter_invalid_boolean")
        return lowered == "true"


class Timestamp(Integer):
    """A unix timestamp -> aware datetime; ``keywords`` are extra accepted strings (e.g. ``now``)."""

    def __init__(self, *, keywords=(), **kwargs):
        super().__init__(min_value=0, max_value=MAX_TIMESTAMP, **kwargs)
        self.keywords = tuple(keywords)

    def convert(self, value, path):
        if isinstance(value, str) and value in self.keywords:
            return value
        return dt.datetime.fromtimestamp(super().convert(value, path), tz=dt.UTC)

    def base_schema(self):
        schema = {"type": "integer", "format": "unix-time"}
        if self.keywords:
            return {"anyOf": [schema, {"type": "string", "enum": list(self.keywords)}]}
        return schema


class Map(Field):
    """Free-form string map (metadata): ``""`` clears it, a key with ``""`` removes that key."""

    def __init__(self, **kwargs):
        kwargs.setdefault("unsettable", True)
        super().__init__(**kwargs)

    def convert(self, value, path):
        if not isinstance(value, dict):
            raise errors.invalid(path, f"Invalid {path}: must be a set of key-value pairs", "parameter_invalid_string")
        if len(value) > 50:
            raise errors.invalid(path, f"Invalid {path}: at most 50 keys are allowed", "parameter_invalid_string")
        out = {}
        for key, item in value.items():
            if not isinstance(item, str):
                raise errors.invalid(
                    child(path, key), f"Invalid {child(path, key)}: values must be strings", "parameter_invalid_string"
                )
            if len(key) > 40:
                raise errors.invalid(
                    child(path, key), f"Invalid {path} key: keys are at most 40 characters", "parameter_invalid_string"
                )
            if len(item) > 500:
                raise errors.invalid(
                    child(path, key),
                    f"Invalid {child(path, key)}: values are at most 500 characters",
                    "parameter_invalid_string",
                )
            out[key] = item
        return out

    def base_schema(self):
        return {"type": "object", "additionalProperties": {"type": "string", "maxLength": 500}}


class Metadata(Map):
    """A metadata map (``""`` clears it, a key with ``""`` removes that key), refused in the services' words
    (``billing.metadata``): the API and the admin word one problem the same way."""

    def convert(self, value, path):
        error = metadata_error(value, param=path)
        if error is not None:
            raise errors.invalid(error.param, error.message, "parameter_invalid_string")
        return dict(value)


class Array(Field):
    def __init__(self, item: Field, *, max_items: int = 100, **kwargs):
        super().__init__(**kwargs)
        self.item = item
        self.max_items = max_items

    def convert(self, value, path):
        if isinstance(value, dict) and not value:
            value = []
        if not isinstance(value, list):
            raise errors.invalid(path, f"Invalid array: {path} must be an array", "parameter_invalid_array")
        if len(value) > self.max_items:
            raise errors.invalid(
                path, f"Invalid {path}: at most {self.max_items} items are allowed", "parameter_invalid_array"
            )
        return [self.item.parse(item, child(path, i)) for i, item in enumerate(value)]

    def base_schema(self):
        return {"type": "array", "items": self.item.schema(), "maxItems": self.max_items}


class Object(Field):
    def __init__(self, fields: dict[str, Field] | None = None, **kwargs):
        super().__init__(**kwargs)
        self.fields = fields or {}

    def convert(self, value, path):
        if not isinstance(value, dict):
            raise errors.invalid(
                path, f"Invalid object: {path} must be an object (use {path}[key]=value)", "parameter_invalid_object"
            )
        for key in value:
            if key not in self.fields:
                raise errors.unknown(child(path, key))
        out = {}
        for name, field in self.fields.items():
            if name in value:
                out[name] = field.parse(value[name], child(path, name))
            elif field.required:
                raise errors.missing(child(path, name))
        return out

    def base_schema(self):
        schema = {
            "type": "object",
            "properties": {k: f.schema() for k, f in self.fields.items()},
            "additionalProperties": False,
        }
        required = [k for k, f in self.fields.items() if f.required]
        if required:
            schema["required"] = required
        return schema


class Either(Field):
    """The first alternative that accepts the value wins (e.g. a timestamp or a range object)."""

    def __init__(self, *alternatives: Field, **kwargs):
        super().__init__(**kwargs)
        self.alternatives = alternatives

    def convert(self, value, path):
        failures = []
        for alternative in self.alternatives:
            try:
                return alternative.parse(value, path)
            except errors.ApiError as error:
                failures.append((alternative, error))
        # Report the error of the alternative shaped like the value (an object for a dict).
        for alternative, error in failures:
            if isinstance(alternative, Object) == isinstance(value, dict):
                raise error
        raise failures[-1][1]

    def base_schema(self):
        return {"anyOf": [a.schema() for a in self.alternatives]}


def Id(**kwargs) -> String:
    return String(max_length=5000, **kwargs)


def Range() -> Either:
    """``created=123`` or ``created[gte]=…&created[lt]=…``."""
    bound = Integer(min_value=0, max_value=MAX_TIMESTAMP)
    return Either(
        Integer(min_value=0, max_value=MAX_TIMESTAMP), Object({"gt": bound, "gte": bound, "lt": bound, "lte": bound})
    )


EXPAND = Array(String(max_length=5000), max_items=50, description="Related objects to expand (dot paths, depth ≤ 4).")
LIST = {
    "limit": Integer(min_value=1, max_value=100, description="1 to 100, default 10."),
    "starting_after": Id(),
    "ending_before": Id(),
    "expand": EXPAND,
}
# The parameters of every ``/search`` operation (Stripe's query language, page tokens).
SEARCH = {
    "query": String(max_length=5000, required=True),
    "limit": Integer(min_value=1, max_value=100),
    "page": String(max_length=200),
    "expand": EXPAND,
}
