"""Subscriptions and their items."""

import datetime as dt

from django.conf import settings
from django.db import models
from django.utils.translation import gettext, pgettext_lazy
from django.utils.translation import gettext_lazy as _

from billing import clock, ids
from billing.models.base import TenantModel
from billing.models.clocks import customer_test_clock


def collection_paused_q(behavior: str | None = None) -> models.Q:
    """The one definition of "payment collection is paused" (admin filter, API search, exports)."""
    return models.Q(pause_collection_behavior=behavior) if behavior else ~models.Q(pause_collection_behavior="")


def collection_resumes_q(**bounds: dt.datetime) -> models.Q:
    """Paused subscriptions whose pause ends at a set time, within ``bounds``: lookups on
    ``resumes_at`` such as ``lte=moment`` or ``gt=moment`` (admin filter and API search alike)."""
    condition = collection_paused_q() & models.Q(pause_collection_resumes_at__isnull=False)
    return condition & models.Q(**{f"pause_collection_resumes_at__{lookup}": at for lookup, at in bounds.items()})


def collection_paused_indefinitely_q() -> models.Q:
    """Paused with no ``resumes_at``: collection stays paused until someone resumes it."""
    return collection_paused_q() & models.Q(pause_collection_resumes_at__isnull=True)


class SubscriptionQuerySet(models.QuerySet):
    def collection_paused(self, behavior: str | None = None):
        """Subscriptions whose payment collection is paused (status stays as it was)."""
        return self.filter(collection_paused_q(behavior))

    def collecting(self):
        return self.exclude(collection_paused_q())

    def collection_resuming_by(self, moment: dt.datetime):
        """Paused subscriptions that resume by ``moment`` (a past ``resumes_at`` resumes on the next cycle)."""
        return self.filter(collection_resumes_q(lte=moment))

    def collection_paused_indefinitely(self):
        return self.filter(collection_paused_indefinitely_q())

    def not_ended(self):
        return self.exclude(status__in=Subscription.ENDED_STATUSES)


