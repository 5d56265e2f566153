"""``billing.statements``: the statements written once per process give the rows the ORM's querysets give, with
their related rows, flags and converted values."""

import datetime as dt

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from billing import statements
from billing.audit import Actor
from billing.models import AuditEntry, Customer, PaymentMethod, Subscription, SubscriptionItem, TaxId
from billing.prefetch import related_exists
from billing.services.customers import tax_id_create
from billing.services.subscriptions import ItemSpec, subscription_create
from configurations.models import Branding, PortalSession
from configurations.sessions import portal_session_create
from portal.services import portal_session_redeem
from tests.factories.billing import CustomerFactory, PriceFactory, TaxRateFactory, card, sepa
from tests.factories.portal import full_configuration

ACTOR = Actor.system("test")


def _fields(obj) -> dict:
    return {field.attname: getattr(obj, field.attname) for field in obj._meta.concrete_fields}


@pytest.mark.django_db
def test_rows_where_gives_the_querysets_rows_in_its_order_with_converted_values():
    customer, other = CustomerFactory(), CustomerFactory()
    card(customer)
    sepa(customer)
    card(other)
    tax_id_create(customer=customer, type="eu_vat", value="DE123456789", actor=ACTOR)

    expected = list(PaymentMethod.objects.filter(customer=customer).order_by("-created", "-id"))
    loaded = statements.rows_where(PaymentMethod, "customer", [customer.pk], ("-created", "-id"))

    assert [_fields(row) for row in loaded] == [_fields(row) for row in expected] and len(loaded) == 2
    assert isinstance(loaded[0].billing_details, dict) and loaded[0].created.tzinfo is not None  # JSON, aware times
    taxes = statements.rows_where(TaxId, "customer", [customer.pk, other.pk], ("id",))
    assert [_fields(row) for row in taxes] == [_fields(row) for row in TaxId.objects.filter(customer=customer)]
    assert statements.rows_where(TaxId, "customer", [], ("id",)) == []


@pytest.mark.django_db
def test_rows_where_joins_related_rows_and_sets_flags_in_one_query():
    customer = CustomerFactory()
    card(customer)
    basic, storage = PriceFactory(account=customer.account), PriceFactory(account=customer.account)
    first = subscription_create(customer=customer, items=[ItemSpec(basic), ItemSpec(storage, 2)], actor=ACTOR)
    second = subscription_create(customer=customer, items=[ItemSpec(basic)], actor=ACTOR)
    taxed = first.items.get(price=storage)
    taxed.tax_rates.add(TaxRateFactory(account=customer.account))
    flag = related_exists(SubscriptionItem.tax_rates.through, "subscriptionitem", SubscriptionItem)

    with CaptureQueriesContext(connection) as queries:
        items = statements.rows_where(
            SubscriptionItem,
            "subscription",
            [first.pk, second.pk],
            ("id",),
            related=("price", "price__product"),
            flags=(("has_tax_rates", flag),),
        )
        seen = [(item.price.unit_amount, item.price.product.name, item.has_tax_rates) for item in items]

    assert len(queries) == 1
    expected = SubscriptionItem.objects.filter(subscription__in=[first, second]).order_by("id")
    assert [_fields(item) for item in items] == [_fields(item) for item in expected]
    assert seen == [(item.price.unit_amount, item.price.product.name, item.pk == taxed.pk) for item in expected]


@pytest.mark.django_db
def test_a_foreign_key_that_may_be_empty_is_outer_joined_and_exclusions_leave_rows_out():
    customer = CustomerFactory()
    attached, detached = card(customer), card(customer, default=False)
    PaymentMethod.objects.filter(pk=detached.pk).update(customer=None)

    rows = statements.rows_where(
        PaymentMethod, "account", [customer.account_id], ("id",), related=("customer", "customer__account")
    )
    assert [(row.pk, row.customer and row.customer.pk) for row in rows] == [
        (attached.pk, customer.pk),
        (detached.pk, None),
    ]
    assert rows[0].customer.account.name == customer.account.name
    kept = statements.rows_where(
        PaymentMethod, "account", [customer.account_id], ("id",), excluding=(("id", (attached.pk,)),)
    )
    assert [row.pk for row in kept] == [detached.pk]
    matched = statements.rows_where(
        PaymentMethod, "account", [customer.account_id], ("id",), matching=(("id", (attached.pk,)),)
    )
    assert [row.pk for row in matched] == [attached.pk]


@pytest.mark.django_db
def test_rows_where_filters_on_a_column_of_a_joined_row():
    customer, other = CustomerFactory(), CustomerFactory()
    for buyer in (customer, other):
        card(buyer)
        subscription_create(customer=buyer, items=[ItemSpec(PriceFactory(account=buyer.account))], actor=ACTOR)

    items = statements.rows_where(
        SubscriptionItem, "subscription__customer", [customer.pk], ("-id",), related=("subscription",)
    )

    expected = SubscriptionItem.objects.filter(subscription__customer=customer).order_by("-id")
    assert [item.pk for item in items] == [item.pk for item in expected] and len(items) == 1
    assert items[0].subscription.customer_id == customer.pk


