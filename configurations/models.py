"""Portal configurations (Stripe's billing_portal.configuration and our extensions), branding and custom domains."""

import hashlib
import secrets

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from billing import clock, ids
from billing.models.base import TenantModel
from configurations import validators

DEFAULT_CANCELLATION_OPTIONS = ["too_expensive", "missing_features", "switched_service", "unused", "other"]


def new_secret() -> str:
    """256 random bits, URL-safe."""
    return secrets.token_urlsafe(32)


def digest(secret: str) -> str:
    """Only digests are stored: a leaked table opens no portal."""
    return hashlib.sha256(secret.encode()).hexdigest()


def _default_cancellation_options() -> list[str]:
    return list(DEFAULT_CANCELLATION_OPTIONS)


class PortalConfiguration(TenantModel):
    """What the hosted portal offers: Stripe's fields as columns, our extensions beside them."""

    class AllowedUpdate(models.TextChoices):
        ADDRESS = "address", _("Billing address")
        EMAIL = "email", _("Email address")
        NAME = "name", _("Name")
        PHONE = "phone", _("Phone number")
        SHIPPING = "shipping", _("Shipping address")
        TAX_ID = "tax_id", _("Tax ID")

    class CancelMode(models.TextChoices):
        AT_PERIOD_END = "at_period_end", _("At the end of the billing period")
        IMMEDIATELY = "immediately", _("Immediately")

    class ProrationBehavior(models.TextChoices):
        ALWAYS_INVOICE = "always_invoice", _("Invoice prorations immediately")
        CREATE_PRORATIONS = "create_prorations", _("Create prorations for the next invoice")
        NONE = "none", _("No prorations")

    class CancellationReason(models.TextChoices):
        CUSTOMER_SERVICE = "customer_service", _("Customer service was less than expected")
        LOW_QUALITY = "low_quality", _("Quality was less than expected")
        MISSING_FEATURES = "missing_features", _("Some features are missing")
        OTHER = "other", _("Other reason")
        SWITCHED_SERVICE = "switched_service", _("I'm switching to a different service")
        TOO_COMPLEX = "too_complex", _("Ease of use was less than expected")
        TOO_EXPENSIVE = "too_expensive", _("It's too expensive")
        UNUSED = "unused", _("I don't use the service enough")

    class SubscriptionUpdate(models.TextChoices):
        PRICE = "price", _("Switch plans (price)")
        PROMOTION_CODE = "promotion_code", _("Apply promotion codes")
        QUANTITY = "quantity", _("Change quantity")

    class BillingCycleAnchor(models.TextChoices):
        NOW = "now", _("Restart the billing cycle now")
        UNCHANGED = "unchanged", _("Keep the billing cycle")

    class ScheduleCondition(models.TextChoices):
        DECREASING_ITEM_AMOUNT = "decreasing_item_amount", _("Downgrades (the item amount decreases)")
        SHORTENING_INTERVAL = "shortening_interval", _("Shorter billing intervals (e.g. yearly to monthly)")

    class TrialUpdateBehavior(models.TextChoices):
        CONTINUE_TRIAL = "continue_trial", _("Continue the trial")
        END_TRIAL = "end_trial", _("End the trial")

    class TransitionMode(models.TextChoices):
        # Extension: which price switches the portal offers (see configurations/transitions.py).
        ANY = "any", _("Any of the prices listed")
        UPGRADES_ONLY = "upgrades_only", _("Upgrades only (a higher amount per interval)")
        NO_LATERAL = "no_lateral", _("No switch between prices of equal amount per interval")
        GRAPH = "graph", _("Only the switches listed in the transition graph")

    class PauseBehavior(models.TextChoices):
        # The values of a subscription's pause_collection[behavior].
        KEEP_AS_DRAFT = "keep_as_draft", _("Keep invoices as drafts")
        MARK_UNCOLLECTIBLE = "mark_uncollectible", _("Mark invoices uncollectible")
        VOID = "void", _("Void invoices")

    id = models.CharField(
        primary_key=True,
        max_length=40,
        default=ids.factory("portal_configuration"),
        editable=False,
        verbose_name=_("id"),
    )
    active = models.BooleanField(_("active"), default=True)
    is_default = models.BooleanField(_("default"), default=False, editable=False)
    name = models.CharField(_("name"), max_length=256, blank=True, help_text=_("Only you see it."))
    updated = models.DateTimeField(_("updated"), default=clock.now, editable=False)
    metadata = models.JSONField(_("metadata"), default=dict, blank=True)

    # business_profile
    headline = models.CharField(_("headline"), max_length=60, blank=True)
    privacy_policy_url = models.URLField(_("privacy policy URL"), max_length=5000, blank=True)
    terms_of_service_url = models.URLField(_("terms of service URL"), max_length=5000, blank=True)
    default_return_url = models.URLField(
        _("default return URL"),
        max_length=5000,
        blank=True,
        help_text=_("Where the portal's “Return” link leads unless the session names another URL."),
    )

    # features[customer_update]
    customer_update_enabled = models.BooleanField(_("customers may update their details"), default=False)
    customer_update_allowed_updates = models.JSONField(_("details they may update"), default=list, blank=True)
    # features[invoice_history]
    invoice_history_enabled = models.BooleanField(_("show the invoice history"), default=False)
    # features[payment_method_update]
    payment_method_update_enabled = models.BooleanField(_("customers may manage payment methods"), default=False)
    # features[subscription_cancel]
    subscription_cancel_enabled = models.BooleanField(_("customers may cancel subscriptions"), default=False)
    subscription_cancel_mode = models.CharField(
        _("cancel"), max_length=16, choices=CancelMode.choices, default=CancelMode.AT_PERIOD_END
    )
    subscription_cancel_proration_behavior = models.CharField(
        _("prorations when cancelling immediately"),
        max_length=20,
        choices=ProrationBehavior.choices,
        default=ProrationBehavior.NONE,
    )
    cancellation_reason_enabled = models.BooleanField(_("ask why they cancel"), default=False)
    cancellation_reason_options = models.JSONField(
        _("reasons offered"), default=_default_cancellation_options, blank=True
    )
    # features[subscription_update]
    subscription_update_enabled = models.BooleanField(_("customers may change plans"), default=False)
    subscription_update_default_allowed_updates = models.JSONField(_("changes allowed"), default=list, blank=True)
    subscription_update_proration_behavior = models.CharField(
        _("prorations on plan changes"),
        max_length=20,
        choices=ProrationBehavior.choices,
        default=ProrationBehavior.NONE,
    )
    subscription_update_billing_cycle_anchor = models.CharField(
        _("billing cycle on plan changes"), max_length=16, choices=BillingCycleAnchor.choices, blank=True
    )
    schedule_at_period_end_conditions = models.JSONField(
        _("schedule these changes at the end of the period"), default=list, blank=True
    )
    trial_update_behavior = models.CharField(
        _("plan changes during a trial"),
        max_length=16,
        choices=TrialUpdateBehavior.choices,
        default=TrialUpdateBehavior.END_TRIAL,
    )
    # Extension: features[subscription_update][transitions]{mode, graph}.
    subscription_update_transitions_mode = models.CharField(
        _("allowed plan switches"), max_length=16, choices=TransitionMode.choices, default=TransitionMode.ANY
    )
    subscription_update_transitions_graph = models.JSONField(
        _("transition graph"),
        default=dict,
        blank=True,
        help_text=_(
            "For the graph mode: each price id maps to the price ids customers may switch to from it, e.g. "
            '{"price_basic": ["price_pro"], "price_pro": ["price_basic"]}.'
        ),
    )

    # login_page: the token is the capability in the login link; empty while the link is off.
    login_page_enabled = models.BooleanField(_("login link"), default=False)
    login_page_token = models.CharField(max_length=64, blank=True, editable=False, verbose_name=_("login page token"))

    # Extension: customers pause and resume payment collection themselves.
    pause_collection_enabled = models.BooleanField(_("customers may pause payments"), default=False)
    pause_collection_behavior = models.CharField(
        _("invoices while paused"), max_length=20, choices=PauseBehavior.choices, default=PauseBehavior.VOID
    )
    pause_collection_max_duration_days = models.PositiveIntegerField(
        _("longest pause (days)"), null=True, blank=True, help_text=_("Empty: customers choose freely.")
    )

    # Extension: the merchant's own words on the portal pages (Markdown, sanitised when rendered).
    custom_text_overview = models.TextField(_("overview page"), blank=True)
    custom_text_update = models.TextField(_("plan change page"), blank=True)
    custom_text_cancel = models.TextField(_("cancellation page"), blank=True)
    custom_text_login = models.TextField(_("login page"), blank=True)

    # Extension: sessions without an explicit configuration use the matching group with the highest priority.
    customer_group_metadata = models.JSONField(_("customer metadata to match"), default=dict, blank=True)
    customer_group_priority = models.IntegerField(_("priority"), default=0)

    # Extension: a customer without a subscription is offered "Start a new subscription", which opens a Checkout
    # session from this link for them (the portal itself never creates subscriptions).
    subscription_start_link = models.ForeignKey(
        "checkout.CheckoutLink",
        verbose_name=_("Checkout link for new subscriptions"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text=_("Customers without a subscription see “Start a new subscription”, which opens this link."),
    )

    class Meta:
        ordering = ["-id"]
        verbose_name = _("portal configuration")
        verbose_name_plural = _("portal configurations")
        constraints = [
            models.UniqueConstraint(
                fields=["account", "livemode"],
                condition=models.Q(is_default=True),
                name="portal_configuration_one_default_per_mode",
            ),
            models.CheckConstraint(
                condition=~models.Q(is_default=True, active=False), name="portal_configuration_default_is_active"
            ),
            models.UniqueConstraint(
                fields=["login_page_token"],
                condition=~models.Q(login_page_token=""),
                name="portal_configuration_login_token_unique",
            ),
            models.CheckConstraint(
                condition=models.Q(login_page_enabled=True) & ~models.Q(login_page_token="")
                | models.Q(login_page_enabled=False, login_page_token=""),
                name="portal_configuration_login_token_iff_enabled",
            ),
        ]
        indexes = [models.Index(fields=["account", "livemode", "active"], name="portal_config_tenant_active")]

    def __str__(self) -> str:
        return self.name or self.id

    @property
    def login_page_url(self) -> str | None:
        if not (self.login_page_enabled and self.login_page_token):
            return None
        # On the account's verified custom domain when it has one (select_related("account__custom_domain")
        # saves the two queries in lists).
        domain = getattr(self.account, "custom_domain", None)
        base = f"https://{domain.hostname}" if domain is not None and domain.is_verified else settings.PORTAL_BASE_URL
        return f"{base}/p/login/{self.login_page_token}"

    def missing_live_links(self) -> list[str]:
        """What a live portal needs before customers see it (DESIGN §6): return URL, terms and privacy links."""
        missing = []
        if not self.default_return_url:
            missing.append("default_return_url")
        if not self.terms_of_service_url:
            missing.append("terms_of_service_url")
        if not self.privacy_policy_url:
            missing.append("privacy_policy_url")
        return missing

    def matches_customer(self, customer_metadata: dict) -> bool:
        """A customer-group rule matches when every key/value of the rule is in the customer's metadata."""
        rule = self.customer_group_metadata or {}
        return bool(rule) and all(customer_metadata.get(key) == value for key, value in rule.items())


class PortalConfigurationProduct(models.Model):
    """One entry of ``features.subscription_update.products``: a product and the prices customers may switch to."""

    configuration = models.ForeignKey(
        PortalConfiguration, on_delete=models.CASCADE, related_name="products", verbose_name=_("configuration")
    )
    product = models.ForeignKey(
        "billing.Product", on_delete=models.PROTECT, related_name="+", verbose_name=_("product")
    )
    prices = models.ManyToManyField("billing.Price", related_name="+", verbose_name=_("prices"))
    position = models.PositiveSmallIntegerField(_("position"), default=0)
    adjustable_quantity_enabled = models.BooleanField(_("adjustable quantity"), default=False)
    adjustable_quantity_minimum = models.PositiveIntegerField(_("minimum quantity"), default=0)
    adjustable_quantity_maximum = models.PositiveIntegerField(_("maximum quantity"), null=True, blank=True)
    # Extension: an add-on product customers may add to (and remove from) a subscription that has other items.
    add_on = models.BooleanField(_("add-on"), default=False)

    class Meta:
        ordering = ["position", "id"]
        verbose_name = _("product customers may switch to")
        verbose_name_plural = _("products customers may switch to")
        constraints = [
            models.UniqueConstraint(fields=["configuration", "product"], name="portal_configuration_product_once"),
        ]

    def __str__(self) -> str:
        return str(self.product_id)


class CancellationOffer(models.Model):
    """Extension: one step of the cancellation offer ladder (``features.subscription_cancel.offers``), shown in order
    when a customer starts to cancel, each at most once per subscription."""

    class Type(models.TextChoices):
        PAUSE = "pause", _("Pause payments")
        SWITCH = "switch", _("Switch to a cheaper price")
        COUPON = "coupon", _("Discount (coupon)")

    id = models.CharField(
        primary_key=True, max_length=40, default=ids.factory("cancellation_offer"), editable=False, verbose_name=_("id")
    )
    configuration = models.ForeignKey(
        PortalConfiguration,
        on_delete=models.CASCADE,
        related_name="cancellation_offers",
        verbose_name=_("configuration"),
    )
    position = models.PositiveSmallIntegerField(_("position"), default=0)
    type = models.CharField(_("offer"), max_length=8, choices=Type.choices)
    pause_days = models.PositiveIntegerField(_("pause for (days)"), null=True, blank=True)
    price = models.ForeignKey(
        "billing.Price",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("cheaper price"),
    )
    coupon = models.ForeignKey(
        "billing.Coupon", on_delete=models.PROTECT, null=True, blank=True, related_name="+", verbose_name=_("coupon")
    )
    # Limits, both optional: a customer-group rule (metadata to match, as the configuration's own rule) and the
    # reasons chosen in the cancellation survey.
    customer_metadata = models.JSONField(_("only for customers with this metadata"), default=dict, blank=True)
    reasons = models.JSONField(_("only for these reasons"), default=list, blank=True)

    class Meta:
        ordering = ["position", "id"]
        verbose_name = _("cancellation offer")
        verbose_name_plural = _("cancellation offers")

    def __str__(self) -> str:
        return f"{self.get_type_display()} ({self.id})"

    @property
    def terms(self) -> dict:
        """What the offer gives, as recorded with its outcome: ``{"days": 30}``, ``{"price": …}``, ``{"coupon": …}``."""
        if self.type == self.Type.PAUSE:
            return {"days": self.pause_days}
        if self.type == self.Type.SWITCH:
            return {"price": self.price_id}
        return {"coupon": self.coupon.coupon_id if self.coupon_id else None}

    def applies_to(self, customer_metadata: dict, reason: str) -> bool:
        """Whether this customer, cancelling for ``reason`` ("" when none was chosen), is offered it."""
        rule = self.customer_metadata or {}
        if rule and not all(customer_metadata.get(key) == value for key, value in rule.items()):
            return False
        return not self.reasons or reason in self.reasons


class Branding(models.Model):
    """How the portal looks for one merchant account (both modes)."""

    class Font(models.TextChoices):
        SYSTEM = "system", _("System (default)")
        HUMANIST = "humanist", _("Humanist sans-serif")
        SERIF = "serif", _("Serif")
        ROUNDED = "rounded", _("Rounded")
        MONOSPACE = "monospace", _("Monospace")

    # No web fonts are downloaded: each choice is a stack of fonts people already have (CSP: font-src 'self').
    FONT_STACKS = {
        Font.SYSTEM: 'system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif',
        Font.HUMANIST: 'Seravek, "Gill Sans Nova", Ubuntu, Calibri, "DejaVu Sans", source-sans-pro, sans-serif',
        Font.SERIF: 'Charter, "Bitstream Charter", "Sitka Text", Cambria, Georgia, serif',
        Font.ROUNDED: 'ui-rounded, "Hiragino Maru Gothic ProN", Quicksand, Comfortaa, Manjari, "Arial Rounded MT", '
        "Calibri, source-sans-pro, sans-serif",
        Font.MONOSPACE: 'ui-monospace, "Cascadia Code", "Source Code Pro", Menlo, Consolas, "DejaVu Sans Mono", '
        "monospace",
    }

    account = models.OneToOneField(
        "billing.Account", on_delete=models.CASCADE, related_name="branding", verbose_name=_("account")
    )
    business_name = models.CharField(
        _("business name"), max_length=100, blank=True, help_text=_("Empty: the account's name.")
    )
    icon = models.FileField(
        _("icon"),
        upload_to="branding/icons/",
        blank=True,
        validators=[validators.validate_brand_image],
        help_text=_("Square PNG, JPEG or WebP, at most 512 KB."),
    )
    logo = models.FileField(
        _("logo"),
        upload_to="branding/logos/",
        blank=True,
        validators=[validators.validate_brand_image],
        help_text=_("PNG, JPEG or WebP, at most 512 KB."),
    )
    primary_color = models.CharField(
        _("brand colour"),
        max_length=7,
        default="#4338ca",
        validators=[validators.validate_hex_color],
        help_text=_("Buttons and links, e.g. #4338ca."),
    )
    background_color = models.CharField(
        _("background colour"), max_length=7, default="#ffffff", validators=[validators.validate_hex_color]
    )
    font = models.CharField(_("font"), max_length=16, choices=Font.choices, default=Font.SYSTEM)
    created = models.DateTimeField(_("created"), default=clock.now, editable=False)
    updated = models.DateTimeField(_("updated"), default=clock.now, editable=False)

    class Meta:
        verbose_name = _("branding")
        verbose_name_plural = _("branding")

    def __str__(self) -> str:
        return self.display_name

    @property
    def display_name(self) -> str:
        return self.business_name or self.account.name

    @property
    def font_stack(self) -> str:
        return self.FONT_STACKS.get(self.font, self.FONT_STACKS[self.Font.SYSTEM])

    @property
    def contrast_ratio(self) -> float:
        return validators.contrast_ratio(self.primary_color, self.background_color)

    @property
    def has_enough_contrast(self) -> bool:
        return self.contrast_ratio >= validators.MIN_CONTRAST

    @property
    def button_text_color(self) -> str:
        return validators.readable_text_color(self.primary_color)


def _verification_token() -> str:
    return secrets.token_urlsafe(24)


class CustomDomain(models.Model):
    """The one hostname an account serves its portal on; served only once DNS proves the merchant controls it."""

    RECORD_PREFIX = "_billing-portal"
    VALUE_PREFIX = "billing-portal-verification="

    account = models.OneToOneField(
        "billing.Account", on_delete=models.CASCADE, related_name="custom_domain", verbose_name=_("account")
    )
    hostname = models.CharField(
        _("hostname"), max_length=253, unique=True, help_text=_("For example billing.example.com.")
    )
    verification_token = models.CharField(
        max_length=64, default=_verification_token, editable=False, verbose_name=_("verification token")
    )
    verified_at = models.DateTimeField(_("verified"), null=True, blank=True, editable=False)
    last_checked_at = models.DateTimeField(_("last checked"), null=True, blank=True, editable=False)
    last_error = models.CharField(_("last result"), max_length=500, blank=True, editable=False)
    created = models.DateTimeField(_("created"), default=clock.now, editable=False)

    class Meta:
        verbose_name = _("custom domain")
        verbose_name_plural = _("custom domains")

    def __str__(self) -> str:
        return validators.display_hostname(self.hostname)

    @property
    def is_verified(self) -> bool:
        return self.verified_at is not None

    @property
    def record_name(self) -> str:
        """The DNS name of the TXT record that proves control of the hostname."""
        return f"{self.RECORD_PREFIX}.{self.hostname}"

    @property
    def record_value(self) -> str:
        return f"{self.VALUE_PREFIX}{self.verification_token}"


class PortalSession(TenantModel):
    """One ``billing_portal.session``: a single-use URL token, then a browser key for up to an hour of activity.

    Created here (by the API, the admin's preview or a login link) and used by the portal's pages; the table keeps
    the name it had when the model lived in the portal app."""

    class Origin(models.TextChoices):
        API = "api", _("API")
        LOGIN_LINK = "login_link", _("login link")
        # Staff opening the portal from the admin: read-only unless they chose to act as the customer.
        PREVIEW = "preview", _("staff preview (read-only)")
        STAFF = "staff", _("staff acting as the customer")

    id = models.CharField(
        primary_key=True, max_length=40, default=ids.factory("portal_session"), editable=False, verbose_name=_("id")
    )
    customer = models.ForeignKey(
        "billing.Customer", on_delete=models.CASCADE, related_name="+", verbose_name=_("customer")
    )
    configuration = models.ForeignKey(
        "configurations.PortalConfiguration",
        on_delete=models.PROTECT,
        related_name="sessions",
        verbose_name=_("configuration"),
    )
    return_url = models.URLField(max_length=5000, blank=True, verbose_name=_("return url"))
    locale = models.CharField(
        max_length=8, blank=True, verbose_name=_("locale")
    )  # as requested; "" or "auto" mean: choose per request
    flow = models.JSONField(null=True, blank=True, verbose_name=_("flow"))
    origin = models.CharField(max_length=16, choices=Origin.choices, default=Origin.API, verbose_name=_("origin"))
    token_digest = models.CharField(max_length=64, unique=True, verbose_name=_("token digest"))
    token_expires_at = models.DateTimeField(verbose_name=_("token expires at"))
    redeemed_at = models.DateTimeField(null=True, blank=True, verbose_name=_("redeemed at"))
    browser_key_digest = models.CharField(
        max_length=64, unique=True, null=True, blank=True, verbose_name=_("browser key digest")
    )
    last_activity_at = models.DateTimeField(null=True, blank=True, verbose_name=_("last activity at"))
    flow_completed_at = models.DateTimeField(null=True, blank=True, verbose_name=_("flow completed at"))
    ended_at = models.DateTimeField(null=True, blank=True, verbose_name=_("ended at"))

    class Meta:
        db_table = "portal_portalsession"
        verbose_name = _("portal session")
        verbose_name_plural = _("portal sessions")

    def __str__(self) -> str:
        return self.id

    @property
    def read_only(self) -> bool:
        return self.origin == self.Origin.PREVIEW