# The times Stripe shows on a subscription, kept in whole seconds (see ``billing.clock.whole_seconds``).
WHOLE_SECOND_FIELDS = (
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


class Subscription(TenantModel):
    class Status(models.TextChoices):
        INCOMPLETE = "incomplete", _("Incomplete")
        INCOMPLETE_EXPIRED = "incomplete_expired", _("Incomplete, expired")
        TRIALING = "trialing", _("Trialing")
        ACTIVE = "active", _("Active")
        PAST_DUE = "past_due", _("Past due")
        # A canceled subscription is "gekündigt"; a canceled payment ("storniert") uses the plain msgid.
        CANCELED = "canceled", pgettext_lazy("subscription status", "Canceled")
        UNPAID = "unpaid", _("Unpaid")
        PAUSED = "paused", _("Paused")

    class CollectionMethod(models.TextChoices):
        CHARGE_AUTOMATICALLY = "charge_automatically", _("Charge automatically")
        SEND_INVOICE = "send_invoice", _("Send invoice")

    class PauseBehavior(models.TextChoices):
        KEEP_AS_DRAFT = "keep_as_draft", _("Keep invoices as drafts")
        MARK_UNCOLLECTIBLE = "mark_uncollectible", _("Mark invoices uncollectible")
        VOID = "void", _("Void invoices")

    class CancellationFeedback(models.TextChoices):
        CUSTOMER_SERVICE = "customer_service", _("Customer service was less than expected")
        LOW_QUALITY = "low_quality", _("Quality was less than expected")
        MISSING_FEATURES = "missing_features", _("Some features are missing")
        OTHER = "other", _("Other reason")
        SWITCHED_SERVICE = "switched_service", _("I'm switching to a different service")
        TOO_COMPLEX = "too_complex", _("Ease of use was less than expected")
        TOO_EXPENSIVE = "too_expensive", _("It's too expensive")
        UNUSED = "unused", _("I don't use the service enough")

    class CancellationReason(models.TextChoices):
        CANCELLATION_REQUESTED = "cancellation_requested", _("Cancellation requested")
        PAYMENT_FAILED = "payment_failed", _("Payment failed")
        PAYMENT_DISPUTED = "payment_disputed", _("Payment disputed")

    ENDED_STATUSES = (Status.CANCELED, Status.INCOMPLETE_EXPIRED)
    # Statuses in which the customer must keep a chargeable payment method.
    NEEDS_PAYMENT_METHOD = (Status.ACTIVE, Status.TRIALING, Status.PAST_DUE)

    id = models.CharField(
        primary_key=True, max_length=40, default=ids.factory("subscription"), editable=False, verbose_name=_("id")
    )
    customer = models.ForeignKey(
        "billing.Customer", on_delete=models.PROTECT, related_name="subscriptions", verbose_name=_("customer")
    )
    test_clock = customer_test_clock()
    status = models.CharField(max_length=20, choices=Status.choices, db_index=True, verbose_name=_("status"))
    currency = models.CharField(max_length=3, verbose_name=_("currency"))
    collection_method = models.CharField(
        max_length=24,
        choices=CollectionMethod.choices,
        default=CollectionMethod.CHARGE_AUTOMATICALLY,
        verbose_name=_("collection method"),
    )
    days_until_due = models.PositiveIntegerField(null=True, blank=True, verbose_name=_("days until due"))
    billing_cycle_anchor = models.DateTimeField(verbose_name=_("billing cycle anchor"))
    # Stripe's billing_cycle_anchor_config (day_of_month, month, hour, minute, second) when the anchor was set by one:
    # its day_of_month keeps month-end anchors on the month's end (31 -> Feb 28 -> Mar 31). A "stub" key tells how
    # the time from a trial's end to a later anchor is billed ("prorate" or "none").
    billing_cycle_anchor_config = models.JSONField(null=True, blank=True, verbose_name=_("billing cycle anchor config"))
    current_period_start = models.DateTimeField(verbose_name=_("current period start"))
    current_period_end = models.DateTimeField(db_index=True, verbose_name=_("current period end"))
    # How many whole periods after the anchor the current period ends (keeps month-end clamping exact).
    period_index = models.PositiveIntegerField(default=1, verbose_name=_("period index"))
    trial_start = models.DateTimeField(null=True, blank=True, verbose_name=_("trial start"))
    trial_end = models.DateTimeField(null=True, blank=True, verbose_name=_("trial end"))
    start_date = models.DateTimeField(verbose_name=_("start date"))
    cancel_at_period_end = models.BooleanField(default=False, verbose_name=_("cancel at period end"))
    cancel_at = models.DateTimeField(null=True, blank=True, verbose_name=_("cancel at"))
    canceled_at = models.DateTimeField(null=True, blank=True, verbose_name=_("canceled at"))
    ended_at = models.DateTimeField(null=True, blank=True, verbose_name=_("ended at"))
    cancellation_comment = models.CharField(max_length=5000, blank=True, verbose_name=_("cancellation comment"))
    cancellation_feedback = models.CharField(
        max_length=20, choices=CancellationFeedback.choices, blank=True, verbose_name=_("cancellation feedback")
    )
    cancellation_reason = models.CharField(
        max_length=24, choices=CancellationReason.choices, blank=True, verbose_name=_("cancellation reason")
    )
    default_payment_method = models.ForeignKey(
        "billing.PaymentMethod",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("default payment method"),
    )
    default_tax_rates = models.ManyToManyField(
        "billing.TaxRate", blank=True, related_name="+", verbose_name=_("default tax rates")
    )
    pause_collection_behavior = models.CharField(
        max_length=20, choices=PauseBehavior.choices, blank=True, verbose_name=_("pause collection behavior")
    )
    pause_collection_resumes_at = models.DateTimeField(
        null=True, blank=True, verbose_name=_("pause collection resumes at")
    )
    latest_invoice = models.ForeignKey(
        "billing.Invoice",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("latest invoice"),
    )
    # An item change that waits for the end of the current period (a downgrade the portal configuration defers):
    # {"items": [{"item": "si_…" | null, "price": "price_…" | null, "quantity": int | null, "deleted": bool}]}.
    scheduled_change = models.JSONField(null=True, blank=True, verbose_name=_("scheduled change"))
    # Stripe's payment_settings: {"save_default_payment_method": "off" | "on_subscription",
    # "payment_method_types": [...] | null}.
    payment_settings = models.JSONField(default=dict, blank=True, verbose_name=_("payment settings"))
    # A change waiting for its invoice to be paid (``payment_behavior=pending_if_incomplete``): Stripe's
    # ``pending_update`` (billing_cycle_anchor, expires_at, subscription_items, trial_end, trial_from_plan) plus
    # what applying it writes ("apply"), its invoice ("invoice") and, until its first payment attempt is answered,
    # what the subscription showed before ("previous"). See ``billing.services.subscriptions.pending``.
    pending_update = models.JSONField(null=True, blank=True, verbose_name=_("pending update"))
    metadata = models.JSONField(default=dict, blank=True, verbose_name=_("metadata"))
    # Stripe's ``description``: meant to be shown to the customer (Checkout's ``subscription_data.description``).
    description = models.CharField(max_length=500, blank=True, verbose_name=_("description"))
    # Extension ``retention``: the cancellation offers this subscription was shown and what the customer decided,
    # {"offers": [{"offer", "type", "terms", "outcome", "decided_at"}], "reason": the survey reason | None}; the
    # rows of ``CancellationOfferOutcome`` are the same decisions, for reports.
    retention = models.JSONField(default=dict, blank=True, verbose_name=_("retention"))
    # Bumped by every save: a page or a batch that read the subscription acts only if it is still this version.
    version = models.PositiveBigIntegerField(default=0, verbose_name=_("version"))
    # When the billing cycle next has something to do (renew, resume, cancel, expire); None once it has ended.
    # Kept by ``save()``; the cycle plans its batches over this column's index.
    next_action_at = models.DateTimeField(null=True, blank=True, verbose_name=_("next action at"))

    objects = SubscriptionQuerySet.as_manager()

    class Meta:
        ordering = ["-id"]
        indexes = [
            models.Index(fields=["account", "livemode", "status"], name="subscription_tenant_status"),
            models.Index(fields=["pause_collection_behavior"], name="subscription_pause_behavior"),
            models.Index(
                fields=["next_action_at", "id"],
                condition=models.Q(next_action_at__isnull=False),
                name="subscription_due",
            ),
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(pause_collection_behavior__in=["", "keep_as_draft", "mark_uncollectible", "void"]),
                name="subscription_pause_behavior_valid",
            ),
            models.CheckConstraint(
                condition=models.Q(pause_collection_resumes_at__isnull=True) | ~models.Q(pause_collection_behavior=""),
                name="subscription_resumes_at_needs_pause",
            ),
        ]
        verbose_name = _("subscription")
        verbose_name_plural = _("subscriptions")

    def __str__(self) -> str:
        return self.id

    def save(self, *args, **kwargs):
        for name in WHOLE_SECOND_FIELDS:
            setattr(self, name, clock.whole_seconds(getattr(self, name)))
        self.version += 1
        self.next_action_at = self.compute_next_action_at()
        if kwargs.get("update_fields") is not None:
            kwargs["update_fields"] = {*kwargs["update_fields"], "version", "next_action_at"}
        super().save(*args, **kwargs)

    def compute_next_action_at(self) -> dt.datetime | None:
        """The earliest moment at which ``subscription_advance`` has work: a resume, a cancellation, the period end
        (not while the first invoice is unpaid), the expiry of an unpaid first invoice or of a pending update."""
        if self.is_ended:
            return None
        moments = [self.pause_collection_resumes_at, self.cancel_at, self.pending_update_expires_at]
        if self.status == self.Status.INCOMPLETE:
            created = self.created or clock.now()
            moments.append(created + dt.timedelta(hours=settings.BILLING_INCOMPLETE_EXPIRY_HOURS))
        else:
            moments.append(self.current_period_end)
        moments = [moment for moment in moments if moment is not None]
        return min(moments) if moments else None

    @property
    def pending_update_expires_at(self) -> dt.datetime | None:
        return clock.from_unix(self.pending_update["expires_at"]) if self.pending_update else None

    @property
    def collection_paused(self) -> bool:
        return bool(self.pause_collection_behavior)

    @property
    def pause_collection(self) -> dict | None:
        if not self.collection_paused:
            return None
        resumes = self.pause_collection_resumes_at
        return {"behavior": self.pause_collection_behavior, "resumes_at": int(resumes.timestamp()) if resumes else None}

    @property
    def is_ended(self) -> bool:
        return self.status in self.ENDED_STATUSES

    @property
    def cancellation_pending(self) -> bool:
        return not self.is_ended and (self.cancel_at_period_end or self.cancel_at is not None)

    def portal_update_blocker(self, configuration) -> str:
        """Why the hosted portal may not change this subscription's plan, as a reason code, or "" when it may.

        Stripe's limitations: usage-based prices and invoices sent for payment are cancel-only; so is
        a price outside the configuration or an unspecified tax behaviour (customers may only switch to prices with
        the same tax behaviour). A change already scheduled for the period end blocks further changes.
        ``configuration`` is a portal configuration (duck-typed) whose ``products`` and their ``prices`` are
        prefetched, like this subscription's ``items`` with their prices: nothing is read from the database here.
        """
        allowed = configuration.subscription_update_default_allowed_updates or ()
        if not configuration.subscription_update_enabled or not allowed:
            return "feature_disabled"
        if self.is_ended:
            return "ended"
        if self.status == self.Status.INCOMPLETE:
            return "incomplete"
        items = list(self.items.all())
        if not items:
            return "nothing_to_change"
        if len(items) > 1 or self.portal_add_on_prices(configuration):
            return self._portal_items_blocker(configuration, items)
        price = items[0].price
        if price.is_metered:
            return "metered"
        if self.collection_method == self.CollectionMethod.SEND_INVOICE:
            return "send_invoice"
        if self.scheduled_change:
            return "pending_schedule"
        if self.cancellation_pending:
            return "cancellation_pending"
        entries = list(configuration.products.all())
        entry = next((e for e in entries if any(p.pk == price.pk for p in e.prices.all())), None)
        if entry is None:
            return "price_not_in_configuration"
        if price.tax_behavior == price.TaxBehavior.UNSPECIFIED:
            return "tax_behavior"
        others = [
            other
            for e in entries
            for other in e.prices.all()
            if other.pk != price.pk and other.active and other.currency == self.currency and not other.is_metered
        ]
        switchable = "price" in allowed and any(other.tax_behavior == price.tax_behavior for other in others)
        quantity = "quantity" in allowed or entry.adjustable_quantity_enabled
        if switchable or quantity or "promotion_code" in allowed:
            return ""
        return "tax_behavior" if "price" in allowed and others else "nothing_to_change"

    @property
    def anchor_day(self) -> int | None:
        """The day of month the anchor stands for (Stripe's billing_cycle_anchor_config.day_of_month), if set."""
        return (self.billing_cycle_anchor_config or {}).get("day_of_month")

    def _portal_items_blocker(self, configuration, items) -> str:
        """The item-by-item page (several items, or add-ons to add): open when every item's price is one of the
        configuration's, which then decides per item what may change."""
        offered = {price.pk for entry in configuration.products.all() for price in entry.prices.all()}
        if any(item.price_id not in offered for item in items):
            return "multiple_items" if len(items) > 1 else "price_not_in_configuration"
        if self.collection_method == self.CollectionMethod.SEND_INVOICE:
            return "send_invoice"
        if self.scheduled_change:
            return "pending_schedule"
        if self.cancellation_pending:
            return "cancellation_pending"
        if any(item.price.tax_behavior == item.price.TaxBehavior.UNSPECIFIED for item in items):
            return "tax_behavior"
        return ""

    def portal_add_on_prices(self, configuration) -> list:
        """The prices of the configuration's add-on products (our extension) this subscription could add: active,
        recurring, in its currency, interval and tax behaviour, of a product it does not have yet. Reads only what
        ``portal_update_blocker`` reads (prefetched)."""
        items = list(self.items.all())
        if not items:
            return []
        first = items[0].price
        products = {item.price.product_id for item in items}
        return [
            price
            for entry in configuration.products.all()
            if getattr(entry, "add_on", False) and entry.product_id not in products
            for price in entry.prices.all()
            if price.active
            and price.is_recurring
            and price.currency == self.currency
            and (price.recurring_interval, price.recurring_interval_count)
            == (first.recurring_interval, first.recurring_interval_count)
            and price.tax_behavior == first.tax_behavior
        ]

    def interval(self) -> tuple[str, int]:
        """The recurring interval shared by the items (the first item's price decides)."""
        item = next(iter(self.items.all()), None)
        if item is None:
            return ("month", 1)
        return (item.price.recurring_interval, item.price.recurring_interval_count)


