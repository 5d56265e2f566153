import pytest
import stripe

from billing.models import AuditEntry, Customer, Event
from billing.services.customers import customer_create, customer_delete
from tests.factories.billing import ACTOR, PriceFactory, card


def test_create_retrieve_update_list(client):
    created = client.v1.customers.create(
        {
            "email": "ada@example.com",
            "name": "Ada",
            "preferred_locales": ["de"],
            "metadata": {"plan": "gold"},
            "address": {"line1": "Hauptstr. 1", "city": "Berlin", "country": "DE"},
        }
    )
    assert created.id.startswith("cus_") and created.object == "customer"
    assert created.address.city == "Berlin" and created.metadata.plan == "gold"
    assert client.v1.customers.retrieve(created.id).email == "ada@example.com"
    updated = client.v1.customers.update(created.id, {"name": "Ada L.", "metadata": {"plan": ""}, "phone": ""})
    assert updated.name == "Ada L." and updated.metadata.to_dict() == {} and updated.phone is None
    listed = client.v1.customers.list({"email": "ada@example.com"})
    assert [c.id for c in listed.data] == [created.id]
    event = Event.objects.get(type="customer.updated")
    assert set(event.previous_attributes) == {"name", "metadata"}
    assert event.request_id.startswith("req_")
    assert AuditEntry.objects.filter(action="customer.update", actor_type="api_key").exists()


def test_update_sets_fields_and_default_payment_method_in_one_change(client, merchant):
    customer = client.v1.customers.create({"email": "two@example.com"})
    first = card(Customer.objects.get(pk=customer.id))
    second = client.v1.payment_methods.attach("pm_card_mastercard", {"customer": customer.id})
    events_before = set(Event.objects.values_list("id", flat=True))

    updated = client.v1.customers.update(
        customer.id, {"name": "Two", "invoice_settings": {"default_payment_method": second.id}}
    )

    assert updated.name == "Two" and updated.invoice_settings.default_payment_method == second.id
    event = Event.objects.exclude(id__in=events_before).get()
    assert event.type == "customer.updated"
    assert event.previous_attributes["invoice_settings"]["default_payment_method"] == first.id
    assert set(event.previous_attributes) == {"name", "invoice_settings"}
    cleared = client.v1.customers.update(customer.id, {"invoice_settings": {"default_payment_method": ""}})
    assert cleared.invoice_settings.default_payment_method is None


def test_a_default_payment_method_it_may_not_have_changes_nothing(client, merchant):
    customer = client.v1.customers.create({"email": "strict@example.com", "name": "Strict"})
    loose = client.v1.payment_methods.attach("pm_card_visa", {"customer": client.v1.customers.create().id})
    events_before = Event.objects.count()

    with pytest.raises(stripe.InvalidRequestError) as error:
        client.v1.customers.update(
            customer.id, {"name": "Changed", "invoice_settings": {"default_payment_method": loose.id}}
        )
    assert error.value.param == "invoice_settings[default_payment_method]"
    assert client.v1.customers.retrieve(customer.id).name == "Strict"
    with pytest.raises(stripe.InvalidRequestError) as error:
        client.v1.customers.create(
            {"email": "new@example.com", "invoice_settings": {"default_payment_method": loose.id}}
        )
    assert error.value.param == "invoice_settings[default_payment_method]"
    assert not Customer.objects.filter(email="new@example.com").exists()
    assert Event.objects.count() == events_before


def test_legacy_module_style(legacy):
    customer = legacy.Customer.create(email="grace@example.com")
    assert legacy.Customer.retrieve(customer.id).email == "grace@example.com"


def test_auto_pagination_over_250(client, merchant):
    for i in range(250):
        customer_create(account=merchant, livemode=False, actor=ACTOR, email=f"c{i}@example.com")
    seen = [c.id for c in client.v1.customers.list({"limit": 100}).auto_paging_iter()]
    assert len(seen) == 250 == len(set(seen))
    assert seen == sorted(seen, reverse=True)
    first = client.v1.customers.list({"limit": 3})
    back = client.v1.customers.list({"limit": 2, "ending_before": first.data[2].id})
    assert [c.id for c in back.data] == [c.id for c in first.data[:2]]


def test_idempotent_retry_replays(client, live_server, merchant):
    import httpx

    headers = {"Authorization": f"Bearer {merchant.test_secret}", "Idempotency-Key": "abc-123"}
    first = httpx.post(f"{live_server.url}/v1/customers", data={"email": "x@example.com"}, headers=headers)
    again = httpx.post(f"{live_server.url}/v1/customers", data={"email": "x@example.com"}, headers=headers)
    assert first.json() == again.json() and again.headers["Idempotent-Replayed"] == "true"
    assert Customer.objects.count() == 1
    with pytest.raises(stripe.IdempotencyError):
        client.v1.customers.create({"email": "y@example.com"}, {"idempotency_key": "abc-123"})


