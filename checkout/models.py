"""A Checkout Session (Stripe's ``checkout.session``) and the line items it sells."""

import datetime as dt
import secrets

from django.db import models
from django.utils.translation import gettext_lazy as _

from billing import clock, ids
from billing.models.base import TenantModel


def generate_checkout_session_id() -> str:
    return ids.generate("cs")


def generate_checkout_line_item_id() -> str:
    return ids.generate("li")


def generate_checkout_link_id() -> str:
    return ids.generate("plink")


def generate_checkout_link_slug() -> str:
    """The public part of a link's URL: 256 random bits (43 URL-safe characters), never derived from the id."""
    return secrets.token_urlsafe(32)


class CheckoutSession(TenantModel):
    class Mode(models.TextChoices):
        PAYMENT = "payment", _("Payment")
        SETUP = "setup", _("Setup")
        SUBSCRIPTION = "subscription", _("Subscription")

    class Status(models.TextChoices):
        OPEN = "open", _("Open")
        COMPLETE = "complete", _("Complete")
        EXPIRED = "expired", _("Expired")

    class PaymentStatus(models.TextChoices):
        PAID = "paid", _("Paid")
        UNPAID = "unpaid", _("Unpaid")
        NO_PAYMENT_REQUIRED = "no_payment_required", _("No payment required")

    id = models.CharField(
        primary_key=True, max_length=40, default=generate_checkout_session_id, editable=False, verbose_name=_("id")
    )
    mode = models.CharField(max_length=16, choices=Mode.choices, verbose_name=_("mode"))
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.OPEN, verbose_name=_("status"))
    payment_status = models.CharField(
        max_length=24, choices=PaymentStatus.choices, default=PaymentStatus.UNPAID, verbose_name=_("payment status")
    )
    currency = models.CharField(max_length=3, blank=True, verbose_name=_("currency"))
    customer = models.ForeignKey(
        "billing.Customer",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("customer"),
    )
    customer_email = models.CharField(max_length=800, blank=True, verbose_name=_("customer email"))
    customer_creation = models.CharField(
        max_length=16, blank=True, verbose_name=_("customer creation")
    )  # always | if_required ("" in other modes)
    # What the customer typed on the page: email, name, phone, address, tax_ids ([{type, value}]).
    customer_details = models.JSONField(null=True, blank=True, verbose_name=_("customer details"))
    success_url = models.CharField(max_length=5000, verbose_name=_("success url"))
    cancel_url = models.CharField(max_length=5000, blank=True, verbose_name=_("cancel url"))
    allow_promotion_codes = models.BooleanField(null=True, verbose_name=_("allow promotion codes"))
    coupon = models.ForeignKey(
        "billing.Coupon", null=True, blank=True, on_delete=models.PROTECT, related_name="+", verbose_name=_("coupon")
    )
    promotion_code = models.ForeignKey(
        "billing.PromotionCode",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("promotion code"),
    )
    # trial_period_days, metadata, description, default_tax_rates (ids)
    subscription_data = models.JSONField(default=dict, blank=True, verbose_name=_("subscription data"))
    payment_method_types = models.JSONField(default=list, blank=True, verbose_name=_("payment method types"))
    billing_address_collection = models.CharField(
        max_length=16, blank=True, verbose_name=_("billing address collection")
    )  # auto | required
    tax_id_collection = models.BooleanField(default=False, verbose_name=_("tax id collection"))
    phone_number_collection = models.BooleanField(default=False, verbose_name=_("phone number collection"))
    consent_collection = models.JSONField(
        null=True, blank=True, verbose_name=_("consent collection")
    )  # {terms_of_service: required|none}
    consent = models.JSONField(null=True, blank=True, verbose_name=_("consent"))  # {terms_of_service: accepted}
    custom_text = models.JSONField(default=dict, blank=True, verbose_name=_("custom text"))
    locale = models.CharField(max_length=8, blank=True, verbose_name=_("locale"))
    metadata = models.JSONField(default=dict, blank=True, verbose_name=_("metadata"))
    client_reference_id = models.CharField(max_length=200, blank=True, verbose_name=_("client reference id"))
    expires_at = models.DateTimeField(db_index=True, verbose_name=_("expires at"))
    amount_subtotal = models.BigIntegerField(null=True, blank=True, verbose_name=_("amount subtotal"))
    amount_discount = models.BigIntegerField(default=0, verbose_name=_("amount discount"))
    amount_tax = models.BigIntegerField(default=0, verbose_name=_("amount tax"))
    amount_total = models.BigIntegerField(null=True, blank=True, verbose_name=_("amount total"))
    subscription = models.ForeignKey(
        "billing.Subscription",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("subscription"),
    )
    invoice = models.ForeignKey(
        "billing.Invoice", null=True, blank=True, on_delete=models.PROTECT, related_name="+", verbose_name=_("invoice")
    )
    payment_intent = models.ForeignKey(
        "billing.PaymentIntent",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("payment intent"),
    )
    setup_intent = models.ForeignKey(
        "billing.SetupIntent",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("setup intent"),
    )
    # The payment method of the attempt under way (a subscription's trial waits for its setup to succeed).
    payment_method = models.ForeignKey(
        "billing.PaymentMethod",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("payment method"),
    )
    completed_at = models.DateTimeField(null=True, blank=True, verbose_name=_("completed at"))
    # A delayed payment (SEPA) that failed after completion: checkout.session.async_payment_failed was sent.
    async_payment_failed_at = models.DateTimeField(null=True, blank=True, verbose_name=_("async payment failed at"))
    # The no-code link a visit created this session from (Stripe's ``payment_link``).
    checkout_link = models.ForeignKey(
        "checkout.CheckoutLink",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="sessions",
        verbose_name=_("checkout link"),
    )

    class Meta:
        ordering = ["-id"]
        indexes = [models.Index(fields=["status", "expires_at"], name="checkout_session_open_expiry")]
        verbose_name = _("checkout session")
        verbose_name_plural = _("checkout sessions")

    def __str__(self) -> str:
        return self.id

    @property
    def trial_period_days(self) -> int | None:
        return self.subscription_data.get("trial_period_days")

    def is_expired_at(self, now: dt.datetime) -> bool:
        return self.status == self.Status.EXPIRED or (self.status == self.Status.OPEN and self.expires_at <= now)


