"""Tenant-scoped reads of portal configurations, branding and custom domains (for the API and the portal)."""

from django.core.exceptions import ValidationError

from billing.models import Account, Customer
from configurations import validators
from configurations.models import Branding, CustomDomain, PortalConfiguration


def default_configuration(*, account: Account, livemode: bool) -> PortalConfiguration | None:
    return PortalConfiguration.objects.filter(account=account, livemode=livemode, is_default=True).first()


def configuration_for_customer(*, customer: Customer) -> PortalConfiguration | None:
    """The configuration a session without an explicit one uses: the active configuration whose customer-group
    rule matches the customer's metadata (highest priority first, then the oldest), else the default."""
    candidates = (
        PortalConfiguration.objects.filter(account_id=customer.account_id, livemode=customer.livemode, active=True)
        .exclude(customer_group_metadata={})
        .order_by("-customer_group_priority", "id")
    )
    metadata = customer.metadata or {}
    for configuration in candidates:
        if configuration.matches_customer(metadata):
            return configuration
    return PortalConfiguration.objects.filter(
        account_id=customer.account_id, livemode=customer.livemode, is_default=True
    ).first()


def configuration_for_login_token(*, token: str) -> PortalConfiguration | None:
    """The active configuration whose login link carries ``token``; a switched-off link finds nothing."""
    if not token or not isinstance(token, str):
        return None
    return (
        PortalConfiguration.objects.select_related("account")
        .filter(login_page_enabled=True, login_page_token=token, active=True)
        .first()
    )


def branding_for(account: Account) -> Branding | None:
    return Branding.objects.filter(account=account).first()


def verified_domain_for(account: Account) -> str | None:
    """The hostname the account's portal is served on, once verified; ``None`` means PORTAL_BASE_URL."""
    return (
        CustomDomain.objects.filter(account=account, verified_at__isnull=False)
        .values_list("hostname", flat=True)
        .first()
    )


def account_for_host(host: str) -> Account | None:
    """The account whose verified custom domain is ``host`` (a Host header: any case, maybe a port or a
    trailing dot, maybe Unicode); unverified and unknown hosts find nothing."""
    host = (host or "").strip().lower()
    if host.startswith("["):
        return None  # an IPv6 literal is never a custom domain
    host = host.rsplit(":", 1)[0] if ":" in host else host
    try:
        ascii_host = validators.normalize_hostname(host)
    except ValidationError:  # a malformed Host header simply matches no account
        return None
    domain = (
        CustomDomain.objects.select_related("account").filter(hostname=ascii_host, verified_at__isnull=False).first()
    )
    return domain.account if domain else None
