import httpx
import pytest
import stripe
from django.db import connection, transaction
from django.test import Client
from django.test.utils import CaptureQueriesContext

from billing import clock
from billing.models import AuditEntry, Charge, Event, Invoice, InvoiceLineItem, PaymentMethod
from billing.services.customers import customer_set_default_payment_method
from billing.services.invoices import LineSpec, invoice_create_draft
from billing.services.subscriptions import ItemSpec, subscription_create
from tests.factories.billing import ACTOR, CustomerFactory, PriceFactory, card

DECLINES_ON_CHARGE = "4000000000000341"


def subscribed(merchant, number="4242424242424242", *, livemode=False, **kwargs):
    """A customer whose default card is ``number`` and a monthly subscription (its first invoice charged)."""
    customer = CustomerFactory(account=merchant, livemode=livemode)
    if number:
        card(customer, number)
    price = PriceFactory(account=merchant, product__account=merchant, product__livemode=livemode)
    return subscription_create(customer=customer, items=[ItemSpec(price, 1)], actor=ACTOR, **kwargs)


def draft(customer, amount=500) -> Invoice:
    now = clock.now()
    with transaction.atomic():
        return invoice_create_draft(
            customer=customer,
            subscription=None,
            currency="eur",
            billing_reason=Invoice.BillingReason.MANUAL,
            period_start=now,
            period_end=now,
            lines=[LineSpec("Setup fee", amount, now, now), LineSpec("Onboarding", 2 * amount, now, now)],
        )


def test_retrieve_and_lines(client, merchant):
    subscription = subscribed(merchant)
    invoice = client.v1.invoices.retrieve(subscription.latest_invoice_id)
    assert invoice.object == "invoice" and invoice.status == "paid" and invoice.subscription == subscription.id
    assert invoice.customer == subscription.customer_id and invoice.amount_paid == 1000
    assert invoice.lines.data[0].pricing.price_details.price == subscription.items.get().price_id
    lines = client.v1.invoices.line_items.list(invoice.id)
    assert lines.object == "list" and lines.url == f"/v1/invoices/{invoice.id}/lines"
    assert [line.id for line in lines.data] == [line.id for line in invoice.lines.data]


def test_lines_are_paged_in_invoice_order(client, merchant):
    customer = CustomerFactory(account=merchant)
    invoice = draft(customer)
    ids = list(invoice.lines.values_list("id", flat=True))
    first = client.v1.invoices.line_items.list(invoice.id, {"limit": 1})
    assert [line.id for line in first.data] == ids[:1] and first.has_more
    assert [line.id for line in first.auto_paging_iter()] == ids
    back = client.v1.invoices.line_items.list(invoice.id, {"ending_before": ids[1]})
    assert [line.id for line in back.data] == ids[:1] and not back.has_more
    assert [line.description for line in client.v1.invoices.line_items.list(invoice.id).data] == [
        "Setup fee",
        "Onboarding",
    ]
    with pytest.raises(stripe.InvalidRequestError) as error:
        client.v1.invoices.line_items.list(invoice.id, {"starting_after": "il_missing"})
    assert error.value.http_status == 404 and error.value.param == "starting_after"


def test_finalize_then_pay(client, merchant):
    customer = CustomerFactory(account=merchant)
    card(customer)
    invoice = draft(customer)
    fetched = client.v1.invoices.retrieve(invoice.id)
    assert fetched.status == "draft" and fetched.hosted_invoice_url is None and fetched.number is None
    finalized = client.v1.invoices.finalize_invoice(invoice.id)
    assert finalized.status == "open" and finalized.number and finalized.amount_due == 1500
    assert finalized.status_transitions.finalized_at is not None
    with pytest.raises(stripe.InvalidRequestError) as error:
        client.v1.invoices.finalize_invoice(invoice.id)
    assert error.value.http_status == 400 and "already finalized" in error.value.user_message
    paid = client.v1.invoices.pay(invoice.id, {"off_session": True})
    assert paid.status == "paid" and paid.amount_paid == 1500 and paid.amount_remaining == 0
    with pytest.raises(stripe.InvalidRequestError) as error:
        client.v1.invoices.pay(invoice.id)
    assert error.value.code == "invoice_already_paid"
    for action in (client.v1.invoices.void_invoice, client.v1.invoices.mark_uncollectible):
        with pytest.raises(stripe.InvalidRequestError) as error:
            action(invoice.id)
        assert error.value.http_status == 400 and "this invoice is paid" in error.value.user_message
    assert AuditEntry.objects.filter(action="invoice.pay", actor_type="api_key", object_id=invoice.id).exists()


