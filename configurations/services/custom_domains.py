"""Custom domain services: set, remove and verify (by a DNS TXT record) the hostname an account's portal uses."""

import secrets

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _

from billing import audit, clock
from billing.audit import Actor
from billing.exceptions import InvalidRequest, StateConflict
from billing.models import Account
from billing.services.common import lock_account
from configurations import validators
from configurations.models import CustomDomain
from configurations.services.params import invalid


def custom_domain_set(*, account: Account, hostname: str, actor: Actor) -> CustomDomain:
    """Set the account's one custom domain; a new hostname needs verifying again (with a new token)."""
    try:
        hostname = validators.normalize_hostname(hostname)
    except ValidationError as error:
        raise InvalidRequest(" ".join(error.messages), param="hostname")
    try:
        with transaction.atomic():
            lock_account(account.pk)
            domain = CustomDomain.objects.select_for_update(no_key=True).filter(account=account).first()
            if domain is not None and domain.hostname == hostname:
                return domain
            if CustomDomain.objects.filter(hostname=hostname).exclude(account=account).exists():
                raise _hostname_taken()
            creating = domain is None
            if creating:
                domain = CustomDomain(account=account)
            domain.hostname = hostname
            domain.verification_token = secrets.token_urlsafe(24)
            domain.verified_at = domain.last_checked_at = None
            domain.last_error = ""
            domain.save()
            audit.record(
                actor, "custom_domain.create" if creating else "custom_domain.update", domain, {"hostname": hostname}
            )
            return domain
    except IntegrityError:
        raise _hostname_taken()


def _hostname_taken() -> InvalidRequest:
    return invalid("hostname", _("This hostname is already used by another account."), "resource_already_exists")


def custom_domain_remove(*, account: Account, actor: Actor) -> None:
    with transaction.atomic():
        domain = CustomDomain.objects.select_for_update(no_key=True).filter(account=account).first()
        if domain is None:
            return
        audit.record(actor, "custom_domain.delete", domain, {"hostname": domain.hostname})
        domain.delete()


def _default_resolver():
    import dns.resolver

    resolver = dns.resolver.Resolver()
    resolver.lifetime = 5.0
    return resolver


def _txt_values(resolver, name: str) -> list[str]:
    answer = resolver.resolve(name, "TXT")
    return [b"".join(record.strings).decode("utf-8", "replace").strip() for record in answer]


def custom_domain_verify(*, domain: CustomDomain, actor: Actor, resolver=None) -> CustomDomain:
    """Look up the TXT record that proves control of the hostname and record the outcome.

    ``resolver`` is anything with dnspython's ``resolve(name, rdtype)`` (tests pass a fake). A missing or
    wrong record un-verifies the domain (control may have moved); a DNS failure leaves the state as it was.
    """
    import dns.exception
    import dns.resolver

    resolver = resolver or _default_resolver()
    verified: bool | None
    try:
        values = _txt_values(resolver, domain.record_name)
    except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
        verified, message = False, _("No TXT record found at %(name)s.") % {"name": domain.record_name}
    except dns.exception.DNSException as error:
        verified, message = (
            None,
            _("The DNS lookup failed (%(error)s); try again later.") % {"error": type(error).__name__},
        )
    else:
        verified = domain.record_value in values
        message = (
            ""
            if verified
            else _("The TXT record at %(name)s does not contain %(value)s.")
            % {
                "name": domain.record_name,
                "value": domain.record_value,
            }
        )
    with transaction.atomic():
        current = CustomDomain.objects.select_for_update(no_key=True).filter(pk=domain.pk).first()
        if current is None or current.verification_token != domain.verification_token:
            raise StateConflict(_("The custom domain changed while it was being checked; check it again."))
        now = clock.now()
        current.last_checked_at = now
        current.last_error = message[:500]
        was_verified = current.is_verified
        if verified is True and not was_verified:
            current.verified_at = now
        elif verified is False:
            current.verified_at = None
        current.save(update_fields=["last_checked_at", "last_error", "verified_at"])
        audit.record(
            actor,
            "custom_domain.verify",
            current,
            {"hostname": current.hostname, "verified": current.is_verified, "result": message},
        )
        return current
