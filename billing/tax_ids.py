"""Tax id formats: normalising and checking EU VAT numbers (and the other supported types) before they are stored."""

import re
from dataclasses import dataclass

from billing.exceptions import InvalidRequest
from billing.models import TaxId


@dataclass(frozen=True)
class VatFormat:
    """How one country writes its VAT number: the prefix, then what must follow it."""

    prefix: str  # as written in front of the number: "DE", "EL" for Greece, "XI" for Northern Ireland
    country: str  # ISO 3166-1 alpha-2
    pattern: str  # what follows the prefix, as a regular expression
    description: str  # what follows the prefix, in words (English, for developers)
    examples: tuple[str, ...]

    def matches(self, value: str) -> bool:
        return re.fullmatch(self.prefix + f"(?:{self.pattern})", value) is not None


# The EU-27 (Greece writes EL) and Northern Ireland, after the VIES rules.
EU_VAT_FORMATS: dict[str, VatFormat] = {
    fmt.prefix: fmt
    for fmt in (
        VatFormat("AT", "AT", r"U\d{8}", "U and 8 digits", ("ATU12345678",)),
        VatFormat("BE", "BE", r"[01]\d{9}", "10 digits starting with 0 or 1", ("BE0123456789",)),
        VatFormat("BG", "BG", r"\d{9,10}", "9 or 10 digits", ("BG123456789", "BG1234567890")),
        VatFormat("CY", "CY", r"\d{8}[A-Z]", "8 digits and a letter", ("CY12345678X",)),
        VatFormat("CZ", "CZ", r"\d{8,10}", "8 to 10 digits", ("CZ12345678", "CZ1234567890")),
        VatFormat("DE", "DE", r"\d{9}", "9 digits", ("DE123456789",)),
        VatFormat("DK", "DK", r"\d{8}", "8 digits", ("DK12345678",)),
        VatFormat("EE", "EE", r"\d{9}", "9 digits", ("EE123456789",)),
        VatFormat("EL", "GR", r"\d{9}", "9 digits", ("EL123456789",)),
        VatFormat(
            "ES", "ES", r"[A-Z0-9]\d{7}[A-Z0-9]", "a letter or digit, 7 digits, a letter or digit", ("ESA1234567Z",)
        ),
        VatFormat("FI", "FI", r"\d{8}", "8 digits", ("FI12345678",)),
        VatFormat("FR", "FR", r"[0-9A-HJ-NP-Z]{2}\d{9}", "2 letters or digits and 9 digits", ("FRAB123456789",)),
        VatFormat("HR", "HR", r"\d{11}", "11 digits", ("HR12345678901",)),
        VatFormat("HU", "HU", r"\d{8}", "8 digits", ("HU12345678",)),
        VatFormat(
            "IE",
            "IE",
            r"\d{7}[A-W][A-IW]?|\d[A-Z+*]\d{5}[A-W]",
            "7 digits and 1 or 2 letters",
            ("IE1234567T", "IE1234567WA"),
        ),
        VatFormat("IT", "IT", r"\d{11}", "11 digits", ("IT12345678901",)),
        VatFormat("LT", "LT", r"\d{9}|\d{12}", "9 or 12 digits", ("LT123456789", "LT123456789012")),
        VatFormat("LU", "LU", r"\d{8}", "8 digits", ("LU12345678",)),
        VatFormat("LV", "LV", r"\d{11}", "11 digits", ("LV12345678901",)),
        VatFormat("MT", "MT", r"\d{8}", "8 digits", ("MT12345678",)),
        VatFormat("NL", "NL", r"\d{9}B\d{2}", "9 digits, B and 2 digits", ("NL123456789B01",)),
        VatFormat("PL", "PL", r"\d{10}", "10 digits", ("PL1234567890",)),
        VatFormat("PT", "PT", r"\d{9}", "9 digits", ("PT123456789",)),
        VatFormat("RO", "RO", r"[1-9]\d{1,9}", "2 to 10 digits", ("RO1234567890",)),
        VatFormat("SE", "SE", r"\d{10}01", "12 digits ending in 01", ("SE123456789001",)),
        VatFormat("SI", "SI", r"\d{8}", "8 digits", ("SI12345678",)),
        VatFormat("SK", "SK", r"\d{10}", "10 digits", ("SK1234567890",)),
        VatFormat("XI", "GB", r"\d{9}|\d{12}|GD\d{3}|HA\d{3}", "9 or 12 digits", ("XI123456789", "XI123456789012")),
    )
}
# Greece's ISO code is GR, but its VAT numbers start with EL; people type either.
PREFIX_ALIASES = {"GR": "EL"}

