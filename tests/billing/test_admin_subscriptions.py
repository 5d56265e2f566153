"""The back office's subscription list: collection-status filter, search, pause/resume actions, CSV export."""

import csv
import datetime as dt
import io
from types import SimpleNamespace

import pytest
from django.contrib.auth.models import Permission
from django.contrib.messages import get_messages
from django.core.management import CommandError, call_command
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from billing import clock
from billing.audit import Actor
from billing.exports import HEADER
from billing.models import AuditEntry, Event, Subscription
from billing.services.accounts import api_key_create, staff_user_add
from billing.services.subscriptions import (
    ItemSpec,
    OfferDecision,
    subscription_cancel,
    subscription_create,
    subscription_offer_decline,
    subscription_pause_collection,
)
from tests.factories.billing import AccountFactory, CustomerFactory, PriceFactory, card

ACTOR = Actor.system("test")
CHANGELIST = reverse("admin:billing_subscription_changelist")
EXPORT = reverse("admin:billing_subscription_export")
BOM = "\ufeff"


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def merchant(name: str) -> SimpleNamespace:
    account = AccountFactory(name=name)
    staff = staff_user_add(account=account, email=f"staff@{name.lower()}.example")
    price = PriceFactory(account=account, product__account=account, unit_amount=1999, currency="eur")
    return SimpleNamespace(account=account, staff=staff, price=price)


def subscribe(shop, *, email, name="", items=None, behavior=None, resumes_in=None) -> Subscription:
    customer = CustomerFactory(account=shop.account, email=email, name=name)
    card(customer)
    subscription = subscription_create(customer=customer, items=items or [ItemSpec(shop.price)], actor=ACTOR)
    if behavior:
        resumes_at = clock.now() + resumes_in if resumes_in else None
        subscription = subscription_pause_collection(
            subscription=subscription, actor=ACTOR, behavior=behavior, resumes_at=resumes_at
        )
    return subscription


@pytest.fixture
def shop(db):
    return merchant("Alpha")


@pytest.fixture
def zoo(shop):
    """One subscription in every collection state, and a paused one of another merchant."""
    beta = merchant("Beta")
    return SimpleNamespace(
        collecting=subscribe(shop, email="ada@alpha.example", name="Ada Lovelace"),
        collecting_too=subscribe(shop, email="grace@alpha.example", name="Grace Hopper"),
        draft_indefinitely=subscribe(shop, email="alan@alpha.example", name="Alan Turing", behavior="keep_as_draft"),
        uncollectible_soon=subscribe(
            shop,
            email="edsger@alpha.example",
            name="Edsger Dijkstra",
            behavior="mark_uncollectible",
            resumes_in=dt.timedelta(days=3),
        ),
        void_later=subscribe(
            shop,
            email="barbara@alpha.example",
            name="Barbara Liskov",
            behavior="void",
            resumes_in=dt.timedelta(days=30),
        ),
        draft_soon=subscribe(
            shop,
            email="donald@alpha.example",
            name="Donald Knuth",
            behavior="keep_as_draft",
            resumes_in=dt.timedelta(days=6, hours=23),
        ),
        other_merchant=subscribe(beta, email="eve@beta.example", behavior="void"),
    )


@pytest.fixture
def staff_client(client, shop):
    client.force_login(shop.staff)
    return client


def listed(response) -> list[str]:
    assert response.status_code == 200
    return [row.pk for row in response.context["cl"].result_list]


def exported(response) -> list[list[str]]:
    assert response.status_code == 200 and response["Content-Type"] == "text/csv; charset=utf-8"
    text = b"".join(response.streaming_content).decode("utf-8")
    assert text.startswith(BOM)
    delimiter = ";" if text[1:].split("\r\n", 1)[0].count(";") else ","
    rows = list(csv.reader(io.StringIO(text[1:]), delimiter=delimiter))
    assert rows[0] == list(HEADER)
    return rows[1:]


def messages_of(response) -> list[str]:
    return [str(message) for message in get_messages(response.wsgi_request)]


# ---------------------------------------------------------------------------------------------- filter


