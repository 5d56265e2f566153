"""Billing details in the portal: only what the configuration allows, validated, saved through the services with
events and audit entries; EU VAT numbers checked per country and added or removed."""

import re

import pytest

from billing.audit import Actor
from billing.exceptions import InvalidRequest
from billing.models import AuditEntry, Event, TaxId
from billing.services.tax_ids import tax_id_create, tax_id_delete
from billing.tax_ids import TaxIdInvalid, validate
from tests.factories.billing import CustomerFactory
from tests.factories.portal import full_configuration, open_portal

URL = "/p/billing-details"
ADDRESS = {
    "line1": "Invalidenstraße 116",
    "line2": "",
    "postal_code": "10115",
    "city": "Berlin",
    "state": "",
    "country": "DE",
}


def allowing(customer, allowed: list[str], *, enabled: bool = True):
    return full_configuration(
        customer.account, features={"customer_update": {"enabled": enabled, "allowed_updates": allowed}}
    )


@pytest.fixture
def customer(db):
    customer = CustomerFactory(name="Jane Doe", email="jane@example.com", phone="+49 30 1234", address=ADDRESS)
    full_configuration(customer.account)
    return customer


def save(client, **fields):
    return client.post(URL, {"action": "save", **fields})


def address_fields(**overrides) -> dict:
    return {f"address_{key}": value for key, value in {**ADDRESS, **overrides}.items()}


def test_the_form_shows_the_customers_details(customer):
    html = open_portal(customer).get(URL).content.decode()
    assert 'value="Jane Doe"' in html
    assert 'value="jane@example.com"' in html
    assert 'value="Invalidenstraße 116"' in html
    assert '<option value="DE" selected>Germany</option>' in html
    assert 'name="value"' in html  # the VAT number field: tax_id is allowed


def test_only_allowed_fields_are_shown_and_accepted(customer):
    client = open_portal(customer, configuration=allowing(customer, ["email"]))
    html = client.get(URL).content.decode()
    assert 'name="email"' in html
    for other in ('name="name"', 'name="phone"', 'name="address_line1"', 'name="value"'):
        assert other not in html

    response = save(
        client,
        email="billing@example.com",
        name="Mallory",
        phone="+1 555 0100",
        **address_fields(line1="Elsewhere 1", country="FR"),
    )
    assert response.status_code == 303
    customer.refresh_from_db()
    assert customer.email == "billing@example.com"
    assert (customer.name, customer.phone, customer.address["line1"]) == ("Jane Doe", "+49 30 1234", ADDRESS["line1"])

    client.post(URL, {"action": "add_tax_id", "value": "DE123456789"})
    assert not TaxId.objects.filter(customer=customer).exists()


def test_address_and_country_are_saved_with_an_event_and_an_audit_entry(customer):
    client = open_portal(customer)
    response = save(
        client,
        name="Jane Doe",
        email="jane@example.com",
        phone="+43 1 234 56-7",
        **address_fields(line1="Stephansplatz 1", postal_code="1010", city="Wien", country="AT"),
    )
    assert response.status_code == 303
    assert response["Location"] == "/p/"
    customer.refresh_from_db()
    assert customer.address == {
        **ADDRESS,
        "line1": "Stephansplatz 1",
        "postal_code": "1010",
        "city": "Wien",
        "country": "AT",
    }
    assert customer.phone == "+43 1 234 56-7"

    event = Event.objects.get(type="customer.updated")
    assert event.data_object["address"]["country"] == "AT"
    assert event.previous_attributes["address"]["country"] == "DE"
    assert event.previous_attributes["phone"] == "+49 30 1234"
    assert "name" not in event.previous_attributes
    entry = AuditEntry.objects.get(action="customer.update")
    assert (entry.actor_type, entry.actor_id) == (AuditEntry.ActorType.CUSTOMER, customer.id)
    assert entry.changes["address"]["city"] == "Wien"

    overview = client.get("/p/").content.decode()
    assert "Billing information updated." in overview
    assert "Stephansplatz 1" in overview


def test_saving_unchanged_details_records_nothing(customer):
    client = open_portal(customer)
    response = save(client, name="Jane Doe", email="jane@example.com", phone="+49 30 1234", **address_fields())
    assert response.status_code == 303
    assert not Event.objects.filter(type="customer.updated").exists()


