"""Payment methods in a real Chromium, card and IBAN typed into the vault's frame (the test gateway's hosted fields,
on a second origin): add a card and make it the default, a declined card, 3-D Secure on the bank's page (complete
and fail), errors shown in the frame, Enter in the frame, a SEPA account with its mandate, the deep link, the
keep-one rule, screenshots (desktop and phone, English and German) and no serious accessibility problems."""

import datetime as dt
import re

import pytest
from django.utils import timezone

from billing.models import Mandate, PaymentMethod
from tests.billing.helpers import subscribed
from tests.browser.conftest import axe_violations
from tests.browser.payment_fields import (
    enter_portal,
    fields_shown,
    fill_card,
    fill_sepa,
    press_add,
    screenshot,
    submit,
    vault,
)
from tests.factories.portal import full_configuration

NOTHING_OVERFLOWS = "document.documentElement.scrollWidth <= window.innerWidth"


@pytest.fixture
def customer(transactional_db, two_origins):
    """An active subscription paid by a Mastercard ending 4444, the customer's only payment method."""
    subscription = subscribed(timezone.now() - dt.timedelta(days=2), number="5555555555554444")
    full_configuration(subscription.account)
    return subscription.customer


def last4s(customer) -> list[str]:
    return sorted(PaymentMethod.objects.filter(customer=customer).values_list("card_last4", flat=True))


def test_add_a_card_and_make_it_the_default(browser, live_server, customer):
    page, problems = enter_portal(browser, live_server, customer)
    assert page.url == f"{live_server.url}/p/"
    page.get_by_role("link", name="Add payment method").click()
    assert page.get_by_role("heading", level=1, name="Add a payment method").is_visible()
    frame = vault(page)
    assert frame.get_by_text("4242 4242 4242 4242").is_visible()  # the test-mode hint, inside the frame
    assert frame.get_by_text("4000 0025 0000 3155").is_visible()
    assert not page.locator('iframe[data-vault="sepa_debit"]').is_visible()  # only the chosen type's frame shows
    assert page.locator("input[name=number]").count() == 0  # no card field in the portal's own page

    fill_card(page, "4242 4242 4242 4242")
    page.get_by_label("Use as default payment method").uncheck()
    submit(page)
    assert page.url == f"{live_server.url}/p/"
    assert page.get_by_text("Payment method added.").is_visible()

    visa = page.locator(".pm-row", has_text="Visa •••• 4242")
    visa.get_by_role("button", name="Make default").click()
    assert page.get_by_text("Visa •••• 4242 is now your default payment method.").is_visible()
    assert page.locator(".pm-row", has_text="Visa •••• 4242").get_by_text("Default", exact=True).is_visible()
    customer.refresh_from_db()
    assert customer.default_payment_method.card_last4 == "4242"
    assert problems == []


def test_a_frame_that_loaded_before_the_page_listened_still_shows_and_submits(browser, live_server, customer):
    """The vault's frame can finish loading before the page's deferred script listens for its messages (a slow
    static file): its first height and readiness reach no one, and the page asks again."""
    page, problems = enter_portal(browser, live_server, customer)
    held = []
    page.route("**/js/payment-fields.js*", lambda route: held.append(route))
    page.goto(f"{live_server.url}/p/payment-methods/new", wait_until="commit")
    vault_origin = live_server.url.replace("//localhost:", "//127.0.0.1:")
    frames = []
    for _ in range(600):
        frames = [frame for frame in page.frames if frame.url.startswith(vault_origin)]
        if held and frames:
            break
        page.wait_for_timeout(50)
    for frame in frames:
        frame.wait_for_load_state("load")  # its script ran and told its height and readiness to no one
    held[0].continue_()
    fields_shown(page)
    fill_card(page, "4242 4242 4242 4242")
    submit(page)
    assert page.get_by_text("Payment method added.").is_visible()
    assert last4s(customer) == ["4242", "4444"]
    assert problems == []


def test_a_declined_card_is_explained_and_not_kept(browser, live_server, customer):
    page, problems = enter_portal(browser, live_server, customer)
    page.goto(f"{live_server.url}/p/payment-methods/new")
    fill_card(page, "4000 0000 0000 0002")
    submit(page)
    assert page.get_by_role("alert").filter(has_text="Your card was declined.").is_visible()
    assert vault(page).locator("input[name=number]").input_value() == ""  # fresh fields for another card
    assert last4s(customer) == ["4444"]
    assert problems == []


@pytest.mark.parametrize("locale", ["en", "de"])
def test_a_card_that_asks_for_authentication(browser, live_server, customer, locale, artifacts):
    customer.preferred_locales = [locale]  # the bank's page follows the customer's language, as the portal does
    customer.save(update_fields=["preferred_locales"])
    page, problems = enter_portal(browser, live_server, customer, locale=locale)
    page.goto(f"{live_server.url}/p/payment-methods/new")
    fill_card(page, "4000 0025 0000 3155")
    submit(page)
    page.wait_for_url("**/authenticate/seti_*")
    complete = "Complete authentication" if locale == "en" else "Authentifizierung abschließen"
    page.screenshot(path=artifacts / f"portal-payment-method-authenticate-{locale}.png", full_page=True)
    page.get_by_role("button", name=complete).click()
    page.wait_for_url(f"{live_server.url}/p/")
    added = "Payment method added." if locale == "en" else "Zahlungsmethode hinzugefügt."
    assert page.get_by_text(added).is_visible()
    assert last4s(customer) == ["3155", "4444"]
    customer.refresh_from_db()
    assert customer.default_payment_method.card_last4 == "3155"
    assert problems == []


