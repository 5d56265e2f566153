"""French and Spanish reach every place a customer reads: the login email and the invoice PDF (the pages are
covered in tests/browser/test_portal_languages.py), with Babel's formats for the language."""

import pytest
from django.core import mail
from django.test import Client

from tests.factories.billing import CustomerFactory
from tests.portal.test_invoice_pages import _pdf_text, _pdf_url, vat_invoice  # noqa: F401 (a fixture)
from tests.portal.test_login import configuration, login_path, request_link  # noqa: F401 (fixtures)


@pytest.mark.parametrize(
    ("preferred", "subject", "body"),
    [
        ("fr-FR", "Votre lien de connexion pour Acme Cloud", "Le lien fonctionne une seule fois, pendant 10 minutes."),
        ("es", "Su enlace de inicio de sesión para Acme Cloud", "El enlace funciona una sola vez, durante 10 minutos."),
    ],
)
def test_login_email_in_the_customers_language(configuration, request_link, preferred, subject, body):  # noqa: F811
    CustomerFactory(account=configuration.account, email="lea@example.fr", preferred_locales=[preferred])
    request_link(Client(), configuration, "lea@example.fr")
    (message,) = mail.outbox
    assert message.subject == subject
    assert body in message.body
    assert f'lang="{preferred[:2]}"' in message.alternatives[0][0]


def test_login_page_in_french_and_spanish(configuration):  # noqa: F811
    french = Client().get(login_path(configuration) + "?locale=fr").content.decode()
    assert '<html lang="fr">' in french and "Connexion au portail de facturation" in french
    spanish = Client().get(login_path(configuration), HTTP_ACCEPT_LANGUAGE="es-ES,es;q=0.9").content.decode()
    assert '<html lang="es">' in spanish and "Inicie sesión en el portal de facturación" in spanish


@pytest.mark.parametrize(
    ("language", "filename", "words"),
    [
        ("fr", "Facture", ("Facture", "Total", "Payée le 31 janvier 2026", "11,90")),
        ("es", "Factura", ("Factura", "Total", "Pagada el 31 de enero de 2026", "11,90")),
    ],
)
def test_invoice_pdf_in_french_and_spanish(client, vat_invoice, language, filename, words):  # noqa: F811
    response = client.get(_pdf_url(vat_invoice, locale=language))
    assert response.status_code == 200
    assert response["Content-Disposition"] == f'inline; filename="{filename}-{vat_invoice.number}.pdf"'
    text = _pdf_text(response.content)
    if text is not None:
        for word in words:
            assert word in text, word
