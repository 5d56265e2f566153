"""/v1/account (the key's merchant as Stripe's Account), /v1/accounts (Connect: none), /v1/balance_transactions.

There is no Connect here: ``/v1/accounts`` lists nothing. Money is held by the merchant's payment processor, not by
this server, so the account's balance ledger (``/v1/balance_transactions``: charges, refunds, fees, payouts) lives
there; the list here is always empty. The customer balance ledger is ``/v1/customers/{id}/balance_transactions``.
"""

from api import params as p
from api.router import operation
from billing.clock import to_unix
from billing.models import Membership
from configurations.models import Branding

TAGS = ["Account"]


def _email(account) -> str | None:
    membership = (
        Membership.objects.filter(account=account).exclude(user__email="").select_related("user").order_by("pk").first()
    )
    return membership.user.email if membership else None


def account_object(account) -> dict:
    """Stripe's ``account`` for a standard (non-Connect) account: what a merchant's own key retrieves."""
    branding = Branding.objects.filter(account=account).first()
    name = (branding.business_name if branding else "") or account.name
    return {
        "id": account.id,
        "object": "account",
        "business_profile": {
            "annual_revenue": None,
            "estimated_worker_count": None,
            "mcc": None,
            "minority_owned_business_designation": None,
            "name": name,
            "product_description": None,
            "support_address": None,
            "support_email": None,
            "support_phone": None,
            "support_url": None,
            "url": None,
        },
        "business_type": None,
        "capabilities": {},
        "charges_enabled": True,
        "controller": {"type": "account"},
        "country": account.country or None,
        "created": to_unix(account.created),
        "default_currency": account.default_currency or None,
        "details_submitted": True,
        "email": _email(account),
        "external_accounts": {
            "object": "list",
            "data": [],
            "has_more": False,
            "url": f"/v1/accounts/{account.id}/external_accounts",
        },
        "metadata": {},
        "payouts_enabled": False,
        "settings": {
            # Icon and logo are files at Stripe (``file_…`` ids), which this server does not serve.
            "branding": {
                "icon": None,
                "logo": None,
                "primary_color": (branding.primary_color or None) if branding else None,
                "secondary_color": None,
            },
            "dashboard": {"display_name": name, "timezone": "Etc/UTC"},
            "invoices": {"default_account_tax_ids": None, "hosted_payment_method_save": None},
        },
        "type": "standard",
    }


def _empty(url: str) -> dict:
    return {"object": "list", "data": [], "has_more": False, "url": url}


@operation(
    "GET", "/v1/account", params={"expand": p.EXPAND}, response="account", summary="Retrieve your account", tags=TAGS
)
def retrieve(ctx, params):
    return account_object(ctx.account)


@operation(
    "GET",
    "/v1/accounts",
    params={**p.LIST, "created": p.Range()},
    response="list[account]",
    summary="List connected accounts (always empty: there is no Connect)",
    tags=TAGS,
)
def list_(ctx, params):
    return _empty("/v1/accounts")


@operation(
    "GET",
    "/v1/balance_transactions",
    params={
        **p.LIST,
        "created": p.Range(),
        "currency": p.String(max_length=3),
        "payout": p.String(max_length=5000),
        "source": p.String(max_length=5000),
        "type": p.String(max_length=5000),
    },
    response="list[balance_transaction]",
    summary="List balance transactions (always empty: the payment processor holds the funds and their ledger)",
    tags=TAGS,
)
def balance_transactions(ctx, params):
    return _empty("/v1/balance_transactions")
