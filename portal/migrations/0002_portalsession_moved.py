"""PortalSession now belongs to the configurations app (same table); drop it from this app's state only."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("configurations", "0002_portalsession"),
        ("portal", "0001_initial"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[migrations.DeleteModel(name="PortalSession")],
            database_operations=[],
        ),
    ]
