"""Usage billed in arrears: the lines for a period's metered items, each the item's meter aggregated over the period
for the subscription's customer (one query for all of them) times the price's unit amount."""

import datetime as dt

from billing.models import Subscription
from billing.services.invoices import LineSpec
from billing.services.meters import meter_usage
from billing.services.subscriptions.lines import current_plan, describe_item, tax_rate_for


def usage_lines(subscription: Subscription, start: dt.datetime, end: dt.datetime) -> list[LineSpec]:
    """One line per metered item with a meter, for the usage in [start, end); none for a trial's period."""
    metered = [(item, price) for item, price, _quantity in current_plan(subscription) if price.meter_id]
    in_trial = subscription.trial_end is not None and start < subscription.trial_end
    if not metered or end <= start or in_trial:
        return []
    usage = meter_usage(
        customer_id=subscription.customer_id, meter_ids={price.meter_id for _, price in metered}, start=start, end=end
    )
    defaults = list(subscription.default_tax_rates.all())
    return [
        LineSpec(
            description=describe_item(price, usage.get(price.meter_id, 0)),
            amount=usage.get(price.meter_id, 0) * (price.unit_amount or 0),
            quantity=usage.get(price.meter_id, 0),
            period_start=start,
            period_end=end,
            price=price,
            subscription_item=item,
            tax_rate=tax_rate_for(item.tax_rates.all(), defaults),
        )
        for item, price in metered
    ]


def usage_so_far(subscription: Subscription) -> dict[str, tuple[int, int]]:
    """(quantity, amount) by subscription item id for the metered items' usage in the current period so far."""
    lines = usage_lines(subscription, subscription.current_period_start, subscription.current_period_end)
    return {line.subscription_item.pk: (line.quantity, line.amount) for line in lines}