FILTERS = {
    "collecting": ("pause_collection.behavior:null", {"collecting", "collecting_too"}),
    "paused": (
        "-pause_collection.behavior:null",
        {"draft_indefinitely", "uncollectible_soon", "void_later", "draft_soon"},
    ),
    "keep_as_draft": ('pause_collection.behavior:"keep_as_draft"', {"draft_indefinitely", "draft_soon"}),
    "mark_uncollectible": ('pause_collection.behavior:"mark_uncollectible"', {"uncollectible_soon"}),
    "void": ('pause_collection.behavior:"void"', {"void_later"}),
    "resumes_soon": ("pause_collection.resumes_at<={in_7_days}", {"uncollectible_soon", "draft_soon"}),
    "no_resume_date": (
        "-pause_collection.behavior:null AND pause_collection.resumes_at:null",
        {"draft_indefinitely"},
    ),
}


@pytest.mark.parametrize("value", FILTERS)
def test_each_collection_status_filter(staff_client, zoo, value):
    _query, names = FILTERS[value]
    expected = {getattr(zoo, name).pk for name in names}
    assert set(listed(staff_client.get(CHANGELIST, {"collection": value}))) == expected


def test_without_the_filter_every_own_subscription_is_listed(staff_client, zoo):
    ids = set(listed(staff_client.get(CHANGELIST)))
    assert zoo.other_merchant.pk not in ids and len(ids) == 6


@pytest.mark.parametrize("value", FILTERS)
def test_the_filter_agrees_with_the_api_search(staff_client, shop, zoo, value):
    query, _names = FILTERS[value]
    query = query.format(in_7_days=int((clock.now() + dt.timedelta(days=7)).timestamp()))
    _key, secret = api_key_create(account=shop.account, livemode=False)
    answer = Client().get(
        "/v1/subscriptions/search", {"query": query, "limit": 100}, HTTP_AUTHORIZATION=f"Bearer {secret}"
    )
    assert answer.status_code == 200, answer.content
    found = {row["id"] for row in answer.json()["data"]}
    assert found and found == set(listed(staff_client.get(CHANGELIST, {"collection": value})))


@pytest.mark.parametrize(
    "query",
    ["pause_collection.resumes_at>null", 'pause_collection.resumes_at:"soon"', "pause_collection.resumes_at~123"],
)
def test_the_api_search_refuses_a_malformed_resume_date(shop, query):
    _key, secret = api_key_create(account=shop.account, livemode=False)
    answer = Client().get("/v1/subscriptions/search", {"query": query}, HTTP_AUTHORIZATION=f"Bearer {secret}")
    assert answer.status_code == 400
    assert (
        answer.json()["error"]["param"] == "query"
        and "pause_collection.resumes_at" in answer.json()["error"]["message"]
    )


def test_the_filter_lists_its_choices_in_german(staff_client, zoo):
    page = staff_client.get(CHANGELIST, HTTP_ACCEPT_LANGUAGE="de").content.decode()
    assert "Status des Zahlungseinzugs" in page and "Pausiert ohne Fortsetzungsdatum" in page
    assert "Als CSV exportieren" in page and "Zahlungseinzug pausieren…" in page
    form = staff_client.post(
        CHANGELIST,
        {"action": "pause_collection", "_selected_action": [zoo.collecting.pk], "index": "0"},
        HTTP_ACCEPT_LANGUAGE="de",
    ).content.decode()
    assert "Zahlungseinzug für 1 Abonnement pausieren." in form and "Automatisch fortsetzen am" in form


def test_columns_show_how_and_until_when_collection_is_paused(staff_client, zoo):
    page = staff_client.get(CHANGELIST, {"q": zoo.uncollectible_soon.pk}).content.decode()
    assert '<td class="field-pause_behavior">Mark invoices uncollectible</td>' in page
    assert '<td class="field-customer_name">Edsger Dijkstra</td>' in page
    resumes = page.split('<td class="field-resumes_at nowrap">', 1)[1].split("</td>", 1)[0]
    assert str(zoo.uncollectible_soon.pause_collection_resumes_at.year) in resumes
    collecting = staff_client.get(CHANGELIST, {"q": zoo.collecting.pk}).content.decode()
    assert '<td class="field-pause_behavior">-</td>' in collecting