class CancellationOfferOutcome(TenantModel):
    """One decision in the cancellation offer ladder: an offer accepted or declined, or the cancellation that
    followed (``canceled``, with the reason chosen in the survey)."""

    class Outcome(models.TextChoices):
        ACCEPTED = "accepted", _("Accepted")
        DECLINED = "declined", _("Declined")
        CANCELED = "canceled", pgettext_lazy("subscription status", "Canceled")

    subscription = models.ForeignKey(
        Subscription, on_delete=models.CASCADE, related_name="offer_outcomes", verbose_name=_("subscription")
    )
    # The offer's id in its portal configuration (kept when the offer is removed later), empty for ``canceled``.
    offer = models.CharField(max_length=40, blank=True, db_index=True, verbose_name=_("offer"))
    offer_type = models.CharField(max_length=8, blank=True, verbose_name=_("offer type"))
    terms = models.JSONField(default=dict, blank=True, verbose_name=_("terms"))
    outcome = models.CharField(max_length=8, choices=Outcome.choices, verbose_name=_("outcome"))
    reason = models.CharField(max_length=20, blank=True, verbose_name=_("reason"))

    class Meta:
        ordering = ["created", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["subscription", "offer"], condition=~models.Q(offer=""), name="offer_outcome_once"
            ),
        ]
        verbose_name = _("cancellation offer outcome")
        verbose_name_plural = _("cancellation offer outcomes")

    def __str__(self) -> str:
        return f"{self.subscription_id} {self.offer or '-'} {self.get_outcome_display()}"