def test_errors_map_to_sdk_classes(client, live_server):
    with pytest.raises(stripe.InvalidRequestError) as error:
        client.v1.customers.create({"nickname": "x"})
    assert error.value.code == "parameter_unknown" and error.value.param == "nickname"
    with pytest.raises(stripe.InvalidRequestError) as error:
        client.v1.customers.create({"email": "not-an-email"})
    assert error.value.param == "email"
    with pytest.raises(stripe.InvalidRequestError) as error:
        client.v1.customers.retrieve("cus_doesnotexist")
    assert error.value.code == "resource_missing" and error.value.http_status == 404
    bad = stripe.StripeClient("sk_test_wrong", base_addresses={"api": live_server.url}, max_network_retries=0)
    with pytest.raises(stripe.AuthenticationError):
        bad.v1.customers.list()


def test_rate_limit_answers_429(client, settings):
    settings.API_RATE_LIMIT_TEST = 2
    with pytest.raises(stripe.RateLimitError):
        for _ in range(5):
            client.v1.customers.list()


def test_tenant_isolation(client, other_client):
    mine = client.v1.customers.create({"email": "mine@example.com"})
    with pytest.raises(stripe.InvalidRequestError) as error:
        other_client.v1.customers.retrieve(mine.id)
    assert error.value.http_status == 404
    with pytest.raises(stripe.InvalidRequestError):
        other_client.v1.customers.update(mine.id, {"name": "stolen"})
    assert other_client.v1.customers.list().data == []


def test_live_key_does_not_see_test_objects(client, live_server, merchant):
    test_customer = client.v1.customers.create({"email": "t@example.com"})
    live = stripe.StripeClient(merchant.live_secret, base_addresses={"api": live_server.url}, max_network_retries=0)
    with pytest.raises(stripe.InvalidRequestError):
        live.v1.customers.retrieve(test_customer.id)
    assert live.v1.customers.create({"email": "l@example.com"}).livemode is True


def _subscribed_customer(client, merchant, count: int):
    customer = client.v1.customers.create({"email": "leaving@example.com", "name": "Leaving"})
    card(Customer.objects.get(pk=customer.id))
    price = PriceFactory(account=merchant, product__account=merchant, unit_amount=1500)
    subscriptions = [
        client.v1.subscriptions.create({"customer": customer.id, "items": [{"price": price.id}]}) for _ in range(count)
    ]
    return customer, price, subscriptions


def test_delete_cancels_subscriptions_and_hides_the_customer(client, merchant):
    customer, price, (active, ended) = _subscribed_customer(client, merchant, 2)
    client.v1.subscriptions.cancel(ended.id)
    events_before = set(Event.objects.values_list("id", flat=True))

    deleted = client.v1.customers.delete(customer.id)

    assert deleted.to_dict() == {"id": customer.id, "object": "customer", "deleted": True}
    assert client.v1.customers.retrieve(customer.id).to_dict() == deleted.to_dict()
    assert customer.id not in [c.id for c in client.v1.customers.list().data]
    canceled = client.v1.subscriptions.retrieve(active.id)
    assert canceled.status == "canceled" and canceled.ended_at is not None
    # Canceled now without proration: no credit line is left pending, no invoice is made.
    assert client.v1.invoices.list({"subscription": active.id}).data[0].id == active.latest_invoice
    assert len(client.v1.invoices.list({"subscription": active.id}).data) == 1
    new_events = Event.objects.exclude(id__in=events_before).order_by("id")
    assert [(e.type, e.data_object["id"]) for e in new_events] == [
        ("customer.subscription.deleted", active.id),
        ("customer.deleted", customer.id),
    ]
    # The event carries the customer as it was.
    assert new_events.last().data_object["email"] == "leaving@example.com"
    assert "deleted" not in new_events.last().data_object
    entry = AuditEntry.objects.get(action="customer.delete")
    assert entry.object_id == customer.id and entry.changes == {"canceled_subscriptions": [active.id]}
    # Expanding a deleted customer shows the stub, as Stripe does.
    assert client.v1.subscriptions.retrieve(active.id, {"expand": ["customer"]}).customer.deleted is True


def test_deleted_customer_is_missing_everywhere_else(client, merchant):
    customer, price, _ = _subscribed_customer(client, merchant, 0)
    client.v1.customers.delete(customer.id)
    missing = f"No such customer: '{customer.id}'"
    attempts = [
        lambda: client.v1.customers.update(customer.id, {"name": "Back"}),
        lambda: client.v1.customers.delete(customer.id),
        lambda: client.v1.subscriptions.create({"customer": customer.id, "items": [{"price": price.id}]}),
        lambda: client.v1.payment_methods.attach("pm_card_visa", {"customer": customer.id}),
        lambda: client.v1.customers.payment_methods.list(customer.id),
        lambda: client.v1.invoices.list({"customer": customer.id}),
    ]
    for attempt in attempts:
        with pytest.raises(stripe.InvalidRequestError) as error:
            attempt()
        assert error.value.http_status == 404 and error.value.code == "resource_missing"
        assert error.value.user_message == missing
    assert Customer.objects.get(pk=customer.id).name == "Leaving"


