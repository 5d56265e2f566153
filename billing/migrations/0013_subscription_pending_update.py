from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("billing", "0012_processoreventreceipt"),
    ]

    operations = [
        migrations.AddField(
            model_name="subscription",
            name="pending_update",
            field=models.JSONField(blank=True, null=True),
        ),
    ]