def test_declined_payment_is_a_card_error_with_the_charge(client, merchant):
    subscription = subscribed(merchant, DECLINES_ON_CHARGE)
    invoice_id = subscription.latest_invoice_id
    assert client.v1.invoices.retrieve(invoice_id).status == "open"
    with pytest.raises(stripe.CardError) as error:
        client.v1.invoices.pay(invoice_id)
    assert error.value.http_status == 402 and error.value.code == "card_declined"
    assert error.value.error.decline_code == "generic_decline"
    charge = Charge.objects.get(pk=error.value.error.charge)
    assert charge.invoice_id == invoice_id and charge.status == "failed"
    assert client.v1.invoices.retrieve(invoice_id).attempt_count == 2

    good = client.v1.payment_methods.attach("pm_card_visa", {"customer": subscription.customer_id})
    paid = client.v1.invoices.pay(invoice_id, {"payment_method": good.id})
    assert paid.status == "paid"
    assert Event.objects.filter(type="invoice.paid", data_object__id=invoice_id).exists()


def test_pay_with_someone_elses_payment_method(client, merchant):
    subscription = subscribed(merchant, DECLINES_ON_CHARGE)
    stranger = client.v1.customers.create({"email": "stranger@example.com"})
    theirs = client.v1.payment_methods.attach("pm_card_visa", {"customer": stranger.id})
    with pytest.raises(stripe.InvalidRequestError) as error:
        client.v1.invoices.pay(subscription.latest_invoice_id, {"payment_method": theirs.id})
    assert error.value.param == "payment_method" and error.value.http_status == 400
    with pytest.raises(stripe.InvalidRequestError) as error:
        client.v1.invoices.pay(subscription.latest_invoice_id, {"payment_method": "pm_missing"})
    assert error.value.http_status == 404
    with pytest.raises(stripe.InvalidRequestError) as error:
        client.v1.invoices.pay(subscription.latest_invoice_id, {"forgive": True})
    assert error.value.code == "parameter_unknown"


def test_void_and_mark_uncollectible(client, merchant):
    first = subscribed(merchant, DECLINES_ON_CHARGE).latest_invoice_id
    second = subscribed(merchant, DECLINES_ON_CHARGE).latest_invoice_id
    voided = client.v1.invoices.void_invoice(first)
    assert voided.status == "void" and voided.status_transitions.voided_at is not None
    with pytest.raises(stripe.InvalidRequestError) as error:
        client.v1.invoices.pay(first)
    assert "status void" in error.value.user_message
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.invoices.void_invoice(first)
    uncollectible = client.v1.invoices.mark_uncollectible(second)
    assert uncollectible.status == "uncollectible"
    with pytest.raises(stripe.InvalidRequestError) as error:
        client.v1.invoices.mark_uncollectible(second)
    assert "this invoice is uncollectible" in error.value.user_message
    assert client.v1.invoices.void_invoice(second).status == "void"
    assert Event.objects.filter(type="invoice.voided").count() == 2
    with pytest.raises(stripe.InvalidRequestError) as error:
        client.v1.invoices.finalize_invoice(first)
    assert error.value.http_status == 400


