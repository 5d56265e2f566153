"""The cancellation offer ladder in the admin: an ordered inline saved through the configuration service, its
errors shown on the offer that causes them, and the report per offer (shown, accepted, declined, canceled anyway)
in a constant number of queries."""

import datetime as dt

import time_machine
from django.contrib.admin.utils import quote
from django.urls import reverse

from billing.audit import Actor
from billing.models import CancellationOfferOutcome
from billing.services.coupons import coupon_create
from billing.services.subscriptions import OfferDecision, subscription_cancel, subscription_offer_accept
from configurations.models import CancellationOffer, PortalConfiguration
from configurations.selectors import cancellation_offer_report
from configurations.services.portal_configurations import configuration_create
from tests.billing.helpers import subscribed
from tests.configurations.helpers import post_data

ACTOR = Actor.system("test")
ADD = reverse("admin:configurations_portalconfiguration_add")
GERMAN = {"HTTP_ACCEPT_LANGUAGE": "de"}


def change_url(obj) -> str:
    return reverse("admin:configurations_portalconfiguration_change", args=[quote(obj.pk)])


def offer_row(index: int, **fields) -> dict:
    return {f"cancellation_offers-{index}-position": str(index)} | {
        f"cancellation_offers-{index}-{key}": value for key, value in fields.items()
    }


def coupon(account, coupon_id="STAY20"):
    return coupon_create(
        account=account,
        livemode=False,
        actor=ACTOR,
        coupon_id=coupon_id,
        percent_off=20,
        duration="repeating",
        duration_in_months=3,
    )


def test_offers_are_added_in_order_through_the_inline(staff_client, merchant):
    stay = coupon(merchant)
    data = post_data(staff_client.get(ADD), name="Ladder", pause_collection_enabled="on")
    data.update(offer_row(0, type="coupon", coupon=stay.pk, reasons=["too_expensive"]))
    data.update(offer_row(1, type="pause", pause_days="30"))
    data["cancellation_offers-TOTAL_FORMS"] = "2"
    response = staff_client.post(ADD, data)
    assert response.status_code == 302, response.context["inline_admin_formsets"][1].formset.errors
    configuration = PortalConfiguration.objects.get(name="Ladder")
    offers = list(configuration.cancellation_offers.order_by("position"))
    assert [(o.type, o.coupon_id, o.pause_days, o.reasons) for o in offers] == [
        ("coupon", stay.pk, None, ["too_expensive"]),
        ("pause", None, 30, []),
    ]


def test_a_pause_offer_while_pause_is_off_is_refused_on_that_offer_in_german(staff_client, merchant):
    stay = coupon(merchant)
    data = post_data(staff_client.get(ADD), name="Ladder")
    data.update(offer_row(0, type="coupon", coupon=stay.pk))
    data.update(offer_row(1, type="pause", pause_days="30"))
    data["cancellation_offers-TOTAL_FORMS"] = "2"
    response = staff_client.post(ADD, data, **GERMAN)
    assert response.status_code == 200
    formset = response.context["inline_admin_formsets"][1].formset
    assert formset.forms[0].errors == {}
    errors = " ".join(formset.forms[1].non_field_errors())
    assert "„Kunden dürfen Zahlungen pausieren“=true" in errors and "features[" not in errors
    assert "Pause" in errors and "may not pause" not in errors  # in German
    assert not PortalConfiguration.objects.exists()


def test_a_deleted_coupon_is_refused_on_its_field(staff_client, merchant):
    gone = coupon(merchant, "GONE")
    gone.deleted = True
    gone.save()
    data = post_data(staff_client.get(ADD), name="Ladder")
    data.update(offer_row(0, type="coupon", coupon=gone.pk))
    response = staff_client.post(ADD, data)
    assert response.status_code == 200
    errors = response.context["inline_admin_formsets"][1].formset.forms[0].errors
    assert "No such coupon: 'GONE'" in " ".join(errors["coupon"])


def test_the_report_counts_shown_accepted_and_canceled_anyway(staff_client, merchant, django_assert_num_queries):
    t0 = dt.datetime(2026, 3, 1, tzinfo=dt.UTC)
    coupon(merchant)
    configuration = configuration_create(
        account=merchant,
        livemode=False,
        actor=ACTOR,
        data={
            "features": {
                "subscription_cancel": {
                    "enabled": True,
                    "offers": [{"type": "pause", "days": 30}, {"type": "coupon", "coupon": "STAY20"}],
                },
                "pause_collection": {"enabled": True, "behavior": "void"},
            }
        },
    )
    pause, stay = configuration.cancellation_offers.order_by("position")
    keeps, leaves, later, soon = (subscribed(t0, account=merchant) for _ in range(4))
    with time_machine.travel(t0 + dt.timedelta(days=5), tick=False):
        decision = OfferDecision(pause.id, "pause", pause.terms)
        # Declines the pause, accepts the coupon and stays.
        subscription_cancel(subscription=leaves, actor=ACTOR, at_period_end=True, declined_offers=[decision])
        for subscription in (keeps, later):
            subscription_offer_accept(
                subscription=subscription,
                actor=ACTOR,
                decision=OfferDecision(stay.id, "coupon", stay.terms),
                coupon=stay.coupon,
            )
    with time_machine.travel(t0 + dt.timedelta(days=9), tick=False):
        subscription_cancel(subscription=later, actor=ACTOR, at_period_end=True, declined_offers=[])
    # Accepted and canceled within one second: the subscription keeps its times in whole seconds, the outcome not.
    with time_machine.travel(t0 + dt.timedelta(days=10, microseconds=400_000), tick=False):
        subscription_offer_accept(
            subscription=soon, actor=ACTOR, decision=OfferDecision(stay.id, "coupon", stay.terms), coupon=stay.coupon
        )
    with time_machine.travel(t0 + dt.timedelta(days=10, microseconds=700_000), tick=False):
        subscription_cancel(subscription=soon, actor=ACTOR, at_period_end=True, declined_offers=[])

    with django_assert_num_queries(2):
        rows = cancellation_offer_report(configuration)
    assert [(r.offer.id, r.shown, r.accepted, r.declined, r.canceled_anyway) for r in rows] == [
        (pause.id, 1, 0, 1, 0),
        (stay.id, 3, 3, 0, 2),
    ]
    assert CancellationOfferOutcome.objects.filter(outcome="canceled").count() == 3

    html = staff_client.get(change_url(configuration)).content.decode()
    assert f'<tr data-offer="{stay.id}"><td>Coupon STAY20</td><td>3</td><td>3</td><td>0</td><td>2</td></tr>' in html
    assert (
        f'<tr data-offer="{pause.id}"><td>Pause for 30 days</td><td>1</td><td>0</td><td>1</td><td>0</td></tr>' in html
    )


def test_the_report_queries_do_not_grow_with_offers(merchant, django_assert_num_queries):
    for coupon_id in ("A", "B", "C"):
        coupon(merchant, coupon_id)
    configuration = configuration_create(
        account=merchant,
        livemode=False,
        actor=ACTOR,
        data={
            "features": {
                "subscription_cancel": {
                    "enabled": True,
                    "offers": [{"type": "coupon", "coupon": c} for c in ("A", "B", "C")],
                }
            }
        },
    )
    assert CancellationOffer.objects.filter(configuration=configuration).count() == 3
    with django_assert_num_queries(2):
        assert len(cancellation_offer_report(configuration)) == 3
