"""Account services: create a merchant account with its API keys and staff."""

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from django.db import transaction

from billing import audit
from billing.audit import Actor
from billing.exceptions import InvalidRequest
from billing.models import Account, ApiKey, Membership

STAFF_GROUP = "Merchant staff"
STAFF_APPS = ("billing", "configurations", "webhooks", "portal")


def staff_group() -> Group:
    group, _ = Group.objects.get_or_create(name=STAFF_GROUP)
    perms = Permission.objects.filter(content_type__app_label__in=STAFF_APPS).exclude(
        content_type__model__in=["account", "membership", "apikey"]
    )
    group.permissions.add(*perms)
    # Staff may look at their account, its members and (redacted) keys; changing them is the operator's.
    group.permissions.add(
        *Permission.objects.filter(
            content_type__app_label="billing", codename__in=["view_account", "view_membership", "view_apikey"]
        )
    )
    return group


def api_key_create(*, account: Account, livemode: bool, name: str = "") -> tuple[ApiKey, str]:
    """Returns the row and the secret; the secret is not stored and cannot be shown again."""
    secret = ApiKey.generate_secret(livemode=livemode)
    key = ApiKey.objects.create(
        account=account,
        livemode=livemode,
        name=name,
        key_hash=ApiKey.hash(secret),
        redacted=f"{secret[:8]}…{secret[-4:]}",
    )
    return key, secret


def account_create(
    *, name: str, plan: str = Account.Plan.STARTER, staff_email: str | None = None, actor: Actor | None = None
):
    name = (name or "").strip()
    if not name:
        raise InvalidRequest("An account needs a name.", param="name")
    if plan not in Account.Plan.values:
        raise InvalidRequest(f"Unknown plan {plan!r}: choose starter or billing.", param="plan")
    with transaction.atomic():
        account = Account.objects.create(name=name, plan=plan)
        _, test_secret = api_key_create(account=account, livemode=False, name="Default test key")
        _, live_secret = api_key_create(account=account, livemode=True, name="Default live key")
        user = None
        if staff_email:
            user = staff_user_add(account=account, email=staff_email)
        audit.record(actor or Actor.system("command line"), "account.create", account)
    return account, test_secret, live_secret, user


def staff_user_add(*, account: Account, email: str):
    User = get_user_model()
    user = User.objects.filter(email__iexact=email).first() or User.objects.filter(username__iexact=email).first()
    if user is None:
        user = User.objects.create_user(username=email, email=email)
        user.set_unusable_password()
    user.is_staff = True
    user.save()
    user.groups.add(staff_group())
    Membership.objects.get_or_create(user=user, account=account)
    return user