def test_list_filters(client, merchant):
    paid = subscribed(merchant)
    failing = subscribed(merchant, DECLINES_ON_CHARGE)
    by_invoice = subscribed(merchant, None, collection_method="send_invoice", days_until_due=14)
    ids = lambda params: [i.id for i in client.v1.invoices.list(params).data]  # noqa: E731
    everything = ids({})
    assert set(everything) == {paid.latest_invoice_id, failing.latest_invoice_id, by_invoice.latest_invoice_id}
    assert everything == sorted(everything, reverse=True)
    assert ids({"customer": paid.customer_id}) == [paid.latest_invoice_id]
    assert ids({"subscription": failing.id}) == [failing.latest_invoice_id]
    assert ids({"status": "paid"}) == [paid.latest_invoice_id]
    assert set(ids({"status": "open"})) == {failing.latest_invoice_id, by_invoice.latest_invoice_id}
    assert ids({"collection_method": "send_invoice"}) == [by_invoice.latest_invoice_id]
    created = clock.to_unix(Invoice.objects.get(pk=paid.latest_invoice_id).created)
    assert paid.latest_invoice_id in ids({"created": {"gte": created, "lte": created + 1}})
    assert ids({"created": {"lt": created - 3600}}) == []
    assert ids({"created": 253402300799}) == [] and ids({"created": {"gt": 253402300799}}) == []
    assert len(ids({"created": {"lte": 253402300799}})) == 3
    assert client.v1.invoices.list({"due_date": {"gt": created}}).data[0].id == by_invoice.latest_invoice_id
    listed = client.v1.invoices.list({"limit": 1})
    assert listed.url == "/v1/invoices" and listed.has_more
    assert len(list(listed.auto_paging_iter())) == 3
    for bad in ({"status": "late"}, {"collection_method": "cash"}, {"created": "yesterday"}, {"color": "red"}):
        with pytest.raises(stripe.InvalidRequestError):
            client.v1.invoices.list(bad)
    with pytest.raises(stripe.InvalidRequestError) as error:
        client.v1.invoices.list({"customer": "cus_missing"})
    assert error.value.http_status == 404 and error.value.param == "customer"


def test_expand(client, merchant):
    subscription = subscribed(merchant)
    invoice = client.v1.invoices.retrieve(
        subscription.latest_invoice_id, {"expand": ["customer", "subscription", "default_payment_method"]}
    )
    assert invoice.customer.object == "customer" and invoice.customer.id == subscription.customer_id
    assert invoice.subscription.object == "subscription" and invoice.subscription.status == "active"
    listed = client.v1.invoices.list({"expand": ["data.customer", "data.subscription"]})
    assert listed.data[0].customer.email == subscription.customer.email
    assert listed.data[0].subscription.id == subscription.id
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.invoices.retrieve(subscription.latest_invoice_id, {"expand": ["lines.data.nothing"]})


def test_hosted_invoice_page_and_pdf_work(client, merchant, live_server, settings):
    settings.PORTAL_BASE_URL = live_server.url
    invoice = client.v1.invoices.retrieve(subscribed(merchant).latest_invoice_id)
    assert invoice.hosted_invoice_url.startswith(live_server.url)
    page = httpx.get(invoice.hosted_invoice_url)
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert invoice.number in page.text
    pdf = httpx.get(invoice.invoice_pdf)
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")


def test_tenant_isolation(client, other_client, merchant):
    subscription = subscribed(merchant, DECLINES_ON_CHARGE)
    invoice_id = subscription.latest_invoice_id
    for call in (
        lambda: other_client.v1.invoices.retrieve(invoice_id),
        lambda: other_client.v1.invoices.pay(invoice_id),
        lambda: other_client.v1.invoices.void_invoice(invoice_id),
        lambda: other_client.v1.invoices.mark_uncollectible(invoice_id),
        lambda: other_client.v1.invoices.finalize_invoice(invoice_id),
        lambda: other_client.v1.invoices.line_items.list(invoice_id),
        lambda: other_client.v1.invoices.list({"customer": subscription.customer_id}),
        lambda: other_client.v1.invoices.list({"subscription": subscription.id}),
    ):
        with pytest.raises(stripe.InvalidRequestError) as error:
            call()
        assert error.value.http_status == 404
    assert other_client.v1.invoices.list().data == []
    assert Invoice.objects.get(pk=invoice_id).status == "open"


