"""The admin for webhooks: endpoints (secret masked; roll it, send a test event) and deliveries with their
attempts (resend), scoped to the staff user's accounts. Every write goes through ``webhooks.services``."""

import json

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.widgets import FilteredSelectMultiple
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from billing.admin_scoping import ReadOnlyTenantAdmin, TenantModelForm, TenantScopedAdmin, run_each
from billing.audit import Actor
from billing.exceptions import BillingError
from billing.selectors import accounts_for_user
from webhooks import event_types, representations, services
from webhooks.models import Attempt, Delivery, WebhookEndpoint


class WebhookEndpointForm(TenantModelForm):
    url = forms.URLField(label=_("URL"), max_length=2048, assume_scheme="https")
    enabled_events = forms.MultipleChoiceField(
        label=_("Events to send"),
        choices=event_types.choices,
        widget=FilteredSelectMultiple(_("event types"), is_stacked=False),
        help_text=_("Choose “* (all events)” to receive every event, including types added later."),
    )
    status = forms.ChoiceField(choices=WebhookEndpoint.Status.choices, required=False)

    class Meta:
        model = WebhookEndpoint
        fields = ("account", "livemode", "url", "description", "enabled_events", "status", "metadata")


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(TenantScopedAdmin):
    form = WebhookEndpointForm
    list_display = ("url", "status", "events_summary", "failing_since", "created")
    list_filter = ("status",)
    search_fields = ("id", "url", "description")
    date_hierarchy = "created"
    actions = ("roll_secret", "send_test_event")
    add_fields = ("account", "livemode", "url", "description", "enabled_events", "metadata")
    change_fields = (
        "id",
        "account",
        "mode",
        "url",
        "description",
        "enabled_events",
        "status",
        "disabled_reason",
        "failing_since",
        "signing_secret",
        "previous_secret_expires_at",
        "api_version",
        "metadata",
        "created",
    )
    change_editable = ("url", "description", "enabled_events", "status", "metadata")

    def get_fields(self, request, obj=None):
        return self.change_fields if obj is not None else self.add_fields

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return ()
        return tuple(name for name in self.change_fields if name not in self.change_editable)

    @admin.display(description=_("events"))
    def events_summary(self, obj):
        events = list(obj.enabled_events)
        if event_types.WILDCARD in events:
            return _("All events")
        shown = ", ".join(events[:3])
        return f"{shown} (+{len(events) - 3})" if len(events) > 3 else shown

    @admin.display(description=_("signing secret"))
    def signing_secret(self, obj):
        return format_html(
            "<code>{}</code><br><small>{}</small>",
            obj.masked_secret,
            _("Shown in full only when created or rolled. Use “Roll secret” to get a new one."),
        )

    def save_model(self, request, obj, form, change):
        actor = Actor.staff(request.user)
        data = form.cleaned_data
        if not change:
            endpoint = services.webhook_endpoint_create(
                account=data["account"],
                livemode=bool(data.get("livemode")),
                url=data["url"],
                enabled_events=data["enabled_events"],
                description=data.get("description") or "",
                metadata=data.get("metadata") or {},
                actor=actor,
            )
            obj.pk = endpoint.pk
            obj.refresh_from_db()
            obj._state.adding = False
            self._show_secret(request, endpoint, _("Webhook endpoint created."))
            return
        changed = {name for name in form.changed_data if name in self.change_editable}
        updates = {name: data[name] for name in ("url", "description", "enabled_events") if name in changed}
        if "metadata" in changed:
            old = WebhookEndpoint.objects.get(pk=obj.pk).metadata or {}
            new = data.get("metadata") or {}
            updates["metadata"] = {**{key: "" for key in old if key not in new}, **new}
        if "status" in changed and data.get("status"):
            updates["disabled"] = data["status"] == WebhookEndpoint.Status.DISABLED
        services.webhook_endpoint_update(endpoint=obj, actor=actor, **updates)
        obj.refresh_from_db()

    def delete_model(self, request, obj):
        services.webhook_endpoint_delete(endpoint=obj, actor=Actor.staff(request.user))

    def delete_queryset(self, request, queryset):
        for endpoint in queryset:
            self.delete_model(request, endpoint)

    def _show_secret(self, request, endpoint, intro) -> None:
        self.message_user(
            request,
            format_html(
                "{} {} <code>{}</code> — {}",
                intro,
                _("Signing secret for %(url)s:") % {"url": endpoint.url},
                endpoint.secret,
                _("copy it now; it will not be shown again."),
            ),
            messages.WARNING,
        )

    @admin.action(description=_("Roll secret (the old one keeps signing for 24 hours)"), permissions=["change"])
    def roll_secret(self, request, queryset):
        actor = Actor.staff(request.user)
        for endpoint in queryset:
            try:
                endpoint = services.webhook_endpoint_roll_secret(endpoint=endpoint, expires_in_hours=24, actor=actor)
            except BillingError as error:
                self.message_user(request, f"{endpoint}: {error.localized}", messages.ERROR)
            else:
                self._show_secret(request, endpoint, _("Secret rolled."))

    @admin.action(description=_("Send test event"), permissions=["change"])
    def send_test_event(self, request, queryset):
        run_each(
            self,
            request,
            queryset,
            lambda endpoint, actor: services.send_test_event(endpoint=endpoint, actor=actor),
            lambda n: ngettext(
                "Sent a test event to %(count)d endpoint; see Deliveries for the answer.",
                "Sent a test event to %(count)d endpoints; see Deliveries for the answers.",
                n,
            ),
        )


