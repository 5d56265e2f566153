"""The portal's pay page: "Pay now" opens it for the customer's own open invoice; they pay with the saved method they
choose (SEPA Direct Debit only for euros), confirm it with their bank when it asks (3-D Secure) and come back to a
paid invoice or to the page with the reason in their language. Two submits never charge twice."""

import re
import threading
from urllib.parse import parse_qs, urlsplit

import pytest
from django.db import connection, connections, transaction
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone, translation

from billing.audit import Actor
from billing.models import AuditEntry, Charge, Event, Invoice, Mandate, PaymentIntent
from billing.services.invoices import LineSpec, invoice_create_draft, invoice_finalize, invoice_pay
from portal.invoice_payment import failure_message
from tests.factories.billing import CustomerFactory, card, sepa
from tests.factories.portal import full_configuration, open_portal

ACTOR = Actor.system("test")
SCA_CARD = "4000002760003184"  # pm_card_authenticationRequired: the bank asks every time


def issue(customer, *, amount: int = 4900, currency: str = "eur", lines: int = 1, finalize: bool = True) -> Invoice:
    now = timezone.now()
    with transaction.atomic():
        draft = invoice_create_draft(
            customer=customer,
            subscription=None,
            currency=currency,
            billing_reason=Invoice.BillingReason.MANUAL,
            period_start=now,
            period_end=now,
            lines=[LineSpec(f"Workshop day {n + 1}", amount // lines, now, now) for n in range(lines)],
        )
    return invoice_finalize(invoice=draft, actor=ACTOR) if finalize else draft


@pytest.fixture
def customer(db):
    customer = CustomerFactory()
    full_configuration(customer.account)
    return customer


def pay_url(invoice, suffix: str = "") -> str:
    return f"/p/invoices/{invoice.id}/pay{suffix}"


def text(response) -> str:
    return response.content.decode()


def path_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}" if parts.query else parts.path


def succeeded_charges(invoice) -> int:
    return Charge.objects.filter(invoice=invoice, status=Charge.Status.SUCCEEDED).count()


def authenticate(client: Client, response, outcome: str):
    """The test gateway's bank page, answered; then back to the portal as the browser would go."""
    assert response.status_code == 303
    location = urlsplit(response["Location"])
    assert location.path.startswith("/authenticate/pi_")
    secret = parse_qs(location.query)["client_secret"][0]
    answered = client.post(location.path, {"client_secret": secret, "outcome": outcome})
    assert answered.status_code == 303
    return client.get(path_of(answered["Location"]))


# ---------------------------------------------------------------------------------------------- the page


def test_pay_now_opens_the_pay_page_from_the_overview_and_the_history(customer):
    card(customer)
    invoice = issue(customer)
    client = open_portal(customer)
    assert f'href="{pay_url(invoice)}"' in text(client.get("/p/"))
    history = text(client.get("/p/invoices"))
    assert f'href="{pay_url(invoice)}?return_to=history"' in history
    assert 'method="post"' not in history  # a link: nothing is charged by one click any more


def test_the_pay_page_sums_up_the_invoice_and_offers_the_methods_that_can_pay_it(customer):
    visa = card(customer)
    mastercard = card(customer, "5555555555554444", default=False)
    bank = sepa(customer)
    invoice = issue(customer, amount=4900)
    response = open_portal(customer).get(pay_url(invoice))
    assert response.status_code == 200
    html = text(response)
    assert "Pay invoice" in html and "€49.00" in html and invoice.number in html and "Workshop day 1" in html
    assert "<legend>Pay with</legend>" in html
    # The default first and chosen, then the others newest first (as on the overview); every one with its label.
    assert html.index(visa.id) < html.index(bank.id) < html.index(mastercard.id)
    assert f'value="{visa.id}" id="pay-{visa.id}" checked' in html
    assert f'value="{mastercard.id}" id="pay-{mastercard.id}">' in html
    assert "Visa •••• 4242" in html and "Mastercard •••• 4444" in html and "SEPA Direct Debit •••• 3000" in html
    assert "Expires 12/2035" in html
    assert "Pay €49.00" in html
    assert f'href="/p/payment-methods/new?next=%2Fp%2Finvoices%2F{invoice.id}%2Fpay"' in html
    assert 'href="/p/"' in html  # back (and Cancel) to the overview


def test_sepa_pays_only_euros_and_the_history_keeps_its_way_back(customer):
    card(customer)
    bank = sepa(customer)
    invoice = issue(customer, currency="usd")
    html = text(open_portal(customer).get(pay_url(invoice, "?return_to=history")))
    assert bank.id not in html and "SEPA" not in html
    assert "Back to invoice history" in html and 'name="return_to" value="history"' in html
    assert "next=%2Fp%2Finvoices%2F" + invoice.id + "%2Fpay%3Freturn_to%3Dhistory" in html


def test_without_a_method_that_can_pay_it_the_page_says_so(customer):
    sepa(customer, default=True)
    invoice = issue(customer, currency="usd")
    html = text(open_portal(customer).get(pay_url(invoice)))
    assert "None of your saved payment methods can pay this invoice." in html
    assert 'name="payment_method"' not in html
    assert "Pay with a new payment method" in html


def test_the_new_method_link_needs_payment_method_update(customer):
    card(customer)
    invoice = issue(customer)
    configuration = full_configuration(customer.account, features={"payment_method_update": {"enabled": False}})
    html = text(open_portal(customer, configuration=configuration).get(pay_url(invoice)))
    assert "Pay with a new payment method" not in html and "/p/payment-methods/new" not in html
    assert 'name="payment_method"' in html


def test_a_long_invoice_is_summed_up(customer):
    card(customer)
    invoice = issue(customer, amount=8000, lines=8)
    html = text(open_portal(customer).get(pay_url(invoice)))
    assert "Workshop day 5" in html and "Workshop day 6" not in html
    assert "and 3 more items" in html
    assert f'href="/i/{invoice.hosted_token}/"' in html


def test_german_pay_page(customer):
    card(customer)
    invoice = issue(customer, amount=123450)
    html = text(open_portal(customer, locale="de").get(pay_url(invoice)))
    assert "Rechnung bezahlen" in html and "Bezahlen mit" in html
    assert "1.234,50\xa0€ bezahlen" in html
    assert "Mit einer neuen Zahlungsmethode bezahlen" in html
    assert "Gültig bis 12/2035" in html


# ---------------------------------------------------------------------------------------------- who may pay what


def test_someone_elses_invoice_a_draft_and_a_missing_one_are_not_found(customer):
    other = CustomerFactory(account=customer.account)
    theirs_card = card(other)
    theirs = issue(other)
    draft = issue(customer, finalize=False)
    client = open_portal(customer)
    for invoice_id in (theirs.id, draft.id, "in_missing"):
        assert client.get(f"/p/invoices/{invoice_id}/pay").status_code == 404
        assert client.post(f"/p/invoices/{invoice_id}/pay", {"payment_method": theirs_card.id}).status_code == 404
        assert client.get(f"/p/invoices/{invoice_id}/pay/return").status_code == 404
    theirs.refresh_from_db()
    assert theirs.status == Invoice.Status.OPEN and not Charge.objects.exists()


def test_an_invoice_that_is_not_open_goes_back_with_a_message(customer):
    card(customer)
    invoice = issue(customer)
    invoice_pay(invoice=invoice, actor=ACTOR)
    client = open_portal(customer)
    response = client.get(pay_url(invoice, "?return_to=history"))
    assert response.status_code == 303 and response["Location"] == "/p/invoices"
    assert "This invoice is not open for payment." in text(client.get("/p/invoices"))


@pytest.mark.parametrize("choice", ["someone else's", "missing", "empty", "sepa for dollars"])
def test_a_method_that_is_not_one_of_theirs_is_a_form_error(customer, choice):
    card(customer)
    bank = sepa(customer)
    invoice = issue(customer, currency="usd")
    foreign = card(CustomerFactory(account=customer.account))
    value = {"someone else's": foreign.id, "missing": "pm_missing", "empty": "", "sepa for dollars": bank.id}[choice]
    response = open_portal(customer).post(pay_url(invoice), {"payment_method": value})
    assert response.status_code == 400
    html = text(response)
    assert "Please correct the highlighted fields." in html
    expected = "Choose a payment method." if choice == "empty" else "Choose one of your saved payment methods."
    assert expected in html and 'aria-invalid="true"' in html
    invoice.refresh_from_db()
    assert invoice.status == Invoice.Status.OPEN and invoice.attempt_count == 0
    assert not PaymentIntent.objects.filter(invoice=invoice).exists()


def test_an_old_pay_now_button_that_posts_no_method_opens_the_page(customer):
    card(customer)
    invoice = issue(customer)
    response = open_portal(customer).post(pay_url(invoice), {"return_to": "history"})
    assert response.status_code == 200
    assert "Pay invoice" in text(response) and "Back to invoice history" in text(response)
    invoice.refresh_from_db()
    assert invoice.status == Invoice.Status.OPEN and not Charge.objects.exists()


def test_pay_needs_the_invoice_history_feature(customer):
    card(customer)
    invoice = issue(customer)
    configuration = full_configuration(customer.account, features={"invoice_history": {"enabled": False}})
    client = open_portal(customer, configuration=configuration)
    assert client.get(pay_url(invoice)).status_code == 404
    assert client.get(pay_url(invoice, "/return")).status_code == 404


# ---------------------------------------------------------------------------------------------- paying


@pytest.mark.parametrize("return_to, back", [("history", "/p/invoices"), ("overview", "/p/"), ("elsewhere", "/p/")])
def test_paying_with_the_chosen_card(customer, return_to, back):
    card(customer)
    chosen = card(customer, "5555555555554444", default=False)
    invoice = issue(customer)
    client = open_portal(customer)
    response = client.post(pay_url(invoice), {"payment_method": chosen.id, "return_to": return_to})
    assert response.status_code == 303 and response["Location"] == back
    invoice.refresh_from_db()
    assert invoice.status == Invoice.Status.PAID
    [charge] = Charge.objects.filter(invoice=invoice)
    assert charge.status == Charge.Status.SUCCEEDED and charge.payment_method_id == chosen.id
    assert Event.objects.filter(type="invoice.paid", data_object__id=invoice.id).exists()
    assert AuditEntry.objects.filter(action="payment_intent.confirm", actor_type="customer").exists()
    html = text(client.get(back))
    assert "Invoice paid." in html and "Pay now" not in html


@pytest.mark.parametrize("locale, message", [("en", "Your card was declined."), ("de", "Ihre Karte wurde abgelehnt.")])
def test_a_decline_shows_the_reason_on_the_pay_page_and_another_card_pays(customer, locale, message):
    good = card(customer)
    bad = card(customer, "4000000000000341", default=False)  # attaches, then fails when charged
    invoice = issue(customer)
    client = open_portal(customer, locale=locale)
    response = client.post(pay_url(invoice, "?return_to=history"), {"payment_method": bad.id, "return_to": "history"})
    assert response.status_code == 303 and response["Location"] == pay_url(invoice, "?return_to=history")
    html = text(client.get(response["Location"]))
    assert message in html and "notice-error" in html
    invoice.refresh_from_db()
    assert invoice.status == Invoice.Status.OPEN
    assert Event.objects.filter(type="invoice.payment_failed", data_object__id=invoice.id).exists()

    # The same PaymentIntent takes the next attempt, with another method.
    response = client.post(pay_url(invoice), {"payment_method": good.id, "return_to": "history"})
    assert response["Location"] == "/p/invoices"
    invoice.refresh_from_db()
    assert invoice.status == Invoice.Status.PAID and invoice.attempt_count == 2
    intent = PaymentIntent.objects.get(invoice=invoice)
    assert intent.status == "succeeded" and intent.payment_method_id == good.id
    assert succeeded_charges(invoice) == 1


def test_the_bank_asks_the_customer_confirms_and_comes_back_to_a_paid_invoice(customer):
    card(customer)
    sca = card(customer, SCA_CARD, default=False)
    invoice = issue(customer)
    client = open_portal(customer)
    response = client.post(pay_url(invoice), {"payment_method": sca.id, "return_to": "history"})
    intent = PaymentIntent.objects.get(invoice=invoice)
    assert intent.status == "requires_action" and intent.off_session is False
    assert intent.return_url == f"http://testserver{pay_url(invoice, '/return?return_to=history')}"
    assert response["Location"] == intent.next_action["redirect_to_url"]["url"]
    assert not Charge.objects.filter(invoice=invoice).exists()  # nothing is charged before the bank's answer

    back = authenticate(client, response, "complete")
    assert back.status_code == 303 and back["Location"] == "/p/invoices"
    assert "Invoice paid." in text(client.get("/p/invoices"))
    invoice.refresh_from_db()
    assert invoice.status == Invoice.Status.PAID and succeeded_charges(invoice) == 1
    # Back again (the browser's back button): still paid, nothing more charged.
    assert client.get(pay_url(invoice, "/return")).status_code == 303
    assert succeeded_charges(invoice) == 1


@pytest.mark.parametrize(
    "locale, message", [("en", "The payment was not confirmed"), ("de", "nicht bei Ihrer Bank bestätigt")]
)
def test_a_failed_confirmation_leaves_the_invoice_open_and_another_card_pays(customer, locale, message):
    good = card(customer)
    sca = card(customer, SCA_CARD, default=False)
    invoice = issue(customer)
    client = open_portal(customer, locale=locale)
    response = client.post(pay_url(invoice), {"payment_method": sca.id})

    back = authenticate(client, response, "fail")
    assert back.status_code == 303 and back["Location"] == pay_url(invoice)
    html = text(client.get(back["Location"]))
    assert message in html and "notice-error" in html
    invoice.refresh_from_db()
    assert invoice.status == Invoice.Status.OPEN and not Charge.objects.filter(invoice=invoice).exists()

    assert client.post(pay_url(invoice), {"payment_method": good.id})["Location"] == "/p/"
    invoice.refresh_from_db()
    assert invoice.status == Invoice.Status.PAID and succeeded_charges(invoice) == 1


def test_coming_back_without_confirming_asks_again(customer):
    sca = card(customer, SCA_CARD)
    invoice = issue(customer)
    client = open_portal(customer)
    client.post(pay_url(invoice), {"payment_method": sca.id})
    back = client.get(pay_url(invoice, "/return"))  # the browser's back button on the bank's page
    assert back["Location"] == pay_url(invoice)
    assert "The payment was not confirmed with your bank." in text(client.get(pay_url(invoice)))
    # Paying again starts a new confirmation of the same PaymentIntent.
    again = client.post(pay_url(invoice), {"payment_method": sca.id})
    assert authenticate(client, again, "complete")["Location"] == "/p/"
    invoice.refresh_from_db()
    assert invoice.status == Invoice.Status.PAID and succeeded_charges(invoice) == 1
    assert PaymentIntent.objects.filter(invoice=invoice).count() == 1


def test_sepa_direct_debit_is_submitted_and_the_bank_confirms_it_later(customer):
    card(customer)
    bank = sepa(customer)
    invoice = issue(customer)
    client = open_portal(customer)
    response = client.post(pay_url(invoice), {"payment_method": bank.id}, HTTP_USER_AGENT="Firefox")
    assert response["Location"] == "/p/"
    assert "Your payment is being processed." in text(client.get("/p/"))
    intent = PaymentIntent.objects.get(invoice=invoice)
    assert intent.status == "processing" and intent.payment_method_id == bank.id
    mandate = Mandate.objects.get(payment_method=bank)
    assert mandate.customer_acceptance["online"] == {"ip_address": "127.0.0.1", "user_agent": "Firefox"}
    # A second submit while the bank decides charges nothing more.
    again = client.post(pay_url(invoice), {"payment_method": bank.id})
    assert again["Location"] == pay_url(invoice)
    assert "already under way" in text(client.get(pay_url(invoice)))
    assert Charge.objects.filter(invoice=invoice).count() == 1


def test_two_submits_charge_once(customer):
    chosen = card(customer)
    invoice = issue(customer)
    client = open_portal(customer)
    first = client.post(pay_url(invoice), {"payment_method": chosen.id, "return_to": "history"})
    second = client.post(pay_url(invoice), {"payment_method": chosen.id, "return_to": "history"})
    assert first["Location"] == second["Location"] == "/p/invoices"
    html = text(client.get("/p/invoices"))
    assert "Invoice paid." in html and "This invoice is not open for payment." in html
    assert Charge.objects.filter(invoice=invoice).count() == 1
    assert Event.objects.filter(type="invoice.paid").count() == 1


@pytest.mark.django_db(transaction=True)
def test_two_tabs_paying_at_once_charge_once(settings):
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL: SQLite serialises every write, so there is no race to test")
    settings.BILLING_TEST_GATEWAY_LATENCY_MS = 200  # both tabs' requests are in flight together
    customer = CustomerFactory()
    full_configuration(customer.account)
    chosen = card(customer)
    invoice = issue(customer)
    cookies = open_portal(customer).cookies
    barrier = threading.Barrier(2)
    statuses: list[int] = []

    def press_pay():
        tab = Client()
        tab.cookies = cookies
        try:
            barrier.wait(timeout=10)
            statuses.append(tab.post(pay_url(invoice), {"payment_method": chosen.id}).status_code)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=press_pay) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert statuses == [303, 303]
    invoice.refresh_from_db()
    assert invoice.status == Invoice.Status.PAID
    assert Charge.objects.filter(invoice=invoice).count() == 1 and succeeded_charges(invoice) == 1