def test_a_failed_authentication_leads_back_with_a_message(browser, live_server, customer):
    page, problems = enter_portal(browser, live_server, customer)
    page.goto(f"{live_server.url}/p/payment-methods/new")
    fill_card(page, "4000 0025 0000 3155")
    submit(page)
    page.get_by_role("button", name="Fail authentication").click()
    page.wait_for_url(f"{live_server.url}/p/payment-methods/new")
    assert page.get_by_text("Your bank did not confirm this payment method").is_visible()
    assert last4s(customer) == ["4444"]
    assert problems == []


def test_mistakes_are_shown_in_the_frame_next_to_their_field(browser, live_server, customer, artifacts):
    page, problems = enter_portal(browser, live_server, customer)
    page.goto(f"{live_server.url}/p/payment-methods/new")
    fill_card(page, "4242 4242 4242 4241", cvc="12")
    press_add(page)
    frame = vault(page)
    frame.get_by_text("This card number is not valid.").wait_for()
    assert frame.get_by_text("The security code has 3 or 4 digits.").is_visible()
    number = frame.locator("input[name=number]")
    assert number.get_attribute("aria-invalid") == "true"
    assert "id_number_error" in number.get_attribute("aria-describedby")
    assert page.get_by_role("button", name="Add payment method").is_enabled()  # ready for another try
    assert page.url == f"{live_server.url}/p/payment-methods/new"
    screenshot(page, artifacts / "portal-payment-method-add-frame-errors-en.png")

    number.fill("4242 4242 4242 4242")
    frame.locator("input[name=cvc]").fill("123")
    frame.locator("input[name=name]").press("Enter")  # Enter in the frame submits like the button
    page.wait_for_url(f"{live_server.url}/p/")
    assert last4s(customer) == ["4242", "4444"]
    assert [p for p in problems if "400" not in p] == []


def test_add_a_sepa_account_with_its_mandate(browser, live_server, customer):
    page, problems = enter_portal(browser, live_server, customer, locale="de")
    page.goto(f"{live_server.url}/p/payment-methods/new")
    fill_sepa(page, "DE89 3704 0044 0532 0130 00")
    frame = vault(page, "sepa_debit")
    assert frame.get_by_text("DE89 3704 0044 0532 0130 00").is_visible()  # the test hint
    assert frame.get_by_text("Sie ermächtigen").is_visible() or frame.get_by_text("ermächtigen").count()
    submit(page)
    page.wait_for_url(f"{live_server.url}/p/")
    assert page.get_by_text("Zahlungsmethode hinzugefügt.").is_visible()
    added = PaymentMethod.objects.get(customer=customer, type="sepa_debit")
    mandate = Mandate.objects.get(payment_method=added)
    assert mandate.customer_acceptance["online"]["ip_address"] == "127.0.0.1"
    assert "Chrome" in mandate.customer_acceptance["online"]["user_agent"]
    assert problems == []


def test_the_deep_link_adds_a_card_and_ends_on_the_done_page(browser, live_server, customer):
    flow = {"type": "payment_method_update", "after_completion": {"type": "hosted_confirmation"}}
    page, problems = enter_portal(browser, live_server, customer, flow_data=flow)
    page.wait_for_url(f"{live_server.url}/p/payment-methods/new")
    fill_card(page, "4000 0025 0000 3155")
    submit(page)
    page.get_by_role("button", name="Complete authentication").click()
    page.wait_for_url(f"{live_server.url}/p/done")
    customer.refresh_from_db()
    assert customer.default_payment_method.card_last4 == "3155"
    assert problems == []


def test_the_last_payment_method_cannot_be_removed(browser, live_server, customer, axe_source, artifacts):
    page, problems = enter_portal(browser, live_server, customer)
    only = customer.default_payment_method
    assert page.locator(".pm-row").get_by_role("link", name="Remove").count() == 0
    page.goto(f"{live_server.url}/p/payment-methods/{only.pk}/remove")
    assert page.get_by_role("heading", level=1, name="Remove Mastercard •••• 4444?").is_visible()
    assert page.get_by_text("This payment method pays for an active subscription.").is_visible()
    assert page.get_by_role("button", name="Remove").count() == 0
    assert axe_violations(page, axe_source) == []
    page.screenshot(path=artifacts / "portal-payment-method-remove-blocked-desktop-en.png", full_page=True)
    page.get_by_role("link", name="Add payment method").click()
    assert page.url == f"{live_server.url}/p/payment-methods/new"
    assert problems == []


