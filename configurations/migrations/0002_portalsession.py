"""PortalSession moves here from the portal app. Its table stays as it is (``portal_portalsession``): this
migration only tells Django's state that the model now belongs to configurations, and moves its content type
(and with it the permissions granted on it)."""

import django.db.models.deletion
from django.db import migrations, models

import billing.clock
import billing.ids


def move_content_type(apps, schema_editor):
    ContentType = apps.get_model("contenttypes", "ContentType")
    db = schema_editor.connection.alias
    if not ContentType.objects.using(db).filter(app_label="configurations", model="portalsession").exists():
        ContentType.objects.using(db).filter(app_label="portal", model="portalsession").update(
            app_label="configurations"
        )


def move_content_type_back(apps, schema_editor):
    ContentType = apps.get_model("contenttypes", "ContentType")
    db = schema_editor.connection.alias
    if not ContentType.objects.using(db).filter(app_label="portal", model="portalsession").exists():
        ContentType.objects.using(db).filter(app_label="configurations", model="portalsession").update(
            app_label="portal"
        )


class Migration(migrations.Migration):
    dependencies = [
        ("billing", "0003_customer_deleted"),
        ("configurations", "0001_initial"),
        ("contenttypes", "0002_remove_content_type_name"),
        # The table is created by the portal app's first migration.
        ("portal", "0001_initial"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name="PortalSession",
                    fields=[
                        ("livemode", models.BooleanField(default=False)),
                        ("created", models.DateTimeField(db_index=True, default=billing.clock.now)),
                        (
                            "id",
                            models.CharField(
                                default=billing.ids.generate_portal_session_id,
                                editable=False,
                                max_length=40,
                                primary_key=True,
                                serialize=False,
                            ),
                        ),
                        ("return_url", models.URLField(blank=True, max_length=5000)),
                        ("locale", models.CharField(blank=True, max_length=8)),
                        ("flow", models.JSONField(blank=True, null=True)),
                        (
                            "origin",
                            models.CharField(
                                choices=[("api", "API"), ("login_link", "login link")], default="api", max_length=16
                            ),
                        ),
                        ("token_digest", models.CharField(max_length=64, unique=True)),
                        ("token_expires_at", models.DateTimeField()),
                        ("redeemed_at", models.DateTimeField(blank=True, null=True)),
                        ("browser_key_digest", models.CharField(blank=True, max_length=64, null=True, unique=True)),
                        ("last_activity_at", models.DateTimeField(blank=True, null=True)),
                        ("flow_completed_at", models.DateTimeField(blank=True, null=True)),
                        ("ended_at", models.DateTimeField(blank=True, null=True)),
                        (
                            "account",
                            models.ForeignKey(
                                on_delete=django.db.models.deletion.PROTECT, related_name="+", to="billing.account"
                            ),
                        ),
                        (
                            "configuration",
                            models.ForeignKey(
                                on_delete=django.db.models.deletion.PROTECT,
                                related_name="sessions",
                                to="configurations.portalconfiguration",
                            ),
                        ),
                        (
                            "customer",
                            models.ForeignKey(
                                on_delete=django.db.models.deletion.CASCADE, related_name="+", to="billing.customer"
                            ),
                        ),
                    ],
                    options={
                        "verbose_name": "portal session",
                        "verbose_name_plural": "portal sessions",
                        "db_table": "portal_portalsession",
                    },
                ),
            ],
            database_operations=[],
        ),
        migrations.RunPython(move_content_type, move_content_type_back, elidable=True),
    ]
