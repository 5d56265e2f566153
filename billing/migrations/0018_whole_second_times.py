"""Times Stripe shows (period bounds, anchors, trial ends, cancel_at, resumes_at, discount bounds) were stored with
microseconds but shown in whole seconds; keep them in whole seconds so a bound we report is inside the period we
keep."""

from django.db import migrations

SUBSCRIPTION_FIELDS = (
    "billing_cycle_anchor",
    "current_period_start",
    "current_period_end",
    "trial_start",
    "trial_end",
    "start_date",
    "cancel_at",
    "canceled_at",
    "ended_at",
    "pause_collection_resumes_at",
)
DISCOUNT_FIELDS = ("start", "end")
BATCH = 1000


def _truncate(model, fields) -> None:
    rows = model.objects.only("pk", *fields).order_by("pk")
    changed = []
    for row in rows.iterator(chunk_size=BATCH):
        dirty = False
        for name in fields:
            value = getattr(row, name)
            if value is not None and value.microsecond:
                setattr(row, name, value.replace(microsecond=0))
                dirty = True
        if dirty:
            changed.append(row)
        if len(changed) >= BATCH:
            model.objects.bulk_update(changed, fields)
            changed = []
    if changed:
        model.objects.bulk_update(changed, fields)


def truncate(apps, schema_editor):
    _truncate(apps.get_model("billing", "Subscription"), SUBSCRIPTION_FIELDS)
    _truncate(apps.get_model("billing", "Discount"), DISCOUNT_FIELDS)


class Migration(migrations.Migration):
    dependencies = [("billing", "0017_anchor_config_and_invoice_discounts")]

    operations = [migrations.RunPython(truncate, migrations.RunPython.noop)]
