"""Tax rates through the official SDK: percentage and inclusive are fixed at creation."""

import datetime as dt

import pytest
import stripe

from billing import clock
from billing.models import AuditEntry, Event, TaxRate
from billing.services.tax_rates import tax_rate_create
from tests.factories.billing import ACTOR


def _error(call) -> stripe.StripeError:
    with pytest.raises(stripe.StripeError) as error:
        call()
    return error.value


def _rate(merchant, **kwargs) -> TaxRate:
    kwargs = {"display_name": "VAT", "percentage": 19, "inclusive": False, **kwargs}
    return tax_rate_create(account=merchant, livemode=False, actor=ACTOR, **kwargs)


def test_create_retrieve_update(client):
    created = client.v1.tax_rates.create(
        {
            "display_name": "VAT",
            "percentage": 19.5,
            "inclusive": False,
            "country": "de",
            "jurisdiction": "DE",
            "description": "German VAT",
            "metadata": {"k": "v"},
        }
    )
    assert created.id.startswith("txr_") and created.object == "tax_rate"
    assert created.percentage == 19.5 and created.effective_percentage == 19.5 and created.inclusive is False
    assert created.country == "DE" and created.jurisdiction == "DE" and created.description == "German VAT"
    assert created.active is True and created.metadata.k == "v" and created.livemode is False

    assert client.v1.tax_rates.retrieve(created.id).display_name == "VAT"
    updated = client.v1.tax_rates.update(
        created.id,
        {
            "display_name": "USt.",
            "description": "",
            "active": False,
            "country": "AT",
            "jurisdiction": "",
            "metadata": {"k": ""},
        },
    )
    assert updated.display_name == "USt." and updated.description is None and updated.active is False
    assert updated.country == "AT" and updated.jurisdiction is None and updated.metadata.to_dict() == {}
    assert updated.percentage == 19.5
    event = Event.objects.get(type="tax_rate.updated")
    assert event.previous_attributes == {
        "display_name": "VAT",
        "description": "German VAT",
        "active": True,
        "country": "DE",
        "jurisdiction": "DE",
        "metadata": {"k": "v"},
    }
    assert AuditEntry.objects.filter(action="tax_rate.update", actor_type="api_key").exists()
    for field in ("percentage", "inclusive"):
        error = _error(lambda f=field: client.v1.tax_rates.update(created.id, {f: "1"}))
        assert error.code == "parameter_unknown" and error.param == field


def test_legacy_module_style(legacy):
    rate = legacy.TaxRate.create(display_name="GST", percentage=5, inclusive=True, active=False)
    assert rate.active is False and rate.inclusive is True
    assert legacy.TaxRate.modify(rate.id, active=True).active is True


def test_list_filters_and_pagination(client, merchant):
    with clock.frozen_at(dt.datetime(2026, 1, 1, tzinfo=dt.UTC)):
        old = _rate(merchant)
    inclusive = _rate(merchant, inclusive=True)
    inactive = _rate(merchant, active=False)

    def ids(**params):
        return [r.id for r in client.v1.tax_rates.list(params).data]

    assert ids() == [inactive.id, inclusive.id, old.id]
    assert ids(active=True) == [inclusive.id, old.id]
    assert ids(active=False) == [inactive.id]
    assert ids(inclusive=True) == [inclusive.id]
    assert ids(inclusive=False, active=True) == [old.id]
    assert ids(created={"lt": int(dt.datetime(2026, 2, 1, tzinfo=dt.UTC).timestamp())}) == [old.id]
    assert [r.id for r in client.v1.tax_rates.list({"limit": 1}).auto_paging_iter()] == ids()


def test_isolation(client, other_client, live_server, merchant):
    rate = client.v1.tax_rates.create({"display_name": "VAT", "percentage": 19, "inclusive": False})
    for call in (
        lambda: other_client.v1.tax_rates.retrieve(rate.id),
        lambda: other_client.v1.tax_rates.update(rate.id, {"active": False}),
    ):
        error = _error(call)
        assert error.http_status == 404 and error.code == "resource_missing"
    assert other_client.v1.tax_rates.list().data == []
    live = stripe.StripeClient(merchant.live_secret, base_addresses={"api": live_server.url}, max_network_retries=0)
    live_rate = live.v1.tax_rates.create({"display_name": "VAT", "percentage": 20, "inclusive": True})
    assert live_rate.livemode is True
    assert _error(lambda: client.v1.tax_rates.retrieve(live_rate.id)).http_status == 404
    assert [r.id for r in client.v1.tax_rates.list().data] == [rate.id]
    assert [r.id for r in live.v1.tax_rates.list().data] == [live_rate.id]


def test_validation_errors(client):
    base = {"display_name": "VAT", "percentage": 19, "inclusive": False}
    cases = [
        ({**base, "percentage": 100.5}, "percentage", None),
        ({**base, "percentage": -1}, "percentage", None),
        ({**base, "percentage": 19.12345}, "percentage", None),
        ({**base, "percentage": "lots"}, "percentage", "parameter_invalid_number"),
        ({"percentage": 19, "inclusive": False}, "display_name", "parameter_missing"),
        ({"display_name": "VAT", "inclusive": False}, "percentage", "parameter_missing"),
        ({"display_name": "VAT", "percentage": 19}, "inclusive", "parameter_missing"),
        ({**base, "display_name": " "}, "display_name", None),
        ({**base, "display_name": "x" * 51}, "display_name", "parameter_invalid_string"),
        ({**base, "country": "XX"}, "country", None),
        ({**base, "country": "DEU"}, "country", "parameter_invalid_string"),
        ({**base, "inclusive": "maybe"}, "inclusive", "parameter_invalid_boolean"),
        ({**base, "tax_type": "vat"}, "tax_type", "parameter_unknown"),
    ]
    for params, param, code in cases:
        error = _error(lambda params=params: client.v1.tax_rates.create(params))
        assert isinstance(error, stripe.InvalidRequestError) and error.http_status == 400, params
        assert error.param == param, (params, error.param, error.user_message)
        if code:
            assert error.code == code, (params, error.code)
    assert TaxRate.objects.count() == 0
