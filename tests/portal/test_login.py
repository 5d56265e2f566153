"""The no-code login page: an emailed single-use link, confirmed by a POST, the same answer for unknown emails."""

import datetime as dt
import re
from html import escape

import pytest
import time_machine
from django.core import mail
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from billing import broker
from billing.models import AuditEntry, Event
from configurations.models import PortalSession
from configurations.services.portal_configurations import configuration_set_login_page
from portal.models import LoginLink
from portal.tasks import send_login_links
from tests.factories.billing import AccountFactory, CustomerFactory
from tests.factories.portal import ACTOR, RETURN_URL, full_configuration

T0 = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)
LINK = re.compile(r"https?://[^\s\"<>]+/p/login-link/([A-Za-z0-9_-]{43})")


@pytest.fixture(autouse=True)
def traveller():
    with time_machine.travel(T0, tick=False) as traveller:
        yield traveller


@pytest.fixture
def configuration(db):
    account = AccountFactory(name="Acme Cloud")
    return full_configuration(
        account, login_page={"enabled": True}, custom_text={"login": "Questions? Write to **help@acme.example**."}
    )


@pytest.fixture
def customer(configuration):
    return CustomerFactory(account=configuration.account, email="ada@example.com", preferred_locales=["en"])


def login_path(configuration) -> str:
    return f"/p/login/{configuration.login_page_token}"


@pytest.fixture
def request_link(django_capture_on_commit_callbacks):
    """Posts an address to the login page; the email leaves on commit, which the test's transaction holds back."""

    def post(client: Client, configuration, email: str, **extra):
        with django_capture_on_commit_callbacks(execute=True):
            return client.post(login_path(configuration), {"email": email}, **extra)

    return post


def link_token(message) -> str:
    match = LINK.search(message.body)
    assert match, message.body
    return match.group(1)


# ---------------------------------------------------------------------------------------------- the login page


def test_login_page_shows_the_brand_the_custom_text_and_an_email_field(configuration):
    response = Client().get(login_path(configuration))
    assert response.status_code == 200
    html = response.content.decode()
    assert "Acme Cloud" in html
    assert "Sign in to the billing portal" in html
    assert "<strong>help@acme.example</strong>" in html
    assert 'type="email"' in html and 'name="email"' in html
    assert 'name="csrfmiddlewaretoken"' in html
    assert response["Cache-Control"] == "private, no-store"
    assert response["X-Frame-Options"] == "DENY"


def test_login_page_in_german_from_accept_language_or_the_locale_parameter(configuration):
    response = Client().get(login_path(configuration), headers={"accept-language": "de-DE,de;q=0.9"})
    assert 'lang="de"' in response.content.decode()
    assert "Im Abrechnungsportal anmelden" in response.content.decode()
    response = Client().get(login_path(configuration) + "?locale=de")
    assert "E-Mail-Adresse" in response.content.decode()
    assert response["Content-Language"] == "de"


def test_unknown_or_disabled_login_page_answers_404(configuration):
    assert Client().get("/p/login/not-a-token").status_code == 404
    token = configuration.login_page_token
    configuration_set_login_page(configuration=configuration, actor=ACTOR, enabled=False)
    assert Client().get(f"/p/login/{token}").status_code == 404
    assert Client().post(f"/p/login/{token}", {"email": "ada@example.com"}).status_code == 404


def test_known_email_gets_a_link_unknown_email_gets_the_same_answer_and_no_email(configuration, customer, request_link):
    client = Client()
    known = request_link(client, configuration, "ADA@example.com ")
    assert known.status_code == 303
    assert known["Location"] == login_path(configuration) + "?sent=1"
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == ["ada@example.com"]
    assert message.subject == "Your sign-in link for Acme Cloud"
    assert f"/p/login-link/{link_token(message)}" in message.alternatives[0][0]
    assert "10 minutes" in message.body

    unknown = request_link(Client(), configuration, "nobody@example.com")
    assert unknown.status_code == 303
    assert unknown["Location"] == known["Location"]
    assert unknown.content == known.content
    assert len(mail.outbox) == 1

    page = client.get(known["Location"])
    other_page = Client().get(unknown["Location"])
    assert page.content == other_page.content
    assert "If an account exists for that address, we've sent a link to sign in." in page.content.decode()
    assert "It works once, for 10 minutes." in page.content.decode()