def test_clearing_the_address(customer):
    client = open_portal(customer)
    empty = {f"address_{key}": "" for key in ADDRESS}
    save(client, name="Jane Doe", email="jane@example.com", phone="", **empty)
    customer.refresh_from_db()
    assert customer.address is None


def test_countries_are_named_in_german_with_the_current_one_selected(customer):
    html = open_portal(customer, locale="de").get(URL).content.decode()
    assert '<option value="DE" selected>Deutschland</option>' in html
    assert '<option value="AT">Österreich</option>' in html
    assert "Rechnungsadresse" in html


def test_invalid_email_is_an_error_on_the_field(customer):
    client = open_portal(customer)
    response = save(client, name="Jane Doe", email="not-an-email", **address_fields())
    assert response.status_code == 200
    html = response.content.decode()
    assert "Enter a valid email address." in html
    assert 'aria-invalid="true"' in html
    assert 'aria-describedby="id_email_helptext id_email_error"' in html
    assert 'id="id_email_error"' in html
    customer.refresh_from_db()
    assert customer.email == "jane@example.com"
    assert not Event.objects.filter(type="customer.updated").exists()


def test_errors_are_in_german(customer):
    client = open_portal(customer, locale="de")
    html = save(
        client, name="Jane Doe", email="not-an-email", phone="ring me", **address_fields(country="")
    ).content.decode()
    assert "Enter a valid email address." not in html
    assert "Bitte korrigieren Sie die markierten Felder." in html
    assert "Wählen Sie ein Land aus." in html
    assert "Geben Sie eine Telefonnummer nur mit Ziffern" in html


@pytest.mark.parametrize(
    "fields, error",
    [
        ({"phone": "call me maybe"}, "Enter a phone number using digits, spaces, +, -, ( and ) only."),
        ({"phone": "+49 " + "1" * 40}, "Shorten this to at most 32 characters (it has 44)."),
        (address_fields(postal_code="ABCDEFG"), "Enter a postal code as written in Germany, for example 26133."),
        (address_fields(city=""), "City is required for addresses in Germany."),
        (address_fields(country="US", state="Narnia", postal_code="95014"), "Select one of the listed options."),
        (
            address_fields(country="US", postal_code="1234"),
            "Enter a ZIP code as written in United States of America, for example 95014.",
        ),
        (address_fields(country=""), "Select a country."),
        (address_fields(line1=""), "Enter the street and house number."),
        (address_fields(country="ZZ"), "Select a valid choice."),
    ],
)
def test_invalid_details_are_refused(customer, fields, error):
    client = open_portal(customer)
    response = save(client, name="Jane Doe", email="jane@example.com", **{**address_fields(), **fields})
    assert response.status_code == 200
    assert error in response.content.decode()
    customer.refresh_from_db()
    assert customer.address == ADDRESS


def test_shipping_address_when_allowed(customer):
    client = open_portal(customer, configuration=allowing(customer, ["shipping"]))
    assert 'name="shipping_line1"' in client.get(URL).content.decode()
    shipping = {f"shipping_{key}": value for key, value in ADDRESS.items()}
    html = save(client, **shipping).content.decode()
    assert "Enter the recipient&#x27;s name." in html
    save(client, shipping_name="Jane at work", **shipping)
    customer.refresh_from_db()
    assert customer.shipping == {"name": "Jane at work", "phone": "", "address": ADDRESS}


def test_disabled_feature_answers_404(customer):
    client = open_portal(customer, configuration=allowing(customer, ["email"], enabled=False))
    assert client.get(URL).status_code == 404
    assert save(client, email="other@example.com").status_code == 404
    customer.refresh_from_db()
    assert customer.email == "jane@example.com"


def test_overview_links_to_the_form(customer):
    html = open_portal(customer).get("/p/").content.decode()
    assert f'href="{URL}"' in html


# EU VAT numbers


