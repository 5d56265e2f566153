"""Portal sessions in the browser (redeem once, keep alive) and login links (email, confirm)."""

import datetime as dt
import logging
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache
from django.core.mail import EmailMultiAlternatives
from django.db import transaction
from django.template.loader import render_to_string
from django.utils import translation

from billing import broker, clock, statements
from billing.audit import Actor
from billing.exceptions import BillingError, InvalidRequest, LiveModeNotAllowed, NotFound, ProcessorNotConfigured
from billing.models import Account, Customer, Invoice
from billing.representations import hosted_invoice_url
from configurations.models import PortalConfiguration, PortalSession, digest, new_secret
from configurations.selectors import branding_for
from configurations.sessions import portal_base_url, portal_session_create
from portal.locale_selection import DEFAULT_LOCALE, supported_locale
from portal.models import LoginLink

SESSION_IDLE_TIMEOUT = dt.timedelta(hours=1)
# A page view moves the session's last activity forward only when the recorded one is older than this (or is the
# redemption itself): one write a minute at most, not one per request. The idle timeout counts from the recorded
# activity, so a session may end up to this much short of an hour after the very last page.
SESSION_ACTIVITY_RESOLUTION = dt.timedelta(minutes=1)
LOGIN_LINK_TTL = dt.timedelta(minutes=10)
# Customers sharing one address get one email with a link each; more than this many is not a person's inbox.
LOGIN_LINKS_PER_EMAIL = 20

logger = logging.getLogger(__name__)


class LinkExpired(BillingError):
    """A session or login link that is unknown, used or too old; ``session`` is known when the link was real."""

    code = "link_expired"

    def __init__(
        self,
        message: str,
        *,
        session: PortalSession | None = None,
        return_url: str = "",
        configuration: PortalConfiguration | None = None,
    ):
        super().__init__(message)
        self.session = session
        self.return_url = return_url or (session.return_url if session else "")
        # Set for a real login link: its login page can send a new one.
        self.configuration = configuration


class TooManyAttempts(BillingError):
    code = "rate_limited"
    http_status = 429


@dataclass(frozen=True)
class Redeemed:
    session: PortalSession
    browser_key: str  # goes into the cookie; only its digest is stored


def _start(session: PortalSession, now: dt.datetime) -> Redeemed:
    browser_key = new_secret()
    session.redeemed_at = now
    session.last_activity_at = now
    session.browser_key_digest = digest(browser_key)
    session.save(update_fields=["redeemed_at", "last_activity_at", "browser_key_digest"])
    return Redeemed(session, browser_key)


def portal_session_redeem(*, token: str, account: Account | None = None) -> Redeemed:
    """Exchange the URL's token, once and within 5 minutes, for a browser key.

    ``account``: on a custom domain, only that account's sessions exist; another's token stays unused."""
    now = clock.now()
    with transaction.atomic():
        sessions = PortalSession.objects.select_for_update(of=("self",)).select_related("account")
        if account is not None:
            sessions = sessions.filter(account=account)
        session = sessions.filter(token_digest=digest(token or "")).first()
        if session is None:
            raise LinkExpired("This link is not valid.")
        if session.redeemed_at is not None or session.token_expires_at <= now or session.ended_at is not None:
            raise LinkExpired("This link has expired.", session=session)
        return _start(session, now)


def portal_session_for_browser(*, browser_key: str | None, locale: str | None = None) -> PortalSession | None:
    """The live session behind a browser's cookie, kept alive by this request; ``None`` once idle for an hour.

    ``locale``: a language the customer chose with the language switch, kept for the rest of the session."""
    if not browser_key:
        return None
    now = clock.now()
    # ``PortalSession.objects.select_related("account__branding", "customer", "configuration").filter(…).first()``,
    # a statement written once per process (every page asks it first). The account's branding too: every page
    # shows it. The digest is unique: no ORDER BY.
    found = statements.rows_where(
        PortalSession,
        "browser_key_digest",
        [digest(browser_key)],
        (),
        related=("account", "account__branding", "customer", "configuration"),
        missing=("ended_at",),
        bounds=(("last_activity_at", ">", now - SESSION_IDLE_TIMEOUT),),
        matching=(("customer__deleted", [False]),),  # deleting a customer closes their open portal sessions
        limit=1,
    )
    session = found[0] if found else None
    if session is None:
        return None
    changes = {}
    if session.last_activity_at == session.redeemed_at or now - session.last_activity_at >= SESSION_ACTIVITY_RESOLUTION:
        changes["last_activity_at"] = now
    if locale and locale != session.locale:
        changes["locale"] = locale
    if changes:
        PortalSession.objects.filter(pk=session.pk).update(**changes)
    for name, value in changes.items():
        setattr(session, name, value)
    return session