class SubscriptionItem(TenantModel):
    id = models.CharField(
        primary_key=True, max_length=40, default=ids.factory("subscription_item"), editable=False, verbose_name=_("id")
    )
    subscription = models.ForeignKey(
        Subscription, on_delete=models.CASCADE, related_name="items", verbose_name=_("subscription")
    )
    price = models.ForeignKey("billing.Price", on_delete=models.PROTECT, related_name="+", verbose_name=_("price"))
    quantity = models.PositiveIntegerField(default=1, verbose_name=_("quantity"))
    tax_rates = models.ManyToManyField("billing.TaxRate", blank=True, related_name="+", verbose_name=_("tax rates"))
    metadata = models.JSONField(default=dict, blank=True, verbose_name=_("metadata"))

    class Meta:
        ordering = ["id"]
        verbose_name = _("subscription item")
        verbose_name_plural = _("subscription items")

    def __str__(self) -> str:
        return f"{self.price} × {self.quantity}"


class BillingCycleRun(models.Model):
    """One planned pass of the billing cycle: how many batches were queued and how many have finished. A new pass is
    planned only when the previous one has finished or expired (its batch messages expire with it)."""

    started_at = models.DateTimeField(default=clock.now, verbose_name=_("started at"))
    expires_at = models.DateTimeField(verbose_name=_("expires at"))
    batches_planned = models.PositiveIntegerField(default=0, verbose_name=_("batches planned"))
    batches_done = models.PositiveIntegerField(default=0, verbose_name=_("batches done"))
    subscriptions = models.PositiveIntegerField(default=0, verbose_name=_("subscriptions"))
    steps = models.PositiveIntegerField(default=0, verbose_name=_("steps"))
    retries = models.PositiveIntegerField(default=0, verbose_name=_("retries"))
    errors = models.PositiveIntegerField(default=0, verbose_name=_("errors"))

    class Meta:
        ordering = ["-id"]
        verbose_name = _("billing cycle run")
        verbose_name_plural = _("billing cycle runs")

    def __str__(self) -> str:
        return gettext("billing cycle %(number)s (%(done)s/%(planned)s batches)") % {
            "number": self.pk,
            "done": self.batches_done,
            "planned": self.batches_planned,
        }

    @property
    def in_progress(self) -> bool:
        return self.batches_done < self.batches_planned and self.expires_at > clock.now()