@pytest.mark.parametrize(
    "error, locale, message",
    [
        ({"code": "card_declined", "decline_code": "generic_decline"}, "en", "Your card was declined."),
        ({"code": "card_declined", "decline_code": "insufficient_funds"}, "en", "Your card has insufficient funds."),
        ({"code": "expired_card", "decline_code": "expired_card"}, "en", "Your card has expired."),
        ({"code": "card_declined", "decline_code": "stolen_card"}, "en", "Your card was declined."),  # no more said
        ({"code": "card_declined", "decline_code": None}, "en", "Your card was declined."),
        (None, "en", "Your card was declined."),
        ({"code": "insufficient_funds", "payment_method_type": "sepa_debit"}, "en", "Your bank declined the payment."),
        ({"code": "payment_intent_authentication_failure"}, "en", "The payment was not confirmed with your bank."),
        (
            {"code": "card_declined", "decline_code": "insufficient_funds"},
            "de",
            "Ihre Karte ist nicht ausreichend gedeckt.",
        ),
        ({"code": "expired_card", "decline_code": "expired_card"}, "de", "Ihre Karte ist abgelaufen."),
        (
            {"code": "insufficient_funds", "payment_method_type": "sepa_debit"},
            "de",
            "Ihre Bank hat die Zahlung abgelehnt.",
        ),
    ],
)
def test_decline_reasons_in_the_readers_language(error, locale, message):
    with translation.override(locale):
        assert failure_message(error).startswith(message)