def test_known_and_unknown_addresses_do_the_same_work_in_the_request(
    configuration, customer, monkeypatch, django_capture_on_commit_callbacks
):
    """The look-up and the email are one queued task: the request cannot tell (or time) a known address apart."""
    enqueued = []
    monkeypatch.setattr(broker, "send", lambda name, args, **options: enqueued.append((name, args)) or True)

    def work(email: str):
        enqueued.clear()
        with CaptureQueriesContext(connection) as queries, django_capture_on_commit_callbacks(execute=True):
            response = Client(REMOTE_ADDR="192.0.2.1").post(login_path(configuration), {"email": email})
        sql = [query["sql"] for query in queries.captured_queries]
        assert not any(email in statement for statement in sql)
        return response, sql, list(enqueued)

    known, known_sql, known_tasks = work(customer.email)
    unknown, unknown_sql, unknown_tasks = work("nobody@example.com")
    assert len(known_sql) == len(unknown_sql)
    assert known_sql == unknown_sql
    assert known_tasks == [("portal.tasks.send_login_links", [configuration.pk, customer.email, "en"])]
    assert unknown_tasks == [("portal.tasks.send_login_links", [configuration.pk, "nobody@example.com", "en"])]
    assert (known.status_code, known["Location"], known.content) == (
        unknown.status_code,
        unknown["Location"],
        unknown.content,
    )
    assert mail.outbox == [] and not LoginLink.objects.exists()

    # The task does the rest: a link for the known address, nothing for the unknown one.
    with django_capture_on_commit_callbacks(execute=True):
        send_login_links(*known_tasks[0][1])
        send_login_links(*unknown_tasks[0][1])
    assert [message.to for message in mail.outbox] == [[customer.email]]


def test_customers_sharing_an_address_get_one_email_with_a_link_to_each_account(configuration, traveller, request_link):
    older = CustomerFactory(account=configuration.account, email="team@example.com", name="Ada's old shop")
    traveller.shift(dt.timedelta(days=40))
    newer = CustomerFactory(account=configuration.account, email="Team@Example.com", name="Ada's new shop")
    request_link(Client(), configuration, "team@example.com")
    (message,) = mail.outbox
    assert message.to == ["Team@Example.com"]
    tokens = LINK.findall(message.body)
    assert len(tokens) == 2 and LINK.findall(message.alternatives[0][0]) == tokens
    assert "several customer accounts at Acme Cloud" in message.body
    assert "Ada's new shop · Customer since April 11, 2026" in message.body
    assert "Ada's old shop · Customer since March 2, 2026" in message.body
    for token, expected in zip(tokens, (newer, older), strict=True):
        browser = Client()
        # The confirmation page names the account the link opens.
        page = browser.get(f"/p/login-link/{token}").content.decode()
        assert f"<strong>{escape(expected.name)}</strong> ({expected.email})" in page
        earlier = list(PortalSession.objects.values_list("pk", flat=True))
        assert browser.post(f"/p/login-link/{token}").status_code == 303
        # The clock stands still here: the new session is the one that was not there before.
        (opened,) = PortalSession.objects.exclude(pk__in=earlier)
        assert opened.customer == expected


def test_the_link_only_reaches_customers_of_this_account_and_mode(configuration, customer, request_link):
    CustomerFactory(email="grace@example.com")  # another merchant's customer
    CustomerFactory(account=configuration.account, livemode=True, email="live@example.com")
    request_link(Client(), configuration, "grace@example.com")
    request_link(Client(), configuration, "live@example.com")
    assert mail.outbox == []
    assert not LoginLink.objects.exists()


def test_an_invalid_email_is_a_form_error(configuration):
    response = Client().post(login_path(configuration), {"email": "not an email"})
    assert response.status_code == 400
    html = response.content.decode()
    assert "Enter a valid email address." in html
    assert 'aria-invalid="true"' in html and 'aria-describedby="id_email-error"' in html


