"""Reading Stripe-shaped parameters (``features[subscription_update][products][0]``) and the errors that name them."""

from django.core.exceptions import ValidationError
from django.core.validators import URLValidator
from django.utils.translation import gettext_lazy as _

from billing.exceptions import InvalidRequest, lazy_text

MAX_URL = 5000


def missing(param: str) -> InvalidRequest:
    return InvalidRequest(
        lazy_text(_("Missing required param: %(param)s."), {"param": param}), param=param, code="parameter_missing"
    )


def invalid(param: str, message: str, code: str = "parameter_invalid") -> InvalidRequest:
    return InvalidRequest(message, param=param, code=code)


def too_long(param: str, limit: int) -> InvalidRequest:
    return invalid(
        param,
        lazy_text(_("Invalid %(param)s: must be at most %(limit)s characters."), {"param": param, "limit": limit}),
        "parameter_invalid_string",
    )


def blank(value) -> bool:
    return value is None or value == ""


class Reader:
    """Reads one Stripe-shaped parameter tree; every error names the parameter's full path."""

    def __init__(self, data: dict, path: str = ""):
        if not isinstance(data, dict):
            raise invalid(
                path, lazy_text(_("Invalid %(param)s: must be an object."), {"param": path}), "parameter_invalid_object"
            )
        self.data = data
        self.path = path

    def param(self, key) -> str:
        return f"{self.path}[{key}]" if self.path else str(key)

    def __contains__(self, key) -> bool:
        return key in self.data

    def child(self, key) -> "Reader | None":
        if key not in self.data:
            return None
        return Reader(self.data[key], self.param(key))

    def text(self, key, *, max_length: int) -> str | None:
        """``None`` when absent; ``""`` clears."""
        if key not in self.data:
            return None
        value = self.data[key]
        if blank(value):
            return ""
        if not isinstance(value, str):
            raise invalid(
                self.param(key), lazy_text(_("Invalid %(param)s: must be a string."), {"param": self.param(key)})
            )
        value = value.strip()
        if len(value) > max_length:
            raise too_long(self.param(key), max_length)
        return value

    def url(self, key) -> str | None:
        value = self.text(key, max_length=MAX_URL)
        if value:
            try:
                URLValidator(schemes=["http", "https"])(value)
            except ValidationError:
                raise invalid(
                    self.param(key),
                    lazy_text(
                        _("Invalid %(param)s: %(value)s is not a valid URL starting with http:// or https://."),
                        {"param": self.param(key), "value": value[:100]},
                    ),
                    "url_invalid",
                )
        return value

    def boolean(self, key, *, required: bool = False) -> bool | None:
        if key not in self.data:
            if required:
                raise missing(self.param(key))
            return None
        value = self.data[key]
        if isinstance(value, str) and value.lower() in ("true", "false"):
            value = value.lower() == "true"
        if not isinstance(value, bool):
            raise invalid(
                self.param(key),
                lazy_text(_("Invalid boolean: %(param)s must be true or false."), {"param": self.param(key)}),
            )
        return value

    def choice(self, key, choices, *, allow_blank: bool = False) -> str | None:
        if key not in self.data:
            return None
        value = self.data[key]
        if allow_blank and blank(value):
            return ""
        if value not in choices:
            raise invalid(
                self.param(key),
                lazy_text(
                    _("Invalid %(param)s: must be one of %(choices)s."),
                    {"param": self.param(key), "choices": ", ".join(choices)},
                ),
            )
        return value

    def choices(self, key, choices) -> list[str] | None:
        """A list of enum values (duplicates dropped, order kept); ``""`` empties it."""
        if key not in self.data:
            return None
        values = self.data[key]
        if blank(values):
            return []
        if not isinstance(values, list | tuple):
            raise invalid(
                self.param(key), lazy_text(_("Invalid array: %(param)s must be an array."), {"param": self.param(key)})
            )
        out: list[str] = []
        for i, value in enumerate(values):
            if value not in choices:
                item = f"{self.param(key)}[{i}]"
                raise invalid(
                    item,
                    lazy_text(
                        _("Invalid %(param)s: must be one of %(choices)s."),
                        {"param": item, "choices": ", ".join(choices)},
                    ),
                )
            if value not in out:
                out.append(value)
        return out

    def integer(self, key, *, min_value: int, max_value: int, allow_blank: bool = False) -> int | None | str:
        if key not in self.data:
            return None
        value = self.data[key]
        if allow_blank and blank(value):
            return ""
        try:
            number = int(value) if not isinstance(value, bool) else None
        except (TypeError, ValueError):
            number = None
        if number is None or not min_value <= number <= max_value:
            raise invalid(
                self.param(key),
                lazy_text(
                    _("Invalid %(param)s: must be an integer between %(min)s and %(max)s."),
                    {"param": self.param(key), "min": min_value, "max": max_value},
                ),
                "parameter_invalid_integer",
            )
        return number