# ---------------------------------------------------------------------------------------------- the hosted page


def test_the_hosted_invoice_page_pays_through_the_same_path(client, customer):
    failing = card(customer, "4000000000000341")  # attaches, then fails when charged
    bank = sepa(customer)
    invoice = issue(customer)
    url = f"/i/{invoice.hosted_token}/pay"
    declined = client.post(url, {"payment_method": failing.id})
    assert declined.status_code == 402 and "Your card was declined." in text(declined)
    assert client.post(url, {"payment_method": "pm_missing"}).status_code == 402

    response = client.post(url, {"payment_method": bank.id})  # a bank account: the mandate is accepted now
    assert response.status_code == 303 and response["Location"].endswith(f"/i/{invoice.hosted_token}/")
    intent = PaymentIntent.objects.get(invoice=invoice)
    assert intent.status == "processing" and intent.payment_method_id == bank.id
    assert Mandate.objects.filter(payment_method=bank).exists()


# ---------------------------------------------------------------------------------------------- queries


def test_queries_of_the_pay_page_do_not_grow_with_the_saved_methods(db):
    counts = []
    for size in (1, 12):
        customer = CustomerFactory()
        full_configuration(customer.account)
        for n in range(size):
            card(customer, default=n == 0)
            sepa(customer)
        invoice = issue(customer, lines=3)
        client = open_portal(customer)
        client.get(pay_url(invoice))  # warm up: the session's first request records the locale
        with CaptureQueriesContext(connection) as queries:
            response = client.get(pay_url(invoice))
        assert response.status_code == 200
        assert text(response).count('name="payment_method"') == 2 * size
        counts.append(len(queries))
    assert counts[0] == counts[1], counts


def test_each_method_shows_its_brands_mark_with_alt_text(customer):
    visa = card(customer)
    card(customer, "5555555555554444", default=False)
    card(customer, "3782 822463 10005".replace(" ", ""), default=False)
    sepa(customer)
    invoice = issue(customer, amount=4900)
    client = open_portal(customer)
    marks = {
        "visa.svg": 'alt="Visa"',
        "mastercard.svg": 'alt="Mastercard"',
        "amex.svg": 'alt="American Express"',
        "sepa_debit.svg": 'alt="SEPA Direct Debit"',
    }
    for url in ("/p/", pay_url(invoice), f"/i/{invoice.hosted_token}/", f"/p/payment-methods/{visa.id}/remove"):
        response = client.get(url)
        assert response.status_code == 200, url
        html = text(response)
        shown = [name for name in marks if f"/static/img/payment-methods/{name}" in html]
        assert shown == (["visa.svg"] if url.endswith("/remove") else list(marks)), url
        for name in shown:
            assert re.search(rf'src="/static/img/payment-methods/{name}" {marks[name]}', html), (url, name)
    german = text(open_portal(customer, locale="de").get("/p/"))
    assert 'alt="SEPA-Lastschrift"' in german
