"""The customer's side of the portal's hosted fields, without a browser: the add page's vault frames, what the
vault's own script posts from inside them, and the portal form that carries the payment method it answers."""

import html as htmllib
import re
from urllib.parse import parse_qs, urlsplit

from django.test import Client

from billing.gateways.vault import vault_base_url

ADD = "/p/payment-methods/new"
TEST_IBAN = "DE89370400440532013000"


def vault_frames(html: str) -> dict[str, str]:
    """``{type: frame URL}`` of the page's vault frames."""
    found = re.findall(r'<iframe class="pm-frame" src="([^"]+)" data-vault="([a-z_]+)"', html)
    return {kind: htmllib.unescape(src) for src, kind in found}


def vault_token(html: str) -> str:
    (url, *_others) = vault_frames(html).values()
    return parse_qs(urlsplit(url).query)["t"][0]


def vault_host() -> str:
    return urlsplit(vault_base_url()).netloc


def vault_get(url: str, **headers):
    parts = urlsplit(url)
    return Client().get(f"{parts.path}?{parts.query}", HTTP_HOST=parts.netloc or vault_host(), **headers)


def vault_post(token: str, kind: str, fields: dict, **extra):
    """What the vault's script sends from inside the frame."""
    return Client().post(
        "/vault/payment_methods", {"t": token, "type": kind, **fields}, HTTP_HOST=vault_host(), **extra
    )


def card_fields(number: str = "4242 4242 4242 4242", **overrides) -> dict:
    return {"number": number, "expiry": "12 / 30", "cvc": "123", "name": "Jane Doe"} | overrides


def sepa_fields(iban: str = TEST_IBAN, **overrides) -> dict:
    return {"iban": iban, "account_holder": "Jane Doe"} | overrides


def vault_payment_method(portal: Client, kind: str = "card", fields: dict | None = None, page: str = ADD) -> str:
    """A payment method typed into the add page's vault frame (``page`` is the add page's URL)."""
    token = vault_token(portal.get(page).content.decode())
    fields = fields if fields is not None else card_fields() if kind == "card" else sepa_fields()
    response = vault_post(token, kind, fields)
    assert response.status_code == 200, response.content
    return response.json()["id"]


def add(portal: Client, kind: str = "card", fields: dict | None = None, *, make_default=True, page: str = ADD, **extra):
    """The add page's form, submitted with what its vault frame answered."""
    pm = vault_payment_method(portal, kind, fields, page=page)
    data = {"type": kind, "payment_method": pm, **({"make_default": "on"} if make_default else {})}
    return portal.post(page, data, **extra)


def add_card(portal: Client, number: str = "4242 4242 4242 4242", **kwargs):
    return add(portal, "card", card_fields(number), **kwargs)