@pytest.mark.django_db
def test_bounds_a_related_row_condition_and_a_limit_read_what_the_orm_reads():
    customer = CustomerFactory()
    card(customer)
    basic, storage = PriceFactory(account=customer.account), PriceFactory(account=customer.account)
    start = timezone.now().replace(microsecond=0) - dt.timedelta(days=10)
    made = []
    for day, prices in enumerate(([basic], [storage], [basic, storage], [storage])):
        with time_machine.travel(start + dt.timedelta(days=day, microseconds=250), tick=False):
            made.append(
                subscription_create(customer=customer, items=[ItemSpec(price) for price in prices], actor=ACTOR)
            )
    since, until = start + dt.timedelta(days=1), start + dt.timedelta(days=2, microseconds=250)

    found = statements.rows_where(
        Subscription,
        "customer",
        [customer.pk],
        ("-id",),
        bounds=(("created", ">=", since), ("created", "<=", until)),
        having=((SubscriptionItem, "subscription", "price", [storage.pk]),),
        limit=5,
    )
    expected = (
        Subscription.objects.filter(
            customer=customer, created__gte=since, created__lte=until, items__price=storage
        ).order_by("-id")
    )[:5]
    assert [row.pk for row in found] == [row.pk for row in expected] == [made[2].pk, made[1].pk]
    assert [
        row.pk
        for row in statements.rows_where(
            Subscription, "customer", [customer.pk], ("id",), bounds=(("id", ">", made[0].pk),), limit=2
        )
    ] == [made[1].pk, made[2].pk]
    assert (
        statements.rows_where(Subscription, "customer", [customer.pk], ("id",), bounds=(("created", "<", start),)) == []
    )


@pytest.mark.django_db
@pytest.mark.parametrize("count", [1, 3, statements.INSERT_ROWS + 1])
def test_insert_writes_the_rows_bulk_create_would(count):
    customer = CustomerFactory()
    entries = [
        AuditEntry(
            account_id=customer.account_id,
            actor_type=AuditEntry.ActorType.SYSTEM,
            actor_label="test",
            action=f"customer.update.{index}",
            object_type="customer",
            object_id=customer.pk,
            changes={"name": [f"Old {index}", "Ünïcode"]},
        )
        for index in range(count)
    ]

    statements.insert(AuditEntry, entries)

    written = list(
        AuditEntry.objects.filter(object_id=customer.pk, action__startswith="customer.update.").order_by("id")
    )
    assert [(row.action, row.changes, row.created, row.livemode) for row in written] == [
        (entry.action, entry.changes, entry.created, False) for entry in entries
    ]
    assert not entries[0]._state.adding


@pytest.mark.django_db
def test_instances_behave_as_the_orms_and_file_fields_go_through_the_models_own_init():
    customer = CustomerFactory(name="Before")
    card(customer)
    (loaded,) = statements.rows_where(Customer, "id", [customer.pk], ("id",))
    orm = Customer.objects.get(pk=customer.pk)
    assert loaded == orm and _fields(loaded) == _fields(orm)
    assert (loaded._state.adding, loaded._state.db) == (False, "default") and loaded.account == customer.account

    loaded.name = "After"
    loaded.save(update_fields=["name"])  # an UPDATE of the row read, not an INSERT
    assert Customer.objects.get(pk=customer.pk).name == "After"
    assert Customer.objects.count() == 1

    assert statements.columns(Customer, "c").plain
    assert not statements.columns(Branding, "b").plain  # its FileFields wrap their values: Model.__init__ makes it
    branding = Branding.objects.create(account=customer.account, business_name="Shop", icon="icons/a.png")
    (read,) = statements.rows_where(Branding, "account", [customer.account_id], ())
    assert read.icon.name == "icons/a.png" and read.icon.instance is read and read.pk == branding.pk


@pytest.mark.django_db
def test_a_reverse_one_to_one_is_outer_joined_and_null_conditions_and_joined_columns_filter(
    django_assert_num_queries,
):
    """The portal's session look-up: the account's branding (which an account may lack), the session not ended, its
    customer not deleted."""
    branded, plain = CustomerFactory(), CustomerFactory()
    Branding.objects.create(account=branded.account, business_name="Shop")
    for customer in (branded, plain):
        full_configuration(customer.account)
    sessions = {}
    for customer in (branded, plain):
        session, url = portal_session_create(customer=customer, actor=ACTOR)
        sessions[customer.pk] = portal_session_redeem(token=url.rsplit("/", 1)[1]).session
    ended, url = portal_session_create(customer=branded, actor=ACTOR)
    PortalSession.objects.filter(pk=ended.pk).update(ended_at=timezone.now())

    def read(pks):
        return statements.rows_where(
            PortalSession,
            "id",
            pks,
            ("id",),
            related=("account", "account__branding", "customer", "configuration"),
            missing=("ended_at",),
            matching=(("customer__deleted", [False]),),
        )

    found = read([*(session.pk for session in sessions.values()), ended.pk])
    expected = PortalSession.objects.select_related("account__branding", "customer", "configuration").filter(
        pk__in=[*(session.pk for session in sessions.values()), ended.pk],
        ended_at__isnull=True,
        customer__deleted=False,
    )
    assert [_fields(row) for row in found] == [_fields(row) for row in expected.order_by("id")] and len(found) == 2
    by_customer = {row.customer_id: row for row in found}
    with django_assert_num_queries(0):
        assert by_customer[branded.pk].account.branding.business_name == "Shop"
        assert by_customer[branded.pk].account.branding.account is by_customer[branded.pk].account
        with pytest.raises(Branding.DoesNotExist):
            by_customer[plain.pk].account.branding  # noqa: B018 (missing, as select_related leaves it)
        assert by_customer[plain.pk].customer == plain
    Customer.objects.filter(pk=plain.pk).update(deleted=True)
    assert [row.customer_id for row in read([session.pk for session in sessions.values()])] == [branded.pk]