def portal_session_complete_flow(*, session: PortalSession) -> None:
    """After a deep-link flow's action: the rest of the portal opens only if the flow says portal_homepage."""
    now = clock.now()
    PortalSession.objects.filter(pk=session.pk, flow_completed_at__isnull=True).update(flow_completed_at=now)
    session.flow_completed_at = session.flow_completed_at or now


# Login links ---------------------------------------------------------------------------------------------------


def _throttle(key: str, limit: int, window: dt.timedelta) -> bool:
    """Count one attempt; ``True`` while within ``limit`` per ``window``."""
    seconds = int(window.total_seconds())
    bucket = int(clock.now().timestamp()) // seconds
    cache_key = f"portal-login:{key}:{bucket}"
    cache.add(cache_key, 0, seconds + 5)
    try:
        count = cache.incr(cache_key)
    except ValueError:
        cache.set(cache_key, 1, seconds + 5)
        count = 1
    return count <= limit


def login_link_request(
    *, configuration: PortalConfiguration, email: str, client_ip: str, locale: str | None = None
) -> None:
    """Count the attempt and queue the look-up and the email (``login_links_send``) as one task: the request does
    the same work, and the caller gives the same answer, whether or not the address belongs to a customer.

    Limits: per address and browser IP together (so a stranger elsewhere cannot lock a customer out), per IP
    (guessing many addresses), and a high cap per address over all IPs (a flood of emails to one inbox). The
    address counts only as a digest, so the cache holds no email addresses."""
    email = (email or "").strip()
    window = dt.timedelta(minutes=settings.PORTAL_LOGIN_RATE_WINDOW_MINUTES)
    email_key = digest(f"{configuration.account_id}:{configuration.livemode}:{email.lower()}")
    # In this order, stopping at the first refusal: attempts an IP is refused do not count towards the address's
    # cap, so one IP adds at most PORTAL_LOGIN_RATE_PER_EMAIL_AND_IP to it.
    allowed = (
        _throttle(f"ip:{client_ip}", settings.PORTAL_LOGIN_RATE_PER_IP, window)
        and _throttle(f"email-ip:{email_key}:{digest(client_ip)}", settings.PORTAL_LOGIN_RATE_PER_EMAIL_AND_IP, window)
        and _throttle(f"email:{email_key}", settings.PORTAL_LOGIN_RATE_PER_EMAIL, window)
    )
    if not allowed:
        raise TooManyAttempts("Too many login attempts. Please wait a few minutes and try again.")
    configuration_id = configuration.pk
    transaction.on_commit(lambda: _enqueue_login_links(configuration_id, email, locale))


def _enqueue_login_links(configuration_id: str, email: str, locale: str | None) -> None:
    """After the commit: the look-up and the email happen in a worker. A broker that cannot take the task is
    logged (without the address); the page answers the same either way (the customer may ask for another link)."""
    if not broker.send("portal.tasks.send_login_links", [configuration_id, email, locale]):
        logger.warning("a login link request for configuration %s was not queued", configuration_id)


def login_links_send(*, configuration: PortalConfiguration, email: str, fallback_locale: str | None = None) -> int:
    """Email ``email`` one message with a login link for each customer of the configuration's account and mode
    that has this address (several customers may share one: each gets its own link, newest first); returns the
    number of links. Nothing is sent for an unknown address or a login page that was switched off."""
    email = (email or "").strip()
    if not email or not (configuration.login_page_enabled and configuration.active):
        return 0
    customers = list(
        Customer.objects.filter(
            account_id=configuration.account_id, livemode=configuration.livemode, email__iexact=email, deleted=False
        )
        .select_related("account")
        .order_by("-created", "-id")[:LOGIN_LINKS_PER_EMAIL]
    )
    if not customers:
        return 0
    now = clock.now()
    base_url = portal_base_url(configuration.account)
    tokens = [new_secret() for _ in customers]
    with transaction.atomic():
        LoginLink.objects.bulk_create(
            LoginLink(
                configuration=configuration,
                customer=customer,
                token_digest=digest(token),
                created=now,
                expires_at=now + LOGIN_LINK_TTL,
            )
            for customer, token in zip(customers, tokens, strict=True)
        )
        links = [
            (customer, f"{base_url}/p/login-link/{token}") for customer, token in zip(customers, tokens, strict=True)
        ]
        transaction.on_commit(lambda: send_login_email(links, fallback_locale=fallback_locale))
    return len(links)