@pytest.mark.parametrize(
    "typed, stored, country",
    [
        ("DE123456789", "DE123456789", "DE"),
        ("de 123.456.789", "DE123456789", "DE"),
        ("ATU12345678", "ATU12345678", "AT"),
        ("FR AB 123456789", "FRAB123456789", "FR"),
        ("FR12345678901", "FR12345678901", "FR"),
        ("NL123456789B01", "NL123456789B01", "NL"),
        ("BE0123456789", "BE0123456789", "BE"),
        ("EL123456789", "EL123456789", "GR"),
        ("GR123456789", "EL123456789", "GR"),
        ("ESA1234567Z", "ESA1234567Z", "ES"),
        ("IE1234567WA", "IE1234567WA", "IE"),
        ("IT12345678901", "IT12345678901", "IT"),
        ("PL-123-456-78-90", "PL1234567890", "PL"),
        ("SE123456789001", "SE123456789001", "SE"),
        ("XI123456789", "XI123456789", "GB"),
    ],
)
def test_valid_eu_vat_numbers_are_normalised(typed, stored, country):
    valid = validate(type="eu_vat", value=typed)
    assert (valid.value, valid.country) == (stored, country)


@pytest.mark.parametrize(
    "typed, country, example",
    [
        ("DE12345678", "DE", "DE123456789"),
        ("DE1234567890", "DE", "DE123456789"),
        ("AT12345678", "AT", "ATU12345678"),
        ("NL123456789", "NL", "NL123456789B01"),
        ("NL123456789A01", "NL", "NL123456789B01"),
        ("FRIO123456789", "FR", "FRAB123456789"),
        ("SE123456789012", "SE", "SE123456789001"),
        ("US123456789", "", "DE123456789"),
        ("123456789", "", "DE123456789"),
        ("", "", "DE123456789"),
    ],
)
def test_invalid_eu_vat_numbers_name_an_example_of_the_expected_form(typed, country, example):
    with pytest.raises(TaxIdInvalid) as invalid:
        validate(type="eu_vat", value=typed)
    assert (invalid.value.param, invalid.value.code) == ("value", "tax_id_invalid")
    assert (invalid.value.country, invalid.value.example) == (country, example)
    assert example in invalid.value.message


def test_check_digits_are_checked_only_when_strict():
    """Stripe's API takes its own documented examples (DE123456789); the portal catches a mistyped digit."""
    assert validate(type="eu_vat", value="DE123456789").value == "DE123456789"
    assert validate(type="eu_vat", value="DE 136,695 976", strict=True).value == "DE136695976"
    with pytest.raises(TaxIdInvalid):
        validate(type="eu_vat", value="DE123456789", strict=True)


def test_other_tax_id_types():
    assert validate(type="gb_vat", value="GB 123 4567 89").value == "GB123456789"
    assert validate(type="ch_vat", value="CHE123456789MWST").value == "CHE-123.456.789 MWST"
    assert validate(type="us_ein", value="12-3456789").value == "12-3456789"
    with pytest.raises(InvalidRequest) as unknown:
        validate(type="xx_vat", value="1")
    assert unknown.value.param == "type"


def test_adding_and_removing_a_vat_number_records_events(customer):
    client = open_portal(customer)
    response = client.post(URL, {"action": "add_tax_id", "type": "eu_vat:AT", "value": "u 1358 5627"})
    assert response.status_code == 303
    assert response["Location"] == URL
    tax_id = TaxId.objects.get(customer=customer)
    assert (tax_id.type, tax_id.value, tax_id.country) == ("eu_vat", "ATU13585627", "AT")

    created = Event.objects.get(type="customer.tax_id.created")
    assert created.data_object == {
        "id": tax_id.id,
        "object": "tax_id",
        "country": "AT",
        "created": int(tax_id.created.timestamp()),
        "customer": customer.id,
        "customer_account": None,
        "livemode": False,
        "owner": {"account": None, "application": None, "customer": customer.id, "type": "customer"},
        "type": "eu_vat",
        "value": "ATU13585627",
        "verification": {"status": "unverified", "verified_address": None, "verified_name": None},
    }
    entry = AuditEntry.objects.get(action="tax_id.create")
    assert (entry.actor_type, entry.actor_id, entry.object_id) == ("customer", customer.id, tax_id.id)

    page = client.get(URL).content.decode()
    assert "Tax ID added." in page
    assert "ATU13585627" in page and "Austria — VAT number" in page
    assert "ATU13585627" in client.get("/p/").content.decode()

    response = client.post(URL, {"action": "remove_tax_id", "tax_id": tax_id.id})
    assert response.status_code == 303
    assert not TaxId.objects.filter(customer=customer).exists()
    deleted = Event.objects.get(type="customer.tax_id.deleted")
    assert deleted.data_object["id"] == tax_id.id
    assert deleted.data_object["value"] == "ATU13585627"
    assert AuditEntry.objects.filter(action="tax_id.delete", actor_id=customer.id, object_id=tax_id.id).exists()
    assert "Tax ID removed." in client.get(URL).content.decode()


