"""The configurations list answers in a number of queries that does not grow with the rows (DESIGN §9)."""

from django.db import connection
from django.test.utils import CaptureQueriesContext

from billing.audit import Actor
from billing.services.accounts import api_key_create
from configurations.services.portal_configurations import configuration_create
from tests.factories.billing import PriceFactory, ProductFactory

ACTOR = Actor.system("test")
URL = "/v1/billing_portal/configurations?limit=100&expand[]=data.features.subscription_update.products"


def _add_configurations(account, count: int) -> None:
    for _ in range(count):
        product = ProductFactory(account=account)
        prices = [PriceFactory(account=account, product=product, recurring_interval=i) for i in ("month", "year")]
        configuration_create(
            account=account,
            livemode=False,
            actor=ACTOR,
            data={
                "features": {
                    "subscription_update": {
                        "enabled": True,
                        "default_allowed_updates": ["price"],
                        "products": [{"product": product.pk, "prices": [p.pk for p in prices]}],
                    }
                }
            },
        )


def _queries(client, secret) -> tuple[int, dict]:
    with CaptureQueriesContext(connection) as captured:
        response = client.get(URL, HTTP_AUTHORIZATION=f"Bearer {secret}")
    assert response.status_code == 200
    return len(captured), response.json()


def test_list_queries_do_not_grow_with_rows(client, merchant):
    _key, secret = api_key_create(account=merchant, livemode=False)
    _add_configurations(merchant, 2)
    _queries(client, secret)  # the first use of a key also records when it was last used
    few, body = _queries(client, secret)
    assert len(body["data"]) == 2 and all(
        len(c["features"]["subscription_update"]["products"]) == 1 for c in body["data"]
    )
    _add_configurations(merchant, 8)
    many, body = _queries(client, secret)
    assert len(body["data"]) == 10 and all(
        len(c["features"]["subscription_update"]["products"][0]["prices"]) == 2 for c in body["data"]
    )
    assert many == few
