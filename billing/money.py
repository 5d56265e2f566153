"""Integer minor-unit money: the currency table, half-up rounding and Babel display."""

import functools
from decimal import ROUND_HALF_UP, Decimal

from babel.numbers import format_currency
from django.utils.functional import Promise, lazy
from django.utils.translation import gettext

# Stripe's zero-decimal and three-decimal currencies; every other currency has two decimals.
ZERO_DECIMAL = frozenset(
    ["bif", "clp", "djf", "gnf", "jpy", "kmf", "krw", "mga", "pyg", "rwf", "ugx", "vnd", "vuv", "xaf", "xof", "xpf"]
)
THREE_DECIMAL = frozenset(["bhd", "jod", "kwd", "omr", "tnd"])

# Currencies the catalogue accepts (ISO 4217, lowercase). Extend freely.
SUPPORTED = (
    frozenset(
        [
            "eur",
            "usd",
            "gbp",
            "chf",
            "sek",
            "nok",
            "dkk",
            "pln",
            "czk",
            "huf",
            "ron",
            "bgn",
            "cad",
            "aud",
            "nzd",
            "sgd",
            "hkd",
            "inr",
            "brl",
            "mxn",
            "zar",
            "try",
            "ils",
            "aed",
        ]
    )
    | ZERO_DECIMAL
    | THREE_DECIMAL
)


def exponent(currency: str) -> int:
    currency = currency.lower()
    if currency in ZERO_DECIMAL:
        return 0
    if currency in THREE_DECIMAL:
        return 3
    return 2


def is_supported(currency: str) -> bool:
    return currency.lower() in SUPPORTED


def round_half_up(value: Decimal) -> int:
    """Round an exact amount of minor units to an integer, halves away from zero."""
    return int(Decimal(value).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def to_major(amount: int, currency: str) -> Decimal:
    return Decimal(amount).scaleb(-exponent(currency))


def babel_locale(locale: str) -> str:
    return (locale or "en").replace("-", "_")


@functools.lru_cache(maxsize=4096)  # a pure function of its arguments: previews and lists repeat the same amounts
def format_amount(amount: int, currency: str, locale: str = "en") -> str:
    """``123450, "eur", "de"`` -> ``1.234,50 €``."""
    return format_currency(to_major(amount, currency), currency.upper(), locale=babel_locale(locale))


# Stripe's minimum charge amounts in minor units (docs.stripe.com/currencies#minimum-and-maximum-charge-amounts);
# other currencies: 1.
MINIMUM_CHARGE = {
    "usd": 50, "aed": 200, "aud": 50, "bgn": 100, "brl": 50, "cad": 50, "chf": 50, "czk": 1500, "dkk": 250,
    "eur": 50, "gbp": 30, "hkd": 400, "huf": 17500, "inr": 50, "jpy": 50, "mxn": 1000, "myr": 200, "nok": 300,
    "nzd": 50, "pln": 200, "ron": 200, "sek": 300, "sgd": 50, "thb": 1000,
}  # fmt: skip


def minimum_charge(currency: str) -> int:
    return MINIMUM_CHARGE.get(currency.lower(), 1)


def chargeable(amount: int, currency: str) -> int:
    """An amount a processor accepts: three-decimal currencies are charged in multiples of 10 minor units
    (docs.stripe.com/currencies#three-decimal: "round amounts to the nearest ten", 5.124 KWD -> 5120), half-up."""
    if currency.lower() not in THREE_DECIMAL:
        return amount
    return round_half_up(Decimal(amount) / 10) * 10


def _charge_amount_text(amount: int, currency: str, total: bool) -> str:
    params = {"currency": currency.upper(), "chargeable": chargeable(amount, currency), "amount": amount}
    if total:
        return (
            gettext(
                "Invalid total: %(currency)s amounts must be in multiples of 10 (the last digit must be 0), as "
                "three-decimal currencies are charged to the nearest ten; for example %(chargeable)s instead of "
                "%(amount)s."
            )
            % params
        )
    return (
        gettext(
            "Invalid amount: %(currency)s amounts must be in multiples of 10 (the last digit must be 0), as "
            "three-decimal currencies are charged to the nearest ten; for example %(chargeable)s instead of %(amount)s."
        )
        % params
    )


# Rendered when read: in English for the API, in the reader's language in the admin (``BillingError.localized``).
_charge_amount_text_lazy = lazy(_charge_amount_text, str)


def charge_amount_error(amount: int, currency: str, *, total: bool = False) -> Promise | None:
    """Why ``amount`` (``total``: a checkout session's total) cannot be charged or refunded in ``currency`` (None when
    it can), in the language active when read: Stripe's API takes three-decimal currencies only in multiples of 10
    minor units ("these API calls require the least-significant (last) digit to be 0",
    docs.stripe.com/currencies#three-decimal)."""
    if amount is None or currency.lower() not in THREE_DECIMAL or amount % 10 == 0:
        return None
    return _charge_amount_text_lazy(amount, currency, total)