@pytest.mark.parametrize(
    "kind, value, locale, message",
    [
        (
            "eu_vat:DE",
            "12345678",
            "en",
            "This number is not valid for “Germany — VAT number”. Compare it with the example: DE123456789.",
        ),
        (
            "eu_vat:DE",
            "123456789",
            "en",
            "This number has a typo: its check digit does not match. Please check it.",
        ),  # a wrong check digit
        ("", "US123", "en", "Enter an EU VAT number that starts with its country code"),
        (
            "us_ein",
            "12-34",
            "en",
            "This number is not valid for “United States of America — Tax number (EIN)”. Compare it with the example: 12-3456789.",
        ),
        (
            "eu_vat:DE",
            "12345678",
            "de",
            "Diese Nummer ist für „Deutschland — USt-IdNr.“ nicht gültig. Vergleichen Sie sie mit dem Beispiel: DE123456789.",
        ),
    ],
)
def test_invalid_tax_ids_are_explained_in_the_readers_language(customer, kind, value, locale, message):
    client = open_portal(customer, locale=locale)
    response = client.post(URL, {"action": "add_tax_id", "type": kind, "value": value})
    assert response.status_code == 200
    html = response.content.decode()
    assert message in html
    assert 'aria-describedby="id_value_helptext id_value_error"' in html
    assert not TaxId.objects.exists()
    assert not Event.objects.filter(type="customer.tax_id.created").exists()


@pytest.mark.parametrize(
    "kind, value, stored",
    [
        ("gb_vat", "GB 980 7806 84", "GB980780684"),
        ("ch_vat", "CHE-113.110.101 MWST", "CHE-113.110.101 MWST"),
        ("no_vat", "NO 995 525 828 MVA", "995525828MVA"),
        ("us_ein", "04-2103594", "04-2103594"),
        ("au_abn", "83 914 571 673", "83914571673"),
        ("eu_vat:EL", "094259216", "EL094259216"),
    ],
)
def test_tax_ids_beyond_the_eu(customer, kind, value, stored):
    response = open_portal(customer).post(URL, {"action": "add_tax_id", "type": kind, "value": value})
    assert response.status_code == 303, response.content.decode()[-3000:]
    assert TaxId.objects.get(customer=customer).value == stored


def test_the_kinds_of_number_are_offered_by_country_with_the_customers_preselected(customer):
    html = open_portal(customer).get(URL).content.decode()
    assert '<option value="eu_vat:DE" selected>Germany — VAT number</option>' in html
    for option in (
        "United Kingdom — VAT number",
        "Switzerland — VAT number (MWST)",
        "Norway — VAT number (MVA)",
        "European Union — VAT number (OSS)",
        "Japan — Company number",
        "Brazil — Company number (CNPJ)",
    ):
        assert option in html
    german = open_portal(customer, locale="de").get(URL).content.decode()
    assert "Deutschland — USt-IdNr." in german and "Vereinigtes Königreich — USt-IdNr." in german


def test_the_same_vat_number_twice_is_refused(customer):
    client = open_portal(customer)
    client.post(URL, {"action": "add_tax_id", "type": "eu_vat:DE", "value": "DE136695976"})
    response = client.post(URL, {"action": "add_tax_id", "type": "eu_vat:DE", "value": "136 695 976"})
    assert response.status_code == 200
    assert "This tax ID is already on your account." in response.content.decode()
    assert TaxId.objects.filter(customer=customer).count() == 1


def test_someone_elses_tax_id_cannot_be_removed(customer):
    other = CustomerFactory(account=customer.account)
    theirs = tax_id_create(customer=other, type="eu_vat", value="DE999999999", actor=Actor.customer(other))
    client = open_portal(customer)
    assert client.post(URL, {"action": "remove_tax_id", "tax_id": theirs.id}).status_code == 404
    assert client.post(URL, {"action": "remove_tax_id", "tax_id": "txi_missing"}).status_code == 404
    assert TaxId.objects.filter(pk=theirs.pk).exists()


