"""Fixtures for the configurations app: a merchant with staff, products and prices, and a second merchant."""

import io

import pytest
from PIL import Image

from billing.services.accounts import staff_user_add
from tests.factories.billing import AccountFactory, PriceFactory, ProductFactory


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _media_root(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture
def merchant(db):
    return AccountFactory(name="Alpha")


@pytest.fixture
def other_merchant(db):
    return AccountFactory(name="Beta")


@pytest.fixture
def staff(merchant):
    return staff_user_add(account=merchant, email="staff@alpha.example")


@pytest.fixture
def staff_client(client, staff):
    client.force_login(staff)
    return client


@pytest.fixture
def catalog(merchant):
    """Alpha's plans: "Basic" monthly and yearly in EUR, a second monthly EUR price, "Pro" monthly in EUR."""
    basic = ProductFactory(account=merchant, name="Basic")
    pro = ProductFactory(account=merchant, name="Pro")
    return {
        "basic": basic,
        "pro": pro,
        "basic_monthly": PriceFactory(account=merchant, product=basic, unit_amount=1000),
        "basic_monthly_student": PriceFactory(account=merchant, product=basic, unit_amount=500),
        "basic_yearly": PriceFactory(account=merchant, product=basic, recurring_interval="year", unit_amount=10000),
        "pro_monthly": PriceFactory(account=merchant, product=pro, unit_amount=3000),
    }


def image_bytes(kind: str = "PNG", size=(32, 32), noise: bool = False) -> bytes:
    if noise:
        import os

        image = Image.frombytes("RGB", size, os.urandom(size[0] * size[1] * 3))
    else:
        image = Image.new("RGB", size, (67, 56, 202))
    buffer = io.BytesIO()
    image.save(buffer, format=kind)
    return buffer.getvalue()
