"""Custom domains: hostname rules, DNS verification through an injected resolver, and the selectors the portal uses."""

from types import SimpleNamespace

import dns.exception
import dns.resolver
import pytest
from django.core.exceptions import ValidationError

from billing.audit import Actor
from billing.exceptions import InvalidRequest
from billing.models import AuditEntry
from configurations.models import CustomDomain
from configurations.selectors import account_for_host, verified_domain_for
from configurations.services.custom_domains import custom_domain_remove, custom_domain_set, custom_domain_verify
from configurations.validators import display_hostname, normalize_hostname

ACTOR = Actor.system("test")


class FakeResolver:
    """dnspython's ``resolve(name, rdtype)`` over a dict of TXT records; ``error`` is raised instead if set."""

    def __init__(self, records: dict[str, list[str]] | None = None, error: Exception | None = None):
        self.records = records or {}
        self.error = error
        self.queries: list[tuple[str, str]] = []

    def resolve(self, name, rdtype):
        self.queries.append((name, rdtype))
        if self.error is not None:
            raise self.error
        if name not in self.records:
            raise dns.resolver.NXDOMAIN()
        # A TXT record's value may arrive split into several character-strings.
        return [
            SimpleNamespace(strings=tuple(value[i : i + 10].encode() for i in range(0, len(value), 10)))
            for value in self.records[name]
        ]


# ---------------------------------------------------------------------------------------------- hostnames


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("Billing.Example.COM", "billing.example.com"),
        ("billing.example.com.", "billing.example.com"),
        ("  portal.acme.co.uk ", "portal.acme.co.uk"),
        ("abrechnung.bücher.de", "abrechnung.xn--bcher-kva.de"),
    ],
)
def test_hostnames_are_normalised_to_ascii(given, expected):
    assert normalize_hostname(given) == expected


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "*.example.com",
        "192.0.2.10",
        "[2001:db8::1]",
        "2001:db8::1",
        "localhost",
        "intranet",
        "https://billing.example.com",
        "billing.example.com:8443",
        "billing.example.com/portal",
        "bad_host.example.com",
        "-leading.example.com",
        "a" * 64 + ".example.com",
        "example.123",
        "testserver",
    ],
)
def test_bad_hostnames_are_refused(bad):
    with pytest.raises(ValidationError):
        normalize_hostname(bad)


def test_our_own_host_is_refused(settings):
    settings.PORTAL_BASE_URL = "https://portal.billing-host.example"
    for ours in ("portal.billing-host.example", "acme.portal.billing-host.example"):
        with pytest.raises(ValidationError):
            normalize_hostname(ours)
    assert normalize_hostname("billing-host.example") == "billing-host.example"


def test_unicode_is_shown_back():
    assert display_hostname("abrechnung.xn--bcher-kva.de") == "abrechnung.bücher.de"


# ---------------------------------------------------------------------------------------------- verification


def test_set_verify_and_serve(merchant):
    domain = custom_domain_set(account=merchant, hostname="Billing.Alpha.example", actor=ACTOR)
    assert domain.hostname == "billing.alpha.example" and not domain.is_verified
    assert domain.record_name == "_billing-portal.billing.alpha.example"
    assert verified_domain_for(merchant) is None and account_for_host("billing.alpha.example") is None

    resolver = FakeResolver({domain.record_name: ["v=spf1 -all", domain.record_value]})
    domain = custom_domain_verify(domain=domain, actor=ACTOR, resolver=resolver)
    assert resolver.queries == [("_billing-portal.billing.alpha.example", "TXT")]
    assert domain.is_verified and domain.last_error == ""
    assert verified_domain_for(merchant) == "billing.alpha.example"
    for host in ("billing.alpha.example", "BILLING.alpha.example:443", "billing.alpha.example."):
        assert account_for_host(host) == merchant
    for host in ("", "alpha.example", "[::1]:8000", "evil.billing.alpha.example", "not a host"):
        assert account_for_host(host) is None
    assert AuditEntry.objects.filter(action="custom_domain.verify", object_type="customdomain").exists()


def test_a_wrong_or_missing_record_does_not_verify(merchant):
    domain = custom_domain_set(account=merchant, hostname="billing.alpha.example", actor=ACTOR)
    wrong = FakeResolver({domain.record_name: ["billing-portal-verification=someone-elses-token"]})
    domain = custom_domain_verify(domain=domain, actor=ACTOR, resolver=wrong)
    assert not domain.is_verified and "does not contain" in domain.last_error
    domain = custom_domain_verify(domain=domain, actor=ACTOR, resolver=FakeResolver({}))
    assert not domain.is_verified and "No TXT record" in domain.last_error
    assert domain.last_checked_at is not None


def test_removing_the_record_unverifies_but_a_dns_outage_does_not(merchant):
    domain = custom_domain_set(account=merchant, hostname="billing.alpha.example", actor=ACTOR)
    domain = custom_domain_verify(
        domain=domain, actor=ACTOR, resolver=FakeResolver({domain.record_name: [domain.record_value]})
    )
    outage = FakeResolver(error=dns.exception.Timeout())
    domain = custom_domain_verify(domain=domain, actor=ACTOR, resolver=outage)
    assert domain.is_verified and "try again" in domain.last_error
    domain = custom_domain_verify(domain=domain, actor=ACTOR, resolver=FakeResolver(error=dns.resolver.NoAnswer()))
    assert not domain.is_verified and account_for_host("billing.alpha.example") is None


def test_a_new_hostname_needs_verifying_again(merchant):
    domain = custom_domain_set(account=merchant, hostname="billing.alpha.example", actor=ACTOR)
    token = domain.verification_token
    domain = custom_domain_verify(
        domain=domain, actor=ACTOR, resolver=FakeResolver({domain.record_name: [domain.record_value]})
    )
    same = custom_domain_set(account=merchant, hostname="BILLING.alpha.example", actor=ACTOR)
    assert same.is_verified and same.verification_token == token
    moved = custom_domain_set(account=merchant, hostname="portal.alpha.example", actor=ACTOR)
    assert not moved.is_verified and moved.verification_token != token
    assert CustomDomain.objects.filter(account=merchant).count() == 1
    assert account_for_host("billing.alpha.example") is None


def test_one_hostname_belongs_to_one_account(merchant, other_merchant):
    custom_domain_set(account=merchant, hostname="billing.alpha.example", actor=ACTOR)
    with pytest.raises(InvalidRequest) as error:
        custom_domain_set(account=other_merchant, hostname="Billing.Alpha.example", actor=ACTOR)
    assert error.value.param == "hostname"
    with pytest.raises(InvalidRequest) as error:
        custom_domain_set(account=other_merchant, hostname="10.0.0.1", actor=ACTOR)
    assert error.value.param == "hostname"


def test_remove(merchant):
    custom_domain_set(account=merchant, hostname="billing.alpha.example", actor=ACTOR)
    custom_domain_remove(account=merchant, actor=ACTOR)
    assert not CustomDomain.objects.exists()
    assert AuditEntry.objects.filter(action="custom_domain.delete").exists()