def test_tax_id_services_refuse_a_duplicate_and_answer_the_deleted_object(customer):
    actor = Actor.customer(customer)
    tax_id = tax_id_create(customer=customer, type="eu_vat", value="FRAB123456789", actor=actor)
    with pytest.raises(InvalidRequest) as duplicate:
        tax_id_create(customer=customer, type="eu_vat", value="FR AB 123 456 789", actor=actor)
    assert duplicate.value.code == "tax_id_already_exists"
    data = tax_id_delete(tax_id=tax_id, actor=actor)
    assert (data["object"], data["id"], data["country"]) == ("tax_id", tax_id.id, "FR")


def test_a_too_long_address_line_gets_only_its_length_message(customer):
    """Not the length message followed by "Enter the street and house number." as if the line were empty."""
    html = save(open_portal(customer), **address_fields(line1="x" * 201)).content.decode()
    assert "Shorten this to at most 200 characters (it has 201)." in html
    assert "Enter the street and house number." not in html


def test_a_too_long_recipient_gets_only_its_length_message(customer):
    client = open_portal(customer, configuration=allowing(customer, ["shipping"]))
    html = client.post(
        URL, {"action": "save", "shipping_name": "J" * 257, **{f"shipping_{k}": v for k, v in ADDRESS.items()}}
    ).content.decode()
    assert "Shorten this to at most 256 characters (it has 257)." in html
    assert "Enter the recipient&#x27;s name." not in html


def test_the_address_is_laid_out_as_its_country_writes_it(customer):
    html = open_portal(customer).get(URL).content.decode()
    german = [html.index(f'name="address_{part}"') for part in ("country", "line1", "line2", "postal_code", "city")]
    assert german == sorted(german) and 'name="address_state"' not in html  # no state in German addresses
    html = open_portal(customer).get(URL, {"address_country": "US", "address_line1": "1 Infinite Loop"}).content
    html = html.decode()
    american = [html.index(f'name="address_{part}"') for part in ("country", "line1", "city", "state", "postal_code")]
    assert american == sorted(american)
    assert ">ZIP code<" in html and ">State<" in html and '<option value="CA">California</option>' in html
    assert 'value="1 Infinite Loop"' in html  # what was typed stays
    html = open_portal(customer, locale="de").get(URL, {"address_country": "US"}).content.decode()
    assert ">Postleitzahl (ZIP)<" in html and ">Bundesstaat<" in html
    html = open_portal(customer).get(URL, {"address_country": "IE"}).content.decode()
    assert ">Eircode<" in html and ">County<" in html


def test_a_german_postcode_is_checked_and_an_american_state_stored_by_its_code(customer):
    response = save(open_portal(customer), email="jane@example.com", **address_fields(postal_code="ABCDEFG"))
    assert "Enter a postal code as written in Germany" in response.content.decode()
    customer.refresh_from_db()
    assert customer.address == ADDRESS
    american = address_fields(country="US", line1="1 Infinite Loop", city="Cupertino", state="california")
    response = save(open_portal(customer), email="jane@example.com", **{**american, "address_postal_code": "95014"})
    assert response.status_code == 303, re.findall(r"field-error[^<]*<", response.content.decode())
    customer.refresh_from_db()
    assert customer.address["state"] == "CA" and customer.address["postal_code"] == "95014"


def test_the_api_keeps_any_postcode_as_stripe_does(customer):
    from billing.audit import Actor
    from billing.exceptions import InvalidRequest
    from billing.services.customers import customer_update

    customer_update(customer=customer, actor=Actor.system("test"), address={**ADDRESS, "postal_code": "ABCDEFG"})
    customer.refresh_from_db()
    assert customer.address["postal_code"] == "ABCDEFG"
    with pytest.raises(InvalidRequest) as refused:
        customer_update(
            customer=customer, actor=Actor.system("test"), check_addresses=True, address={**ADDRESS, "postal_code": "1"}
        )
    assert refused.value.param == "address[postal_code]"