class AttemptInline(admin.TabularInline):
    """The history of a delivery; its rows are scoped through the delivery's account."""

    model = Attempt
    extra = 0
    can_delete = False
    fields = ("requested_at", "started_at", "manual", "succeeded", "response_status", "error", "body", "duration_ms")
    readonly_fields = fields
    ordering = ("-id",)

    @admin.display(description=_("response body (first 1 KB)"))
    def body(self, obj):
        return format_html("<pre>{}</pre>", obj.response_body) if obj.response_body else "—"

    def get_queryset(self, request):
        attempts = super().get_queryset(request)
        if request.user.is_superuser:
            return attempts
        return attempts.filter(delivery__account__in=accounts_for_user(request.user).values("pk"))

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Delivery)
class DeliveryAdmin(ReadOnlyTenantAdmin):
    list_display = (
        "id",
        "event_type",
        "event",
        "endpoint",
        "status",
        "attempts",
        "last_response_status",
        "next_attempt_at",
        "created",
    )
    list_select_related = ("event", "endpoint")
    list_filter = ("status",)
    search_fields = ("event__id", "event__type", "endpoint__id", "endpoint__url")
    date_hierarchy = "created"
    inlines = [AttemptInline]
    actions = ("resend",)
    fields = (
        "id",
        "event",
        "event_type",
        "endpoint",
        "account",
        "mode",
        "status",
        "attempts",
        "first_attempt_at",
        "last_attempt_at",
        "next_attempt_at",
        "last_response_status",
        "last_response_body",
        "last_error",
        "duration_ms",
        "delivered_at",
        "created",
        "payload",
    )

    @admin.display(description=_("event type"), ordering="event__type")
    def event_type(self, obj):
        return obj.event.type

    @admin.display(description=_("payload (as last sent, without pending_webhooks)"))
    def payload(self, obj):
        envelope = representations.event(obj.event, pending=0)
        envelope.pop("pending_webhooks")
        return format_html("<pre>{}</pre>", json.dumps(envelope, indent=2, ensure_ascii=False))

    @admin.action(description=_("Resend now"), permissions=["billing_action"])
    def resend(self, request, queryset):
        run_each(
            self,
            request,
            queryset.select_related("endpoint"),
            lambda delivery, actor: services.delivery_resend(delivery=delivery, actor=actor),
            lambda n: ngettext(
                "Queued %(count)d delivery for resending.", "Queued %(count)d deliveries for resending.", n
            ),
        )