def test_list_pages_past_a_deleted_cursor(client, merchant):
    ids = [
        customer_create(account=merchant, livemode=False, actor=ACTOR, email=f"p{i}@example.com").id for i in range(4)
    ]
    first = client.v1.customers.list({"limit": 2})
    assert [c.id for c in first.data] == [ids[3], ids[2]]
    client.v1.customers.delete(ids[2])
    rest = client.v1.customers.list({"limit": 2, "starting_after": ids[2]})
    assert [c.id for c in rest.data] == [ids[1], ids[0]]
    assert [c.id for c in client.v1.customers.list({"ending_before": ids[2]}).data] == [ids[3]]
    assert [c.id for c in client.v1.customers.list().auto_paging_iter()] == [ids[3], ids[1], ids[0]]


def test_delete_is_in_the_openapi_document(client, live_server):
    import httpx

    document = httpx.get(f"{live_server.url}/v1/openapi.json").json()
    operation = document["paths"]["/v1/customers/{customer}"]["delete"]
    assert operation["responses"]["200"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/deleted_customer"
    }
    assert document["components"]["schemas"]["deleted_customer"]["properties"]["deleted"] == {
        "type": "boolean",
        "enum": [True],
    }


def test_admin_marks_deleted_customers_and_keeps_them_read_only(transactional_db, merchant, django_user_model):
    from django.test import Client
    from django.urls import reverse

    kept = customer_create(account=merchant, livemode=False, actor=ACTOR, email="kept@example.com")
    gone = customer_create(account=merchant, livemode=False, actor=ACTOR, email="gone@example.com")
    customer_delete(customer=gone, actor=ACTOR)
    browser = Client()
    browser.force_login(django_user_model.objects.create_superuser("root", "root@example.com", "pw"))

    changelist = browser.get(reverse("admin:billing_customer_changelist"), HTTP_ACCEPT_LANGUAGE="en")
    rows = {row.split("</tr>")[0] for row in changelist.content.decode().split("<tr")}
    assert "Deleted" in changelist.content.decode()
    assert any("gone@example.com" in row and "icon-yes" in row for row in rows)
    assert any("kept@example.com" in row and "icon-no" in row for row in rows)

    url = reverse("admin:billing_customer_change", args=[gone.pk])
    assert browser.get(url).status_code == 200
    assert browser.post(url, {"name": "Back"}).status_code == 403
    assert browser.get(reverse("admin:billing_customer_change", args=[kept.pk])).status_code == 200


def test_tax_id_data_adds_tax_ids_of_stripes_types(client):
    from billing.models import TaxId

    data = [
        {"type": "eu_vat", "value": "DE123456789"},  # Stripe's own example: the form is checked, not check digits
        {"type": "gb_vat", "value": "GB123456789"},
        {"type": "ch_vat", "value": "CHE123456789MWST"},
        {"type": "no_vat", "value": "123456789MVA"},
        {"type": "eu_oss_vat", "value": "EU123456789"},
        {"type": "us_ein", "value": "123456789"},
        {"type": "ca_bn", "value": "123456789"},
        {"type": "au_abn", "value": "12345678912"},
        {"type": "in_gst", "value": "12ABCDE3456FGZH"},
        {"type": "jp_cn", "value": "1234567891234"},
        {"type": "br_cnpj", "value": "01.234.456/5432-10"},
    ]
    customer = client.v1.customers.create({"name": "Ada", "tax_id_data": data})
    stored = {t.type: (t.value, t.country) for t in TaxId.objects.filter(customer_id=customer.id)}
    assert stored["eu_vat"] == ("DE123456789", "DE")
    assert stored["ch_vat"] == ("CHE-123.456.789 MWST", "CH")
    assert stored["us_ein"] == ("12-3456789", "US")
    assert stored["br_cnpj"] == ("01.234.456/5432-10", "BR")
    assert len(stored) == len(data)
    assert Event.objects.filter(type="customer.tax_id.created").count() == len(data)


@pytest.mark.parametrize(
    ("entry", "param", "code"),
    [
        ({"type": "eu_vat", "value": "DE1234"}, "tax_id_data[1][value]", "tax_id_invalid"),
        ({"type": "au_abn", "value": "ABN"}, "tax_id_data[1][value]", "tax_id_invalid"),
        ({"type": "xx_vat", "value": "1"}, "tax_id_data[1][type]", "parameter_invalid_string"),
    ],
)
def test_a_bad_tax_id_creates_nothing(client, entry, param, code):
    with pytest.raises(stripe.InvalidRequestError) as error:
        client.v1.customers.create({"name": "Ada", "tax_id_data": [{"type": "us_ein", "value": "12-3456789"}, entry]})
    assert (error.value.code, error.value.param, error.value.http_status) == (code, param, 400)
    assert not Customer.objects.filter(name="Ada").exists()