GB_VAT = re.compile(r"GB(?:\d{9}|\d{12}|GD\d{3}|HA\d{3})")
CH_VAT = re.compile(r"CHE(\d{9})(MWST|TVA|IVA|TPV)?")
US_EIN = re.compile(r"(\d{2})(\d{7})")


class TaxIdInvalid(InvalidRequest):
    """The value does not have its type's format. ``expected`` is the format the prefix asked for, if known."""

    code = "tax_id_invalid"

    def __init__(self, message: str, *, expected: VatFormat | None = None):
        super().__init__(message, param="value")
        self.expected = expected


@dataclass(frozen=True)
class ValidTaxId:
    type: str
    value: str  # normalised
    country: str


def compact(value: str) -> str:
    """Without spaces, dots and dashes, upper case: ``de 123.456.789`` -> ``DE123456789``."""
    return re.sub(r"[\s.\-]", "", str(value or "")).upper()


def validate_eu_vat(value: str) -> ValidTaxId:
    number = compact(value)
    if number[:2] in PREFIX_ALIASES:
        number = PREFIX_ALIASES[number[:2]] + number[2:]
    fmt = EU_VAT_FORMATS.get(number[:2])
    if fmt is None:
        raise TaxIdInvalid(
            "Invalid value for eu_vat: an EU VAT number starts with its country code, for example DE123456789."
        )
    if not fmt.matches(number):
        raise TaxIdInvalid(
            f"Invalid value for eu_vat: a VAT number from {fmt.prefix} is {fmt.prefix} followed by "
            f"{fmt.description}, for example {fmt.examples[0]}.",
            expected=fmt,
        )
    return ValidTaxId(TaxId.Type.EU_VAT, number, fmt.country)


def validate(*, type: str, value: str) -> ValidTaxId:
    """The normalised tax id, or ``TaxIdInvalid`` naming the expected format."""
    if type == TaxId.Type.EU_VAT:
        return validate_eu_vat(value)
    number = compact(value)
    if type == TaxId.Type.GB_VAT:
        if not GB_VAT.fullmatch(number):
            raise TaxIdInvalid("Invalid value for gb_vat: expected GB followed by 9 digits, for example GB123456789.")
        return ValidTaxId(type, number, "GB")
    if type == TaxId.Type.CH_VAT:
        match = CH_VAT.fullmatch(number)
        if not match:
            raise TaxIdInvalid("Invalid value for ch_vat: expected CHE and 9 digits, for example CHE-123.456.789 MWST.")
        digits, suffix = match.groups()
        formatted = f"CHE-{digits[:3]}.{digits[3:6]}.{digits[6:]}"
        return ValidTaxId(type, f"{formatted} {suffix}" if suffix else formatted, "CH")
    if type == TaxId.Type.US_EIN:
        match = US_EIN.fullmatch(number)
        if not match:
            raise TaxIdInvalid("Invalid value for us_ein: expected 9 digits, for example 12-3456789.")
        return ValidTaxId(type, "-".join(match.groups()), "US")
    raise InvalidRequest(
        f"Invalid type: must be one of {', '.join(TaxId.Type.values)}.", param="type", code="parameter_invalid_string"
    )