# ---------------------------------------------------------------------------------------------- search


@pytest.mark.parametrize(
    ("term", "name"),
    [
        ("grace@alpha.example", "collecting_too"),
        ("Dijkstra", "uncollectible_soon"),
        ("customer_id", "void_later"),
        ("subscription_id", "draft_soon"),
    ],
)
def test_search_by_customer_email_name_or_id(staff_client, zoo, term, name):
    subscription = getattr(zoo, name)
    term = {"customer_id": subscription.customer_id, "subscription_id": subscription.pk}.get(term, term)
    assert listed(staff_client.get(CHANGELIST, {"q": term})) == [subscription.pk]


def test_search_never_finds_another_merchants_subscription(staff_client, zoo):
    assert listed(staff_client.get(CHANGELIST, {"q": "eve@beta.example"})) == []


# ---------------------------------------------------------------------------------------------- actions


def pause_action(client, *subscriptions, url=CHANGELIST, **form):
    data = {"action": "pause_collection", "_selected_action": [s.pk for s in subscriptions], **form}
    return client.post(url, data, follow=True)


def test_pause_asks_for_the_behaviour_first(staff_client, zoo):
    response = pause_action(staff_client, zoo.collecting, index="0")
    assert response.status_code == 200
    assert "admin/billing/subscription/pause_collection.html" in [t.name for t in response.templates]
    page = response.content.decode()
    assert zoo.collecting.pk in page and 'name="behavior"' in page and 'name="resumes_at"' in page
    zoo.collecting.refresh_from_db()
    assert not zoo.collecting.collection_paused


