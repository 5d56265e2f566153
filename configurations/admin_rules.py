"""Customer-group rules in the admin: rows of metadata key and value with "Add rule", and who a rule reaches."""

from dataclasses import dataclass

from django import forms
from django.db.models.fields.json import KeyTransform
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from billing.metadata import METADATA_KEY_MAX, METADATA_MAX_KEYS, METADATA_VALUE_MAX
from billing.models import Customer
from configurations.models import PortalConfiguration
from configurations.selectors import group_configuration_for, group_configurations

# How many matching customers are resolved (as the portal would) for the count on the change page.
CUSTOMERS_RESOLVED = 500
CUSTOMERS_NAMED = 5


class MetadataRulesWidget(forms.Widget):
    """Rows of ``<name>-key-N`` / ``<name>-value-N`` text boxes, one empty row more than the rule has; "Add rule"
    (``js/metadata-rules.js``) copies the empty row. Without JavaScript, saving adds the next empty row."""

    template_name = "configurations/widgets/metadata_rules.html"

    class Media:
        js = ("configurations/metadata-rules.js",)

    def get_context(self, name, value, attrs):
        context = super().get_context(name, value, attrs)
        if isinstance(value, dict):
            pairs = list(value.items())
        elif isinstance(value, list):
            pairs = list(value)
        else:
            pairs = []
        rows = [(index, key, _text(val)) for index, (key, val) in enumerate(pairs)]
        rows.append((len(rows), "", ""))
        context["widget"]["rows"] = rows
        return context

    def value_from_datadict(self, data, files, name):
        """The rows as sent, in order: ``[(key, value), …]`` with blank rows left out."""
        indexes = sorted(
            {int(field.rsplit("-", 1)[1]) for field in data if _is_row_field(field, name)},
        )
        pairs = []
        for index in indexes:
            key = (data.get(f"{name}-key-{index}") or "").strip()
            value = (data.get(f"{name}-value-{index}") or "").strip()
            if key or value:
                pairs.append((key, value))
        return pairs

    def value_omitted_from_data(self, data, files, name):
        return not any(_is_row_field(field, name) for field in data)


def _is_row_field(field: str, name: str) -> bool:
    prefix, _sep, index = field.rpartition("-")
    return prefix in (f"{name}-key", f"{name}-value") and index.isdigit() and len(index) < 4


def _text(value) -> str:
    return value if isinstance(value, str) else str(value)


class MetadataRulesField(forms.Field):
    """A customer-group rule: each key once, with a text value; cleans to a ``dict`` (empty: no rule)."""

    widget = MetadataRulesWidget

    def to_python(self, value):
        if value in (None, "", {}):
            return []
        if isinstance(value, dict):
            return list(value.items())
        return list(value)

    def validate(self, value):
        errors = []
        seen = set()
        for key, text in value:
            if not key:
                errors.append(
                    gettext("The value “%(value)s” has no key: fill in both, or empty the row.") % {"value": text}
                )
            elif not text:
                errors.append(gettext("The key “%(key)s” has no value: fill in both, or empty the row.") % {"key": key})
            elif not isinstance(text, str):
                errors.append(gettext("The value of “%(key)s” must be text, not a list or an object.") % {"key": key})
            if key in seen:
                errors.append(gettext("The key “%(key)s” appears twice: a rule names each key once.") % {"key": key})
            seen.add(key)
            if len(key) > METADATA_KEY_MAX or "[" in key or "]" in key:
                errors.append(
                    gettext("The key “%(key)s” is too long or has square brackets (at most %(max)d characters).")
                    % {"key": key, "max": METADATA_KEY_MAX}
                )
            if isinstance(text, str) and len(text) > METADATA_VALUE_MAX:
                errors.append(
                    gettext("The value of “%(key)s” is longer than %(max)d characters.")
                    % {"key": key, "max": METADATA_VALUE_MAX}
                )
        if len(value) > METADATA_MAX_KEYS:
            errors.append(gettext("A rule has at most %(max)d keys.") % {"max": METADATA_MAX_KEYS})
        if errors:
            raise forms.ValidationError(errors)

    def clean(self, value):
        pairs = super().clean(value)
        return dict(pairs)

    def has_changed(self, initial, data):
        return dict(self.to_python(initial)) != dict(self.to_python(data))


def customer_group_field() -> MetadataRulesField:
    return MetadataRulesField(
        label=_("customer metadata to match"),
        required=False,
        help_text=_(
            "A customer belongs to the group when their metadata has every key with exactly this value. "
            "Leave empty for no group."
        ),
    )


@dataclass
class GroupReach:
    count: int
    more: bool  # more customers match the rule than were resolved: ``count`` is a lower bound
    named: list[Customer]


def customers_reached(configuration: PortalConfiguration) -> GroupReach | None:
    """The customers whose portal sessions (without an explicit configuration) would use ``configuration``, found
    as the portal finds them: candidates whose metadata has the rule's pairs, each resolved with
    ``configuration_for_customer``. ``None`` when the configuration has no rule."""
    rule = configuration.customer_group_metadata or {}
    if not rule or not isinstance(rule, dict):
        return None
    candidates = Customer.objects.filter(
        account_id=configuration.account_id, livemode=configuration.livemode, deleted=False
    )
    for index, (key, value) in enumerate(rule.items()):
        candidates = candidates.alias(**{f"rule_{index}": KeyTransform(key, "metadata")}).filter(
            **{f"rule_{index}": value}
        )
    checked = list(candidates.order_by("-created", "-id")[: CUSTOMERS_RESOLVED + 1])
    more = len(checked) > CUSTOMERS_RESOLVED
    # The portal's own resolution (configurations.selectors.configuration_for_customer), the rules loaded once.
    groups = group_configurations(account_id=configuration.account_id, livemode=configuration.livemode)
    reached = [
        customer
        for customer in checked[:CUSTOMERS_RESOLVED]
        if getattr(group_configuration_for(groups, customer.metadata or {}), "pk", None) == configuration.pk
    ]
    return GroupReach(count=len(reached), more=more, named=reached[:CUSTOMERS_NAMED])