def test_german_email_for_a_customer_who_prefers_german(configuration, request_link):
    CustomerFactory(account=configuration.account, email="lena@example.de", preferred_locales=["de-DE"])
    request_link(Client(), configuration, "lena@example.de")
    (message,) = mail.outbox
    assert message.subject == "Ihr Anmeldelink für Acme Cloud"
    assert "Der Link funktioniert einmal, 10 Minuten lang." in message.body
    assert 'lang="de"' in message.alternatives[0][0]


def test_a_customer_without_preference_gets_the_email_in_the_login_pages_language(configuration, request_link):
    CustomerFactory(account=configuration.account, email="jo@example.com", preferred_locales=[])
    request_link(Client(), configuration, "jo@example.com", headers={"accept-language": "de"})
    assert mail.outbox[0].subject == "Ihr Anmeldelink für Acme Cloud"


# ---------------------------------------------------------------------------------------------- the emailed link


def test_get_shows_a_button_and_does_not_use_the_link_post_opens_the_portal(configuration, customer, request_link):
    request_link(Client(), configuration, customer.email)
    token = link_token(mail.outbox[0])
    scanner, browser = Client(), Client()
    for _ in range(3):
        page = scanner.get(f"/p/login-link/{token}")
        assert page.status_code == 200
    html = page.content.decode()
    assert "Continue to billing portal" in html and 'method="post"' in html and "csrfmiddlewaretoken" in html
    assert LoginLink.objects.get().used_at is None

    response = browser.post(f"/p/login-link/{token}")
    assert response.status_code == 303
    assert response["Location"] == "/p/"
    cookie = response.cookies["portal_session"]
    assert cookie["httponly"] and cookie["path"] == "/p/"
    session = PortalSession.objects.get()
    assert (session.origin, session.customer, session.configuration) == ("login_link", customer, configuration)
    assert session.redeemed_at is not None and session.return_url == RETURN_URL
    overview = browser.get("/p/")
    assert overview.status_code == 200
    assert customer.email in overview.content.decode()
    assert Event.objects.filter(type="billing_portal.session.created").count() == 1
    entry = AuditEntry.objects.get(action="portal_session.create")
    assert (entry.actor_type, entry.actor_id) == ("customer", customer.id)

    again = Client().post(f"/p/login-link/{token}")
    assert again.status_code == 410
    assert "This link has expired" in again.content.decode()
    assert f'href="{login_path(configuration)}"' in again.content.decode()
    assert scanner.get(f"/p/login-link/{token}").status_code == 410
    assert PortalSession.objects.count() == 1


def test_a_head_request_does_not_use_the_link(configuration, customer, request_link):
    """Link previewers send HEAD before anyone clicks: it answers like GET and leaves the link unused."""
    request_link(Client(), configuration, customer.email)
    token = link_token(mail.outbox[0])
    for _ in range(2):
        head = Client().head(f"/p/login-link/{token}")
        assert head.status_code == 200
        assert "portal_session" not in head.cookies
    assert LoginLink.objects.get().used_at is None
    assert PortalSession.objects.count() == 0
    assert Client().post(f"/p/login-link/{token}").status_code == 303


def test_the_link_expires_after_ten_minutes(configuration, customer, traveller, request_link):
    request_link(Client(), configuration, customer.email)
    token = link_token(mail.outbox[0])
    traveller.shift(dt.timedelta(minutes=9, seconds=59))
    assert Client().get(f"/p/login-link/{token}").status_code == 200
    traveller.shift(dt.timedelta(seconds=1))
    response = Client().post(f"/p/login-link/{token}")
    assert response.status_code == 410
    assert "This link has expired" in response.content.decode()
    assert not PortalSession.objects.exists()


def test_an_unknown_link_shows_the_expired_page(db):
    response = Client().post("/p/login-link/" + "x" * 43)
    assert response.status_code == 404
    assert "This link has expired" in response.content.decode()
    assert Client().get("/p/login-link/nope").status_code == 404


