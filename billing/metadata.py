"""Stripe's metadata rules (docs.stripe.com/metadata: at most 50 keys, keys at most 40 characters without square
brackets, values at most 500 characters) and the one wording of their refusals, for the API's params
(``api.params.Metadata``) and the services (``billing.services.common.validate_metadata``) alike: in English for the
API, in the reader's language in the admin (``BillingError.localized``)."""

from django.utils.translation import gettext_lazy as _

from billing.exceptions import InvalidRequest

METADATA_MAX_KEYS = 50
METADATA_KEY_MAX = 40
METADATA_VALUE_MAX = 500


def metadata_error(metadata, *, param: str = "metadata") -> InvalidRequest | None:
    """Why ``metadata`` (a dict of key-value pairs) is refused, None when it is not; ``param`` names it (its keys as
    ``param[key]``)."""
    if not isinstance(metadata, dict):
        return InvalidRequest(_("Invalid metadata: must be a set of key-value pairs."), param=param)
    if len(metadata) > METADATA_MAX_KEYS:
        return InvalidRequest(
            _("Invalid metadata: at most %(max)s keys are allowed."), params={"max": METADATA_MAX_KEYS}, param=param
        )
    for key, value in metadata.items():
        if len(str(key)) > METADATA_KEY_MAX or "[" in str(key) or "]" in str(key):
            return InvalidRequest(
                _("Invalid metadata key '%(key)s': keys are at most %(max)s characters without square brackets."),
                params={"key": key, "max": METADATA_KEY_MAX},
                param=f"{param}[{key}]",
            )
        if isinstance(value, dict | list | tuple):
            # str() would store "['a']": refuse instead, as Stripe does for nested metadata.
            return InvalidRequest(
                _(
                    "Invalid metadata value for '%(key)s': values must be text, not a list or an object. For several "
                    "values, use one key for each."
                ),
                params={"key": key},
                param=f"{param}[{key}]",
            )
        if len(str(value)) > METADATA_VALUE_MAX:
            return InvalidRequest(
                _("Invalid metadata value for '%(key)s': at most %(max)s characters."),
                params={"key": key, "max": METADATA_VALUE_MAX},
                param=f"{param}[{key}]",
            )
    return None
