from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("billing", "0011_subscription_payment_settings"),
    ]

    operations = [
        migrations.AddField(
            model_name="subscription",
            name="pending_update",
            field=models.JSONField(blank=True, null=True),
        ),
    ]