def test_remove_a_payment_method(browser, live_server, customer, axe_source, artifacts):
    page, problems = enter_portal(browser, live_server, customer)
    page.goto(f"{live_server.url}/p/payment-methods/new")
    fill_card(page, "4242 4242 4242 4242")
    submit(page)
    page.wait_for_url(f"{live_server.url}/p/")
    page.locator(".pm-row", has_text="Mastercard •••• 4444").get_by_role("link", name="Remove").click()
    assert page.get_by_role("heading", level=1, name="Remove Mastercard •••• 4444?").is_visible()
    assert axe_violations(page, axe_source) == []
    page.screenshot(path=artifacts / "portal-payment-method-remove-desktop-en.png", full_page=True)
    page.get_by_role("button", name="Remove").click()
    assert page.get_by_text("Mastercard •••• 4444 has been removed.").is_visible()
    assert page.locator(".pm-row").count() == 1
    assert problems == []


@pytest.mark.parametrize("locale", ["en", "de"])
def test_add_form_screenshots_and_accessibility(browser, live_server, customer, axe_source, artifacts, locale):
    labels = {"en": "Card number", "de": "Kartennummer"}
    for variant, width in (("desktop", 1280), ("phone", 390)):
        page, problems = enter_portal(browser, live_server, customer, width=width, height=844, locale=locale)
        page.goto(f"{live_server.url}/p/payment-methods/new")
        assert page.locator("html").get_attribute("lang") == locale
        frame = vault(page)
        assert frame.get_by_label(labels[locale]).is_visible()
        assert frame.locator("html").get_attribute("lang") == locale
        fields_shown(page)
        # The frame is as tall as its content: nothing cut off, no inner scrollbar.
        heights = frame.locator("html").evaluate("e => [e.scrollHeight, window.innerHeight]")
        assert heights[0] <= heights[1]
        assert page.evaluate(NOTHING_OVERFLOWS)
        assert frame.locator("html").evaluate("() => document.documentElement.scrollWidth <= window.innerWidth")
        assert axe_violations(page, axe_source) == []
        screenshot(page, artifacts / f"portal-payment-method-add-{variant}-{locale}.png")
        page.locator('input[name="type"][value="sepa_debit"]').check()
        assert vault(page, "sepa_debit").locator("input[name=iban]").is_visible()
        assert not page.locator('iframe[data-vault="card"]').is_visible()
        screenshot(page, artifacts / f"portal-payment-method-add-sepa-{variant}-{locale}.png")
        assert problems == []
        page.close()


@pytest.mark.parametrize("number", ["4242 4242 4242 4242", "4000 0025 0000 3155"])
def test_a_deep_link_ending_on_another_origin_lands_there_and_cannot_submit_twice(
    browser, live_server, customer, two_origins, number, artifacts
):
    """The CSP's form-action 'self' would block the form's redirect to the merchant (the customer stayed on the form
    and a second press added the card again): the portal's continue page goes on by GET."""
    target = f"{two_origins[1]}/healthz?from=portal"
    flow = {
        "type": "payment_method_update",
        "after_completion": {"type": "redirect", "redirect": {"return_url": target}},
    }
    page, problems = enter_portal(browser, live_server, customer, flow_data=flow)
    page.wait_for_url(f"{live_server.url}/p/payment-methods/new")
    fill_card(page, number)
    press_add(page)
    if number.startswith("4000"):
        page.get_by_role("button", name="Complete authentication").click()
    page.wait_for_url(target)
    assert problems == []
    assert last4s(customer) == sorted(["4444", number[-4:]])
    # Back to the portal: the finished deep link shows no form to send again.
    page.go_back()
    page.wait_for_load_state()
    assert page.url.startswith(live_server.url)
    assert page.locator("form.pm-form").count() == 0
    assert last4s(customer) == sorted(["4444", number[-4:]])
    assert problems == []


def test_continue_page_screenshot(browser, live_server, customer, two_origins, artifacts, axe_source):
    """The continue page shows for a moment only; opened again without its refresh it can be looked at (and checked
    by axe)."""
    target = f"{two_origins[1]}/healthz"
    flow = {
        "type": "payment_method_update",
        "after_completion": {"type": "redirect", "redirect": {"return_url": target}},
    }
    page, problems = enter_portal(browser, live_server, customer, flow_data=flow, locale="de")
    page.wait_for_url(f"{live_server.url}/p/payment-methods/new")
    continued = []
    page.on("request", lambda request: "/p/continue?to=" in request.url and continued.append(request.url))
    fill_card(page, "4242 4242 4242 4242")
    press_add(page)
    page.wait_for_url(target)
    assert len(continued) == 1

    def without_refresh(route):
        response = route.fetch()
        route.fulfill(response=response, body=re.sub(r'<meta http-equiv="refresh"[^>]*>', "", response.text()))

    page.route(re.compile(r"/p/continue\?to="), without_refresh)
    page.goto(continued[0])
    site = two_origins[1].split("://", 1)[1]
    assert page.get_by_role("heading", level=1, name=f"Weiter zu {site}").is_visible()
    page.screenshot(path=str(artifacts / "portal-continue-de.png"), full_page=True)
    assert axe_violations(page, axe_source) == []
    page.get_by_role("link", name="Weiter").click()
    page.wait_for_url(target)
    assert problems == []