def test_live_key_does_not_see_test_invoices(client, live_server, merchant):
    invoice_id = subscribed(merchant).latest_invoice_id
    live = stripe.StripeClient(merchant.live_secret, base_addresses={"api": live_server.url}, max_network_retries=0)
    with pytest.raises(stripe.InvalidRequestError) as error:
        live.v1.invoices.retrieve(invoice_id)
    assert error.value.http_status == 404
    assert live.v1.invoices.list().data == []
    live_customer = CustomerFactory(account=merchant, livemode=True)
    live_invoice = draft(live_customer)
    assert [i.id for i in live.v1.invoices.list().data] == [live_invoice.id]
    assert client.v1.invoices.list({"status": "draft"}).data == []
    # A card saved through a real PSP (the API cannot make one in live mode with the test gateway).
    psp_card = PaymentMethod.objects.create(
        account=merchant, livemode=True, customer=live_customer, type="card", card_brand="visa", card_last4="4242"
    )
    customer_set_default_payment_method(customer=live_customer, payment_method=psp_card, actor=ACTOR)
    # No processor is set up for live mode: a 4xx naming the setting, not a 500.
    with pytest.raises(stripe.InvalidRequestError) as error:
        live.v1.invoices.pay(live_invoice.id)
    assert error.value.code == "processor_not_configured" and "Payment processors" in error.value.user_message
    assert Invoice.objects.get(pk=live_invoice.id).status == "draft"  # atomic: not even finalized


def _api_get(merchant, path: str, data: dict):
    response = Client().get(path, data, HTTP_AUTHORIZATION=f"Bearer {merchant.test_secret}")
    assert response.status_code == 200, response.content
    return response.json()


# transactional_db: a plain ``db`` test before the live-server tests of this directory trips Django's
# in-memory SQLite connection sharing when the live server shuts down.
def test_list_queries_do_not_grow_with_rows(transactional_db, merchant, django_assert_max_num_queries):
    requests = [
        ("/v1/invoices", {"limit": 100, "expand[]": ["data.customer", "data.subscription"]}),
        ("/v1/invoices", {"limit": 100, "status": "paid", "collection_method": "charge_automatically"}),
    ]
    for _ in range(3):
        subscribed(merchant)
    counts = []
    for path, data in requests:
        _api_get(merchant, path, data)  # the key's once-a-minute "last used" write falls outside the counts
        with CaptureQueriesContext(connection) as queries:
            assert len(_api_get(merchant, path, data)["data"]) == 3
        counts.append(len(queries))
    for _ in range(57):
        subscribed(merchant)
    for (path, data), count in zip(requests, counts, strict=True):
        _api_get(merchant, path, data)
        with django_assert_max_num_queries(count):
            assert len(_api_get(merchant, path, data)["data"]) == 60

    customer = CustomerFactory(account=merchant)
    few, many = draft(customer), draft(customer)
    InvoiceLineItem.objects.bulk_create(
        [
            InvoiceLineItem(
                account=merchant,
                invoice=many,
                description=f"Line {n}",
                amount=100,
                currency="eur",
                period_start=many.period_start,
                period_end=many.period_end,
            )
            for n in range(58)
        ]
    )
    with CaptureQueriesContext(connection) as queries:
        assert len(_api_get(merchant, f"/v1/invoices/{few.id}/lines", {"limit": 100})["data"]) == 2
    with django_assert_max_num_queries(len(queries)):
        assert len(_api_get(merchant, f"/v1/invoices/{many.id}/lines", {"limit": 100})["data"]) == 60
