"""Account services: create and update a merchant account, its API keys and its staff memberships."""

import re

from django.contrib.auth import get_user_model, password_validation
from django.contrib.auth.models import Group, Permission
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils.translation import gettext_lazy as _

from billing import audit, money
from billing.audit import Actor
from billing.exceptions import InvalidRequest
from billing.models import Account, ApiKey, Membership
from billing.services.common import lock
from billing.services.door import service

STAFF_GROUP = "Merchant staff"
STAFF_APPS = ("billing", "configurations", "webhooks", "portal", "checkout")
# Invoice numbers read PREFIX-0001: letters and digits, as Stripe's invoice prefixes.
INVOICE_PREFIX = re.compile(r"^[A-Z0-9]{3,12}$")


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


@service
def account_create(
    *,
    name: str,
    plan: str = Account.Plan.STARTER,
    staff_email: str | None = None,
    staff_password: str | None = None,
    actor: Actor | None = None,
):
    """``staff_password`` (checked by the password validators before anything is written) is set on the staff user."""
    name = (name or "").strip()
    if not name:
        raise InvalidRequest(_("An account needs a name."), param="name")
    if plan not in Account.Plan.values:
        raise InvalidRequest(f"Unknown plan {plan!r}: choose starter or billing.", param="plan")
    if staff_password is not None:
        if not staff_email:
            raise InvalidRequest("A password needs a staff user: give --staff EMAIL too.", param="staff_password")
        try:
            password_validation.validate_password(
                staff_password, get_user_model()(username=staff_email, email=staff_email)
            )
        except ValidationError as error:
            raise InvalidRequest(" ".join(error.messages), param="staff_password") from None
    account = Account.objects.create(name=name, plan=plan)
    _test_key, test_secret = api_key_create(account=account, livemode=False, name="Default test key")
    _live_key, live_secret = api_key_create(account=account, livemode=True, name="Default live key")
    user = None
    if staff_email:
        user = staff_user_add(account=account, email=staff_email, password=staff_password)
    audit.record(actor or Actor.system("command line"), "account.create", account)
    return account, test_secret, live_secret, user


def staff_user_add(*, account: Account, email: str, password: str | None = None):
    User = get_user_model()
    user = _staff_user_find(email)
    if user is None:
        user = User.objects.create_user(username=email, email=email)
        user.set_unusable_password()
    if password is not None:
        user.set_password(password)
    user.is_staff = True
    user.save()
    user.groups.add(staff_group())
    Membership.objects.get_or_create(user=user, account=account)
    return user


@service
def account_update(
    *,
    account: Account,
    actor: Actor,
    name: str | None = None,
    plan: str | None = None,
    invoice_prefix: str | None = None,
    country: str | None = None,
    default_currency: str | None = None,
) -> Account:
    """``None`` leaves a field as it is. The invoice prefix applies to invoices finalized from now on."""
    changes = {}
    if country is not None:
        changes["country"] = country.strip().upper()
        if changes["country"] and not re.fullmatch(r"[A-Z]{2}", changes["country"]):
            raise InvalidRequest(_("Invalid country: use a two-letter ISO code such as DE."), param="country")
    if default_currency is not None:
        changes["default_currency"] = default_currency.strip().lower()
        if changes["default_currency"] and not money.is_supported(changes["default_currency"]):
            raise InvalidRequest(
                _("Invalid default_currency: %(currency)s is not a supported currency."),
                params={"currency": repr(default_currency)},
                param="default_currency",
            )
    if name is not None:
        changes["name"] = name.strip()
        if not changes["name"]:
            raise InvalidRequest(_("An account needs a name."), param="name")
    if plan is not None:
        if plan not in Account.Plan.values:
            raise InvalidRequest(f"Unknown plan {plan!r}: choose starter or billing.", param="plan")
        changes["plan"] = plan
    if invoice_prefix is not None:
        changes["invoice_prefix"] = invoice_prefix.strip().upper()
        if not INVOICE_PREFIX.match(changes["invoice_prefix"]):
            raise InvalidRequest(
                _("Invalid invoice_prefix: use 3 to 12 letters (A-Z) and digits."), param="invoice_prefix"
            )
    account = lock(Account, account.pk)
    changed = {key: value for key, value in changes.items() if getattr(account, key) != value}
    if not changed:
        return account
    for key, value in changed.items():
        setattr(account, key, value)
    try:
        with transaction.atomic():
            account.save(update_fields=list(changed))
    except IntegrityError:  # the one unique column
        raise InvalidRequest(_("Another account already uses this invoice prefix."), param="invoice_prefix")
    audit.record(actor, "account.update", account, changed)
    return account


@service
def membership_add(*, account: Account, email: str, actor: Actor) -> Membership:
    """Make the user with ``email`` (created without a password if there is none) staff of ``account``."""
    email = (email or "").strip()
    if not email:
        raise InvalidRequest(_("A staff member needs an email address."), param="email")
    user = staff_user_add(account=account, email=email)
    membership = Membership.objects.select_related("user", "account").get(user=user, account=account)
    audit.record(actor, "membership.create", membership, {"user": user.get_username()})
    return membership


@service
def membership_delete(*, membership: Membership, actor: Actor) -> None:
    """The user keeps their login; they no longer see the account's rows in the admin."""
    audit.record(actor, "membership.delete", membership, {"user": membership.user.get_username()})
    Membership.objects.filter(pk=membership.pk).delete()


def staff_user_has_password(email: str) -> bool:
    """Whether the staff user ``--staff EMAIL`` would reuse can already log in with a password."""
    user = _staff_user_find(email)
    return user is not None and user.has_usable_password()


def _staff_user_find(email: str):
    User = get_user_model()
    return User.objects.filter(email__iexact=email).first() or User.objects.filter(username__iexact=email).first()