def test_a_link_stops_working_when_the_login_page_is_switched_off(configuration, customer, request_link):
    request_link(Client(), configuration, customer.email)
    token = link_token(mail.outbox[0])
    configuration_set_login_page(configuration=configuration, actor=ACTOR, enabled=False)
    assert Client().post(f"/p/login-link/{token}").status_code == 410
    assert not PortalSession.objects.exists()


def test_the_link_token_is_stored_only_as_a_digest(configuration, customer, request_link):
    request_link(Client(), configuration, customer.email)
    token = link_token(mail.outbox[0])
    link = LoginLink.objects.get()
    assert token not in str(link.__dict__)


# ---------------------------------------------------------------------------------------------- rate limits


def test_rate_limited_per_email_over_all_ips(configuration, customer, settings, request_link):
    settings.PORTAL_LOGIN_RATE_PER_EMAIL = 2
    for number in range(2):
        client = Client(REMOTE_ADDR=f"10.0.0.{number}")
        assert request_link(client, configuration, customer.email).status_code == 303
    response = request_link(Client(REMOTE_ADDR="10.0.0.9"), configuration, "Ada@Example.com")
    assert response.status_code == 429
    assert "Too many attempts" in response.content.decode()
    assert len(mail.outbox) == 2
    # Other addresses are not affected.
    assert request_link(Client(REMOTE_ADDR="10.0.0.9"), configuration, "other@example.com").status_code == 303


def test_a_stranger_cannot_lock_a_customer_out(configuration, customer, settings, request_link):
    settings.PORTAL_LOGIN_RATE_PER_EMAIL_AND_IP = 3
    settings.PORTAL_LOGIN_RATE_PER_EMAIL = 10
    settings.PORTAL_LOGIN_RATE_PER_IP = 100
    stranger = Client(REMOTE_ADDR="203.0.113.66")
    statuses = [request_link(stranger, configuration, customer.email).status_code for _ in range(30)]
    assert statuses == [303] * 3 + [429] * 27
    # The refused requests did not count towards the address's cap: the customer still gets a link.
    mail.outbox.clear()
    assert request_link(Client(REMOTE_ADDR="198.51.100.20"), configuration, customer.email).status_code == 303
    assert len(mail.outbox) == 1


def test_rate_limited_per_ip_in_german(configuration, customer, settings, traveller, request_link):
    settings.PORTAL_LOGIN_RATE_PER_IP = 3
    client = Client(REMOTE_ADDR="192.0.2.7")
    for number in range(3):
        assert request_link(client, configuration, f"guess{number}@example.com").status_code == 303
    response = request_link(client, configuration, customer.email, headers={"accept-language": "de"})
    assert response.status_code == 429
    assert "Zu viele Versuche" in response.content.decode()
    assert mail.outbox == []
    assert request_link(Client(REMOTE_ADDR="192.0.2.8"), configuration, customer.email).status_code == 303
    # The window passes.
    traveller.shift(dt.timedelta(minutes=16))
    assert request_link(client, configuration, customer.email).status_code == 303


def test_behind_a_proxy_the_limit_counts_the_address_the_proxy_saw(configuration, customer, settings, request_link):
    settings.PORTAL_LOGIN_RATE_PER_IP = 2
    settings.TRUSTED_PROXY_COUNT = 1
    proxy = "10.1.1.1"  # every request arrives from the proxy; the client chose the left part of the header
    for number in range(2):
        client = Client(REMOTE_ADDR=proxy, HTTP_X_FORWARDED_FOR=f"6.6.6.{number}, 198.51.100.4")
        assert request_link(client, configuration, f"guess{number}@example.com").status_code == 303
    blocked = Client(REMOTE_ADDR=proxy, HTTP_X_FORWARDED_FOR="6.6.6.9, 198.51.100.4")
    assert request_link(blocked, configuration, customer.email).status_code == 429
    other = Client(REMOTE_ADDR=proxy, HTTP_X_FORWARDED_FOR="203.0.113.5")
    assert request_link(other, configuration, customer.email).status_code == 303