def test_pause_with_a_past_resume_date_is_a_form_error(staff_client, zoo):
    past = (clock.now() - dt.timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M")
    response = pause_action(staff_client, zoo.collecting, apply="1", behavior="void", resumes_at=past)
    assert response.status_code == 200
    assert response.context["form"].errors["resumes_at"] == ["The resume date must be in the future."]
    zoo.collecting.refresh_from_db()
    assert not zoo.collecting.collection_paused
    assert not AuditEntry.objects.filter(action="subscription.pause_collection", actor_type="staff").exists()


def test_pause_with_an_unknown_behaviour_is_a_form_error(staff_client, zoo):
    response = pause_action(staff_client, zoo.collecting, apply="1", behavior="forever")
    assert response.status_code == 200 and "behavior" in response.context["form"].errors


def test_pause_records_the_event_and_the_audit_entry_per_subscription(staff_client, shop, zoo):
    resumes_at = (clock.now() + dt.timedelta(days=14)).replace(second=0, microsecond=0)
    response = pause_action(
        staff_client,
        zoo.collecting,
        zoo.collecting_too,
        apply="1",
        behavior="mark_uncollectible",
        resumes_at=resumes_at.strftime("%Y-%m-%dT%H:%M"),
    )
    assert response.status_code == 200
    assert "Paused payment collection for 2 subscriptions." in messages_of(response)
    for subscription in (zoo.collecting, zoo.collecting_too):
        subscription.refresh_from_db()
        assert subscription.status == Subscription.Status.ACTIVE
        assert subscription.pause_collection == {
            "behavior": "mark_uncollectible",
            "resumes_at": int(resumes_at.timestamp()),
        }
        event = Event.objects.filter(type="customer.subscription.updated", data_object__id=subscription.pk).latest(
            "created"
        )
        assert event.previous_attributes == {"pause_collection": None}
        entry = AuditEntry.objects.get(action="subscription.pause_collection", object_id=subscription.pk)
        assert entry.actor_type == "staff" and entry.actor_id == str(shop.staff.pk)


def test_pause_reports_a_row_the_service_refuses_and_pauses_the_others(staff_client, zoo):
    subscription_cancel(subscription=zoo.collecting_too, actor=ACTOR, at_period_end=False)
    response = pause_action(staff_client, zoo.collecting, zoo.collecting_too, apply="1", behavior="void")
    assert any(m.startswith(zoo.collecting_too.pk) and "canceled subscription" in m for m in messages_of(response)), (
        messages_of(response)
    )
    assert "Paused payment collection for 1 subscription." in messages_of(response)
    zoo.collecting.refresh_from_db()
    assert zoo.collecting.pause_collection_behavior == "void"


def test_pause_every_subscription_of_a_filtered_changelist(staff_client, zoo):
    response = pause_action(
        staff_client,
        zoo.collecting,
        url=f"{CHANGELIST}?collection=collecting",
        apply="1",
        behavior="keep_as_draft",
        select_across="1",
    )
    assert "Paused payment collection for 2 subscriptions." in messages_of(response)
    assert not Subscription.objects.filter(account=zoo.collecting.account).collecting().exists()


def test_resume_collection(staff_client, zoo):
    response = staff_client.post(
        CHANGELIST,
        {"action": "resume_collection", "_selected_action": [zoo.void_later.pk, zoo.collecting.pk], "index": "0"},
        follow=True,
    )
    assert "Resumed payment collection for 1 subscription." in messages_of(response)
    assert "1 subscription was not paused." in messages_of(response)
    zoo.void_later.refresh_from_db()
    assert zoo.void_later.pause_collection is None
    event = Event.objects.filter(type="customer.subscription.updated", data_object__id=zoo.void_later.pk).latest(
        "created"
    )
    assert event.previous_attributes["pause_collection"]["behavior"] == "void"
    assert AuditEntry.objects.filter(
        action="subscription.resume_collection", object_id=zoo.void_later.pk, actor_type="staff"
    ).exists()


def test_actions_need_the_change_permission(client, shop, zoo):
    viewer = staff_user_add(account=shop.account, email="viewer@alpha.example")
    viewer.groups.clear()
    viewer.user_permissions.add(Permission.objects.get(codename="view_subscription"))
    client.force_login(viewer)
    pause_action(client, zoo.collecting, apply="1", behavior="void")
    zoo.collecting.refresh_from_db()
    assert not zoo.collecting.collection_paused


# ---------------------------------------------------------------------------------------------- export


def test_export_with_filter_and_search_is_exactly_the_changelist(staff_client, zoo):
    params = {"collection": "paused", "q": "alpha.example"}
    shown = listed(staff_client.get(CHANGELIST, params))
    assert len(shown) == 4
    assert [row[0] for row in exported(staff_client.get(EXPORT, params))] == shown
    # A column ordering of the changelist is followed too.
    first = staff_client.get(CHANGELIST, params)
    params["o"] = str(first.context["cl"].list_display.index("customer_email"))
    ordered = listed(staff_client.get(CHANGELIST, params))
    assert ordered != shown and [row[0] for row in exported(staff_client.get(EXPORT, params))] == ordered


def test_the_changelist_links_its_export_with_its_filters(staff_client, zoo):
    page = staff_client.get(CHANGELIST, {"collection": "void", "q": "alpha"}).content.decode()
    assert f'href="{EXPORT}?' in page
    link = page.split(f'href="{EXPORT}?', 1)[1].split('"', 1)[0].replace("&amp;", "&")
    assert sorted(link.split("&")) == ["collection=void", "q=alpha"]


def test_export_columns(staff_client, shop, zoo):
    second = PriceFactory(account=shop.account, product__account=shop.account, unit_amount=500, currency="eur")
    both = subscribe(
        shop, email="two@alpha.example", name="Two Items", items=[ItemSpec(shop.price, 2), ItemSpec(second)]
    )
    rows = {row[0]: row for row in exported(staff_client.get(EXPORT))}
    assert set(rows) == {s.pk for s in Subscription.objects.filter(account=shop.account)}
    row = dict(zip(HEADER, rows[both.pk], strict=True))
    assert row == {
        "subscription_id": both.pk,
        "customer_id": both.customer_id,
        "customer_email": "two@alpha.example",
        "customer_name": "Two Items",
        "status": "active",
        "pause_collection_behavior": "",
        "pause_collection_resumes_at": "",
        "current_period_end": both.current_period_end.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "price_ids": " ".join(item.price_id for item in both.items.order_by("id")),
        "amount": "44.98",
        "currency": "eur",
        "created": both.created.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "cancellation_feedback": "",
        "retention_offers_accepted": "",
        "retention_offers_declined": "",
    }
    paused = dict(zip(HEADER, rows[zoo.uncollectible_soon.pk], strict=True))
    resumes_at = zoo.uncollectible_soon.pause_collection_resumes_at.astimezone(dt.UTC)
    assert paused["pause_collection_behavior"] == "mark_uncollectible"
    assert paused["pause_collection_resumes_at"] == resumes_at.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert paused["price_ids"] == shop.price.pk and paused["amount"] == "19.99"


def test_export_shows_the_cancellation_offers_answered_and_the_reason(staff_client, shop):
    subscription = subscribe(shop, email="ladder@alpha.example", items=[ItemSpec(shop.price)])
    actor = Actor.system("test")
    subscription_offer_decline(
        subscription=subscription, actor=actor, decision=OfferDecision("bco_1", "pause", {"days": 30})
    )
    subscription_cancel(
        subscription=subscription,
        actor=actor,
        at_period_end=True,
        feedback="too_expensive",
        declined_offers=[OfferDecision("bco_2", "switch", {"price": shop.price.pk})],
    )
    (row,) = [row for row in exported(staff_client.get(EXPORT)) if row[0] == subscription.pk]
    row = dict(zip(HEADER, row, strict=True))
    assert row["cancellation_feedback"] == "too_expensive"
    assert (row["retention_offers_accepted"], row["retention_offers_declined"]) == ("", "pause switch")


@pytest.mark.parametrize(("currency", "unit_amount", "amount"), [("jpy", 500, "500"), ("kwd", 12345, "12.345")])
def test_export_amounts_use_the_currency_exponent(staff_client, shop, currency, unit_amount, amount):
    price = PriceFactory(
        account=shop.account, product__account=shop.account, unit_amount=unit_amount, currency=currency
    )
    subscription = subscribe(shop, email="yen@alpha.example", items=[ItemSpec(price)])
    (row,) = exported(staff_client.get(EXPORT))
    assert (row[0], row[HEADER.index("amount")], row[HEADER.index("currency")]) == (subscription.pk, amount, currency)


def test_export_delimiter(staff_client, zoo):
    english = staff_client.get(EXPORT, {"q": "ada@"})
    assert b"".join(english.streaming_content).decode().splitlines()[0] == BOM + ",".join(HEADER)
    semicolons = b"".join(staff_client.get(EXPORT, {"q": "ada@", "delimiter": "semicolon"}).streaming_content)
    assert semicolons.decode().splitlines()[0] == BOM + ";".join(HEADER)
    german = staff_client.get(EXPORT, {"q": "ada@"}, HTTP_ACCEPT_LANGUAGE="de")
    assert b"".join(german.streaming_content).decode().splitlines()[0] == BOM + ";".join(HEADER)
    commas = staff_client.get(EXPORT, {"q": "ada@", "delimiter": "comma"}, HTTP_ACCEPT_LANGUAGE="de")
    assert b"".join(commas.streaming_content).decode().splitlines()[0] == BOM + ",".join(HEADER)
    assert staff_client.get(EXPORT, {"delimiter": "tab"}).status_code == 400


def test_export_is_utf8_with_a_byte_order_mark(staff_client, shop):
    subscribe(shop, email="jose@alpha.example", name="José Müller-Lüdenscheidt")
    response = staff_client.get(EXPORT)
    body = b"".join(response.streaming_content)
    assert body.startswith(b"\xef\xbb\xbf") and "José Müller-Lüdenscheidt".encode() in body
    assert response["Content-Disposition"].startswith('attachment; filename="subscriptions-')


@pytest.mark.parametrize(
    "name", ['=HYPERLINK("http://evil.example")', "+49 30 1234", "-1+1", "@SUM(A1:A9)", "\tcmd", "\rcmd"]
)
def test_export_escapes_formulas(staff_client, shop, name):
    subscribe(shop, email="@evil.example", name=name)
    (row,) = exported(staff_client.get(EXPORT))
    assert row[HEADER.index("customer_name")] == "'" + name
    assert row[HEADER.index("customer_email")] == "'@evil.example"


def test_export_keeps_harmless_cells_as_they_are(staff_client, shop):
    subscribe(shop, email="plain@alpha.example", name='Plain, "quoted"; name')
    (row,) = exported(staff_client.get(EXPORT))
    assert row[HEADER.index("customer_name")] == 'Plain, "quoted"; name'


def test_export_shows_only_own_rows_and_needs_a_login(client, staff_client, zoo):
    ids = {row[0] for row in exported(staff_client.get(EXPORT))}
    assert zoo.other_merchant.pk not in ids and len(ids) == 6
    anonymous = Client().get(EXPORT)
    assert anonymous.status_code == 302 and "/login/" in anonymous["Location"]


def test_export_refuses_a_staff_user_without_the_view_permission(client, shop, zoo):
    outsider = staff_user_add(account=shop.account, email="outsider@alpha.example")
    outsider.groups.clear()
    client.force_login(outsider)
    assert client.get(EXPORT).status_code == 403


def test_export_with_a_bad_filter_goes_back_to_the_changelist(staff_client, zoo):
    response = staff_client.get(EXPORT, {"created__gte": "not a date"})
    assert response.status_code == 302 and response["Location"].endswith("?e=1")


# ---------------------------------------------------------------------------------------------- command


def command_rows(*args) -> list[list[str]]:
    out = io.StringIO()
    call_command("export_subscriptions", *args, stdout=out)
    text = out.getvalue()
    assert text.startswith(BOM)
    rows = list(csv.reader(io.StringIO(text[1:]), delimiter=";" if "--delimiter=semicolon" in args else ","))
    assert rows[0] == list(HEADER)
    return rows[1:]


def test_command_exports_paused_subscriptions_of_one_account(shop, zoo):
    rows = command_rows("--account", shop.account.pk, "--mode", "test", "--collection-paused")
    expected = Subscription.objects.filter(account=shop.account).collection_paused().order_by("-pk")
    assert [row[0] for row in rows] == [s.pk for s in expected]
    assert {row[HEADER.index("pause_collection_behavior")] for row in rows} == {
        "keep_as_draft",
        "mark_uncollectible",
        "void",
    }


def test_command_defaults_to_live_data_of_every_account(zoo):
    assert command_rows() == []
    ids = {row[0] for row in command_rows("--mode", "test")}
    assert zoo.other_merchant.pk in ids and zoo.collecting.pk in ids


def test_command_writes_a_file_with_semicolons(tmp_path, shop, zoo):
    target = tmp_path / "paused.csv"
    out = io.StringIO()
    call_command(
        "export_subscriptions",
        "--mode=test",
        "--collection-paused",
        "--delimiter=semicolon",
        f"--output={target}",
        stdout=out,
    )
    body = target.read_bytes()
    assert body.startswith(b"\xef\xbb\xbf" + ";".join(HEADER).encode())
    assert len(body.decode("utf-8-sig").splitlines()) == 1 + 5
    assert "Wrote 5 subscriptions" in out.getvalue()
    assert command_rows("--mode=test", "--collection-paused", "--delimiter=semicolon")[0][0] in body.decode()


def test_command_refuses_an_unknown_account(db):
    with pytest.raises(CommandError, match="No such account"):
        call_command("export_subscriptions", "--account", "acct_missing", stdout=io.StringIO())


# ---------------------------------------------------------------------------------------------- query counts


def queries_for(client, url, **params) -> int:
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url, params)
        assert response.status_code == 200
        if response.streaming:
            b"".join(response.streaming_content)
    return len(captured.captured_queries)


def test_changelist_and_export_queries_do_not_grow_with_the_rows(staff_client, shop):
    subscribe(shop, email="first@alpha.example", behavior="void", resumes_in=dt.timedelta(days=2))
    one = (queries_for(staff_client, CHANGELIST), queries_for(staff_client, EXPORT))
    for i in range(29):
        subscribe(shop, email=f"more{i}@alpha.example", behavior="void" if i % 3 else None)
    thirty = (queries_for(staff_client, CHANGELIST), queries_for(staff_client, EXPORT))
    assert Subscription.objects.filter(account=shop.account).count() == 30
    assert thirty == one