class CheckoutLineItem(TenantModel):
    id = models.CharField(
        primary_key=True, max_length=40, default=generate_checkout_line_item_id, editable=False, verbose_name=_("id")
    )
    session = models.ForeignKey(
        CheckoutSession, on_delete=models.CASCADE, related_name="line_items", verbose_name=_("session")
    )
    price = models.ForeignKey("billing.Price", on_delete=models.PROTECT, related_name="+", verbose_name=_("price"))
    quantity = models.PositiveIntegerField(default=1, verbose_name=_("quantity"))
    # {enabled, minimum, maximum} | null
    adjustable_quantity = models.JSONField(null=True, blank=True, verbose_name=_("adjustable quantity"))
    position = models.PositiveSmallIntegerField(default=0, verbose_name=_("position"))

    class Meta:
        ordering = ["position"]
        verbose_name = _("checkout line item")
        verbose_name_plural = _("checkout line items")

    def __str__(self) -> str:
        return self.id

    @property
    def amount_subtotal(self) -> int:
        return (self.price.unit_amount or 0) * self.quantity


class CheckoutLink(TenantModel):
    """A no-code Checkout link (Stripe's Payment Link): every visit of its URL starts a new session for its prices."""

    class AddressCollection(models.TextChoices):
        AUTO = "auto", _("auto")
        REQUIRED = "required", _("required")

    id = models.CharField(
        primary_key=True, max_length=40, default=generate_checkout_link_id, editable=False, verbose_name=_("id")
    )
    slug = models.CharField(
        max_length=64, unique=True, default=generate_checkout_link_slug, editable=False, verbose_name=_("slug")
    )
    name = models.CharField(_("name"), max_length=200, blank=True, help_text=_("Only you see it, in this list."))
    active = models.BooleanField(_("active"), default=True)
    # Derived from the prices when they are set: subscription as soon as one price is recurring.
    mode = models.CharField(max_length=16, choices=CheckoutSession.Mode.choices, verbose_name=_("mode"))
    currency = models.CharField(max_length=3, verbose_name=_("currency"))
    allow_promotion_codes = models.BooleanField(_("allow promotion codes"), default=False)
    billing_address_collection = models.CharField(
        _("billing address"),
        max_length=16,
        choices=AddressCollection.choices,
        default=AddressCollection.AUTO,
        help_text=_("“required” asks every customer for a full billing address."),
    )
    tax_id_collection = models.BooleanField(_("collect tax ID"), default=False)
    phone_number_collection = models.BooleanField(_("collect phone number"), default=False)
    trial_period_days = models.PositiveIntegerField(
        _("trial days"), null=True, blank=True, help_text=_("Free days before the first charge (subscriptions only).")
    )
    # Where the customer goes once paid; blank: our thank-you page (/c/<session>/done).
    after_completion_url = models.CharField(
        _("after payment, go to"),
        max_length=2048,
        blank=True,
        help_text=_("A page of your website (https://…). Leave empty to show our thank-you page."),
    )
    updated = models.DateTimeField(default=clock.now, verbose_name=_("updated"))

    class Meta:
        ordering = ["-id"]
        verbose_name = _("Checkout link")
        verbose_name_plural = _("Checkout links")

    def __str__(self) -> str:
        return self.name or self.id

    @property
    def path(self) -> str:
        return f"/l/{self.slug}"


class CheckoutLinkItem(TenantModel):
    link = models.ForeignKey(CheckoutLink, on_delete=models.CASCADE, related_name="items", verbose_name=_("link"))
    price = models.ForeignKey("billing.Price", verbose_name=_("price"), on_delete=models.PROTECT, related_name="+")
    quantity = models.PositiveIntegerField(_("quantity"), default=1)
    adjustable_quantity = models.BooleanField(_("customer may change the quantity"), default=False)
    minimum = models.PositiveIntegerField(_("minimum"), null=True, blank=True)
    maximum = models.PositiveIntegerField(_("maximum"), null=True, blank=True)
    position = models.PositiveSmallIntegerField(default=0, verbose_name=_("position"))

    class Meta:
        ordering = ["position", "id"]
        verbose_name = _("price")
        verbose_name_plural = _("prices")

    def __str__(self) -> str:
        return f"{self.price_id} × {self.quantity}"

    @property
    def adjustable(self) -> dict | None:
        """Stripe's ``adjustable_quantity`` for the session's line item."""
        if not self.adjustable_quantity:
            return None
        bounds = {"minimum": self.minimum, "maximum": self.maximum}
        return {"enabled": True, **{key: value for key, value in bounds.items() if value is not None}}
