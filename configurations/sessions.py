"""Creating portal sessions (``POST /v1/billing_portal/sessions``, the admin's preview, login links): the rules a
session must meet, checked here once for every caller; the portal's pages only redeem and use them."""

import datetime as dt

from django.conf import settings

from billing import audit, clock, events
from billing.audit import Actor
from billing.exceptions import InvalidRequest, LiveModeNotAllowed, NotFound
from billing.gateways import gateway_for
from billing.models import Account, Customer
from billing.services.door import service
from configurations import flows
from configurations.models import PortalConfiguration, PortalSession, digest, new_secret
from configurations.representations import portal_session as render_session
from configurations.selectors import configuration_for_customer, verified_domain_for

SESSION_TOKEN_TTL = dt.timedelta(minutes=5)
# The audit entry of a staff member choosing to act as the customer: the portal names them in what they do.
ACT_AS_CUSTOMER = "portal_session.act_as_customer"
# Stripe's locale enum for sessions (identical in its 2022 and 2026 specs).
LOCALES = [
    "auto",
    "bg",
    "cs",
    "da",
    "de",
    "el",
    "en",
    "en-AU",
    "en-CA",
    "en-GB",
    "en-IE",
    "en-IN",
    "en-NZ",
    "en-SG",
    "es",
    "es-419",
    "et",
    "fi",
    "fil",
    "fr",
    "fr-CA",
    "hr",
    "hu",
    "id",
    "it",
    "ja",
    "ko",
    "lt",
    "lv",
    "ms",
    "mt",
    "nb",
    "nl",
    "pl",
    "pt",
    "pt-BR",
    "ro",
    "ru",
    "sk",
    "sl",
    "sv",
    "th",
    "tr",
    "vi",
    "zh",
    "zh-HK",
    "zh-TW",
]


def portal_base_url(account: Account) -> str:
    domain = verified_domain_for(account)
    return f"https://{domain}" if domain else settings.PORTAL_BASE_URL


def session_url(session: PortalSession, token: str) -> str:
    return f"{portal_base_url(session.account)}/p/session/{token}"


def _token(livemode: bool) -> str:
    return ("live_" if livemode else "test_") + new_secret()


def _configuration(*, customer: Customer, configuration: PortalConfiguration | None) -> PortalConfiguration:
    if configuration is not None:
        if (configuration.account_id, configuration.livemode) != (customer.account_id, customer.livemode):
            raise NotFound(f"No such configuration: '{configuration.id}'", param="configuration")
        if not configuration.active:
            raise InvalidRequest(
                f"The configuration {configuration.id} is inactive; activate it or use another configuration.",
                param="configuration",
            )
        return configuration
    found = configuration_for_customer(customer=customer)
    if found is None:
        mode = "live" if customer.livemode else "test"
        raise InvalidRequest(
            f"No configuration provided and your {mode} mode default configuration has not been created. Provide a "
            f"configuration or create your default by saving your customer portal settings in {mode} mode at "
            f"{settings.PORTAL_BASE_URL}/admin/configurations/portalconfiguration/.",
            param="configuration",
        )
    return found


def _check_live_links(configuration: PortalConfiguration) -> None:
    # The return URL may come with the request; the legal links only from the configuration.
    missing = [name for name in configuration.missing_live_links() if name != "default_return_url"]
    if missing:
        raise InvalidRequest(
            f"A live mode portal needs terms of service and privacy policy links; configuration {configuration.id} "
            f"has no business_profile[{missing[0]}]. Set business_profile[terms_of_service_url] and "
            "business_profile[privacy_policy_url] on the configuration.",
            param="configuration",
        )


@service
def portal_session_create(
    *,
    customer: Customer,
    actor: Actor,
    configuration: PortalConfiguration | None = None,
    return_url: str | None = None,
    locale: str | None = None,
    flow_data: dict | None = None,
    origin: str = PortalSession.Origin.API,
) -> tuple[PortalSession, str]:
    """Returns the session and its URL (the only time the token exists in clear).

    A session from an emailed login link may have no return URL (the portal then shows no way back)."""
    if customer.livemode and not customer.account.allows_livemode():
        # Checked first: no configuration change can help a starter account in live mode.
        raise LiveModeNotAllowed(
            "The customer portal is available in live mode on the billing plan only; this account is on the "
            "starter plan. To upgrade, ask the operator of this server to switch the account to the billing plan "
            "(admin: Accounts, Plan); until then, use a test mode key.",
        )
    configuration = _configuration(customer=customer, configuration=configuration)
    if customer.livemode:
        _check_live_links(configuration)
        # Customers pay and add cards in the portal: live mode needs the account's processor (ProcessorNotConfigured
        # names the setting).
        gateway_for(customer.account_id, True)
    if return_url:
        return_url = flows.check_url(return_url, param="return_url")
    else:
        return_url = configuration.default_return_url
        if not return_url and origin != PortalSession.Origin.LOGIN_LINK:
            raise InvalidRequest(
                "Missing required param: return_url. Provide a return_url or set default_return_url on the "
                "portal configuration.",
                param="return_url",
                code="parameter_missing",
            )
    if locale and locale not in LOCALES:
        raise InvalidRequest(f"Invalid locale: '{locale}' is not a supported locale.", param="locale")
    flow = flows.clean_flow(customer=customer, configuration=configuration, data=flow_data)
    token = _token(customer.livemode)
    now = clock.now()
    session = PortalSession.objects.create(
        account=customer.account,
        livemode=customer.livemode,
        customer=customer,
        configuration=configuration,
        return_url=return_url or "",
        locale=locale or "",
        flow=flow,
        origin=origin,
        token_digest=digest(token),
        token_expires_at=now + SESSION_TOKEN_TTL,
        created=now,
    )
    events.record(type="billing_portal.session.created", obj=session, data=render_session(session, url=None))
    audit.record(actor, "portal_session.create", session)
    if origin == PortalSession.Origin.STAFF:
        # Staff chose to make real changes in the customer's name: on record with who they are.
        audit.record(actor, ACT_AS_CUSTOMER, session, {"customer": customer.pk})
    return session, session_url(session, token)