def _send_customer_email(customer: Customer, template: str, context: dict, *, fallback_locale: str | None) -> None:
    """An email to the customer in their language, with the merchant's name and button colours: the templates
    ``portal/email/<template>_subject.txt``, ``.txt`` and ``.html``."""
    preferred = customer.preferred_locales or []
    if isinstance(preferred, str):
        preferred = [preferred]
    candidates = (*map(supported_locale, preferred), supported_locale(fallback_locale))
    locale = next((code for code in candidates if code), DEFAULT_LOCALE)
    branding = branding_for(customer.account)
    context = {
        "business": branding.display_name if branding else customer.account.name,
        "accent": branding.primary_color if branding else "#4338ca",
        "accent_contrast": branding.button_text_color if branding else "#ffffff",
        **context,
    }
    with translation.override(locale):
        subject = render_to_string(f"portal/email/{template}_subject.txt", context).strip()
        text = render_to_string(f"portal/email/{template}.txt", context)
        html = render_to_string(f"portal/email/{template}.html", context)
    message = EmailMultiAlternatives(subject, text, settings.DEFAULT_FROM_EMAIL, [customer.email])
    message.attach_alternative(html, "text/html")
    message.send()


def send_login_email(links: list[tuple[Customer, str]], *, fallback_locale: str | None) -> None:
    """One email with the login link of each ``(customer, url)``, in the newest customer's language."""
    newest = links[0][0]
    context = {
        "url": links[0][1],
        "accounts": [{"customer": customer, "url": url} for customer, url in links] if len(links) > 1 else [],
        "minutes": int(LOGIN_LINK_TTL.total_seconds() // 60),
    }
    _send_customer_email(newest, "login_link", context, fallback_locale=fallback_locale)


def send_payment_action_email(invoice_id: str) -> None:
    """Ask the customer to confirm an invoice's payment with their bank (3-D Secure) on the hosted invoice page."""
    invoice = Invoice.objects.select_related("customer", "account").filter(pk=invoice_id).first()
    if invoice is None or invoice.status != Invoice.Status.OPEN or not invoice.customer.email:
        return
    context = {"url": hosted_invoice_url(invoice), "invoice": invoice}
    _send_customer_email(invoice.customer, "payment_action", context, fallback_locale=None)


def login_link_check(*, token: str, account: Account | None = None) -> LoginLink:
    """The link behind ``token`` if it can still be confirmed (GET shows a button; only POST uses it).

    ``account``: on a custom domain, only that account's links exist."""
    links = LoginLink.objects.select_related("configuration", "customer")
    if account is not None:
        links = links.filter(configuration__account=account)
    link = links.filter(token_digest=digest(token or "")).first()
    if link is None:
        raise LinkExpired("This link is not valid.")
    configuration = link.configuration
    usable = configuration.login_page_enabled and configuration.active and not link.customer.deleted
    if link.used_at is not None or link.expires_at <= clock.now() or not usable:
        raise LinkExpired(
            "This link has expired.", return_url=configuration.default_return_url, configuration=configuration
        )
    return link


def login_link_redeem(*, token: str, account: Account | None = None) -> Redeemed:
    """Use the link once: a portal session for its customer, started in this browser."""
    now = clock.now()
    with transaction.atomic():
        link = login_link_check(token=token, account=account)
        used = LoginLink.objects.filter(pk=link.pk, used_at__isnull=True).update(used_at=now)
        if not used:
            raise LinkExpired(
                "This link has expired.",
                return_url=link.configuration.default_return_url,
                configuration=link.configuration,
            )
        try:
            session, _url = portal_session_create(
                customer=link.customer,
                actor=Actor.customer(link.customer),
                configuration=link.configuration,
                origin=PortalSession.Origin.LOGIN_LINK,
            )
        except (InvalidRequest, NotFound, LiveModeNotAllowed, ProcessorNotConfigured) as error:
            raise LinkExpired(
                error.message, return_url=link.configuration.default_return_url, configuration=link.configuration
            ) from error
        session = PortalSession.objects.select_for_update(no_key=True).select_related("account").get(pk=session.pk)
        return _start(session, now)
